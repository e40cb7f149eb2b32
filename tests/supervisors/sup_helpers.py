"""Test actors and helpers shared by the supervisor tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from supervisors import ChildSpec, ChildType, Directory, Link, Restart, SupervisedActor

WAIT = 2.0


class Worker(SupervisedActor):
    """Records its lifecycle in a shared list as 'start:<id>' and 'stop:<id>'."""

    def __init__(
        self,
        link: Link,
        events: list[str],
        *,
        start_delay: float = 0.0,
        stop_delay: float = 0.0,
        fail_on_start: Exception | None = None,
        fail_on_stop: Exception | None = None,
    ) -> None:
        super().__init__(link)
        self.events = events
        self.start_delay = start_delay
        self.stop_delay = stop_delay
        self.fail_on_start = fail_on_start
        self.fail_on_stop = fail_on_stop
        self.started = False

    def on_start(self) -> None:
        time.sleep(self.start_delay)
        self.events.append(f"start:{self.link.child_id}")
        if self.fail_on_start is not None:
            raise self.fail_on_start
        self.started = True

    def on_stop(self) -> None:
        self.events.append(f"stop:{self.link.child_id}")
        time.sleep(self.stop_delay)
        if self.fail_on_stop is not None:
            raise self.fail_on_stop

    def is_started(self) -> bool:
        return self.started

    def whoami(self) -> str:
        return self.actor_urn

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def crash_while_busy(self, exc: Exception, busy: threading.Event, seconds: float) -> None:
        """Queue a crash, then stay busy so that later messages queue up behind it."""
        self.crash(exc)
        busy.set()
        time.sleep(seconds)

    def fail(self) -> None:
        raise ValueError("asked to fail")


def worker_spec(
    child_id: str,
    events: list[str] | None = None,
    *,
    restart: Restart = Restart.PERMANENT,
    shutdown: float | None = 5.0,
    **options: Any,
) -> ChildSpec:
    """A ChildSpec that starts a Worker with the given options."""
    log = events if events is not None else []

    def start(link: Link) -> pykka.ActorRef[Any]:
        return Worker.start(link, log, **options)

    return ChildSpec(child_id, start, restart=restart, shutdown=shutdown, type=ChildType.WORKER)


def ref_of(directory: Directory, name: str) -> pykka.ActorRef[Any]:
    ref = directory.lookup(name)
    assert ref is not None, f"{name} is not registered"
    return ref


def crash(directory: Directory, name: str) -> str:
    """Crash the named child through the tell path; return the URN that crashed."""
    ref = ref_of(directory, name)
    ref.proxy().crash(ValueError(f"drill {name}")).get(timeout=WAIT)
    return ref.actor_urn


def restarted(directory: Directory, name: str, old_urn: str) -> pykka.ActorRef[Any]:
    """Wait (bounded) for the named child's next incarnation."""
    ref = directory.wait_for_successor(name, old_urn, WAIT)
    assert ref is not None, f"{name} was not restarted"
    return ref


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()

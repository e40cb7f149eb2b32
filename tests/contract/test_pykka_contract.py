"""Pins the Pykka 4.5 behaviours the supervision layer relies on (SUPERVISION.md 2.3).

A Pykka upgrade that changes any of them must fail here first, before supervision breaks
in subtler ways. ``supervisors/link.py`` also overrides private methods, pinned at the end.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from importlib.metadata import version
from typing import Any

import pykka
import pytest

WAIT = 2.0


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Any:
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=5.0)


class Record:
    """What an actor's hooks did, readable from the test thread."""

    def __init__(self) -> None:
        self.failed = threading.Event()
        self.stopped = threading.Event()


class Hooks(pykka.ThreadingActor):
    """Answers plain messages and records which lifecycle hooks ran."""

    def __init__(self, record: Record | None = None, fail_on_start: bool = False) -> None:
        super().__init__()
        self.record = record or Record()
        self.fail_on_start = fail_on_start

    def on_start(self) -> None:
        if self.fail_on_start:
            raise RuntimeError("on_start failed")

    def on_stop(self) -> None:
        self.record.stopped.set()

    def on_failure(self, *_exc_info: object) -> None:
        self.record.failed.set()

    def on_receive(self, message: Any) -> Any:
        if message == "fail":
            raise ValueError("handler failed")
        if isinstance(message, float):
            time.sleep(message)
            return None
        return "pong"

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def ping(self) -> str:
        return "pong"


def test_an_on_start_failure_kills_the_actor_without_on_failure_or_on_stop() -> None:
    record = Record()
    ref = Hooks.start(record, fail_on_start=True)

    assert ref.actor_stopped.wait(WAIT)
    time.sleep(0.05)
    assert not record.failed.is_set()
    assert not record.stopped.is_set()


def test_an_exception_in_an_asked_method_goes_to_the_caller_and_the_actor_lives_on() -> None:
    record = Record()
    ref = Hooks.start(record)

    with pytest.raises(ValueError, match="handler failed"):
        ref.ask("fail", timeout=WAIT)

    assert ref.ask("ping", timeout=WAIT) == "pong"
    assert not record.failed.is_set()


def test_a_told_failure_runs_on_failure_not_on_stop_and_fails_queued_asks() -> None:
    record = Record()
    ref = Hooks.start(record)
    ref.tell(0.1)
    ref.tell("fail")
    queued = ref.ask("ping", block=False)

    with pytest.raises(pykka.ActorDeadError):
        queued.get(timeout=WAIT)
    assert record.failed.is_set()
    assert not record.stopped.is_set()
    assert pykka.ActorRegistry.get_by_urn(ref.actor_urn) is None


def test_stop_is_queued_behind_a_running_job_and_times_out() -> None:
    ref = Hooks.start()
    ref.proxy().sleep(0.5)

    started = time.monotonic()
    with pytest.raises(pykka.Timeout):
        ref.stop(block=True, timeout=0.1)
    assert ref.is_alive()
    assert ref.actor_stopped.wait(WAIT)
    assert time.monotonic() - started >= 0.4


def test_a_restart_is_a_new_actor_and_old_proxies_raise_actor_dead_error() -> None:
    first = Hooks.start()
    old_proxy = first.proxy()
    first.stop(block=True, timeout=WAIT)

    second = Hooks.start()

    assert second.actor_urn != first.actor_urn
    with pytest.raises(pykka.ActorDeadError):
        old_proxy.ping().get(timeout=WAIT)


def test_awaiting_a_pykka_future_blocks_the_event_loop() -> None:
    ref = Hooks.start()

    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await ref.proxy().sleep(0.3)
        task.cancel()
        return ticks

    assert asyncio.run(scenario()) <= 2


def test_a_system_exit_in_one_actor_stops_every_actor() -> None:
    script = textwrap.dedent(
        """
        import pykka

        class Quitter(pykka.ThreadingActor):
            def quit(self):
                raise SystemExit(3)

        class Bystander(pykka.ThreadingActor):
            pass

        bystander = Bystander.start()
        quitter = Quitter.start()
        quitter.proxy().quit()
        print("stopped" if bystander.actor_stopped.wait(5) else "alive")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=False
    )

    assert result.stdout.strip() == "stopped"


def test_start_returns_before_a_slow_on_start_has_run() -> None:
    release = threading.Event()
    finished = threading.Event()

    class Slow(Hooks):
        def on_start(self) -> None:
            release.wait(WAIT)
            finished.set()

    ref = Slow.start()

    assert not finished.is_set()
    release.set()
    assert ref.ask("ping", timeout=WAIT) == "pong"
    assert finished.is_set()


def test_the_private_surface_overridden_by_supervised_actor_still_exists() -> None:
    assert version("pykka").startswith("4.5.")
    for name in ("_actor_loop", "_handle_failure", "_handle_receive", "_stop"):
        assert callable(getattr(pykka.Actor, name))

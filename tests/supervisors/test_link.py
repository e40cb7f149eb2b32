"""SupervisedActor reports every exit path to its parent exactly once (SUPERVISION 2.7)."""

from __future__ import annotations

import queue
import time
from typing import Any

import pykka
import pytest
from sup_helpers import WAIT, Worker

from supervisors import ChildExited, Error, Link, Normal, Ready, Shutdown


class Parent(pykka.ThreadingActor):
    """Stands in for a supervisor: forwards every message to a queue."""

    def __init__(self, received: queue.Queue[Any]) -> None:
        super().__init__()
        self.received = received

    def on_receive(self, message: Any) -> None:
        self.received.put(message)


@pytest.fixture
def received() -> queue.Queue[Any]:
    return queue.Queue()


@pytest.fixture
def link(received: queue.Queue[Any]) -> Link:
    return Link("child", Parent.start(received))


def _exit_notice(received: queue.Queue[Any]) -> ChildExited:
    message = received.get(timeout=WAIT)
    assert isinstance(message, ChildExited)
    return message


def test_a_stop_from_anyone_but_the_parent_is_reported_as_normal(
    link: Link, received: queue.Queue[Any]
) -> None:
    ref = Worker.start(link, [])
    ref.stop(block=True, timeout=WAIT)

    assert _exit_notice(received) == ChildExited("child", ref.actor_urn, Normal())


def test_a_stop_requested_by_the_parent_is_reported_as_shutdown(
    link: Link, received: queue.Queue[Any]
) -> None:
    ref = Worker.start(link, [])
    link.request_shutdown()
    ref.stop(block=True, timeout=WAIT)

    assert _exit_notice(received).reason == Shutdown()


def test_a_crash_in_on_start_is_reported_as_an_error(
    link: Link, received: queue.Queue[Any]
) -> None:
    boom = RuntimeError("on_start")
    Worker.start(link, [], fail_on_start=boom)

    assert _exit_notice(received).reason == Error(boom)


def test_a_crash_in_a_told_message_is_reported_as_an_error(
    link: Link, received: queue.Queue[Any]
) -> None:
    ref = Worker.start(link, [])
    boom = ValueError("tell")
    ref.proxy().crash(boom)

    assert _exit_notice(received).reason == Error(boom)


def test_a_crash_in_on_stop_is_reported_as_an_error(link: Link, received: queue.Queue[Any]) -> None:
    boom = OSError("on_stop")
    ref = Worker.start(link, [], fail_on_stop=boom)
    ref.stop(block=True, timeout=WAIT)

    assert _exit_notice(received).reason == Error(boom)


def test_an_exception_in_an_asked_method_is_not_an_exit(
    link: Link, received: queue.Queue[Any]
) -> None:
    ref = Worker.start(link, [])

    with pytest.raises(ValueError, match="asked to fail"):
        ref.proxy().fail().get(timeout=WAIT)

    assert ref.is_alive()
    assert received.empty()


def test_the_exit_is_reported_exactly_once(link: Link, received: queue.Queue[Any]) -> None:
    ref = Worker.start(link, [])
    boom = ValueError("first")
    ref.proxy().crash(boom)
    _exit_notice(received)
    link.notify(Normal())
    time.sleep(0.05)

    assert received.empty()
    assert link.reason == Error(boom)


def test_ready_is_answered_only_after_on_start_has_returned(link: Link) -> None:
    ref = Worker.start(link, [], start_delay=0.2)

    assert ref.ask(Ready(), timeout=WAIT) is True
    assert ref.proxy().is_started().get(timeout=WAIT)


def test_a_link_belongs_to_one_incarnation_only(link: Link) -> None:
    Worker.start(link, [])

    with pytest.raises(RuntimeError, match="already belongs"):
        Worker.start(link, [])


def test_exit_stops_at_once_with_the_given_reason(link: Link, received: queue.Queue[Any]) -> None:
    class Quitter(Worker):
        def quit(self) -> None:
            self.exit(Shutdown("done"))

    ref = Quitter.start(link, [])
    ref.proxy().quit()

    assert _exit_notice(received).reason == Shutdown("done")

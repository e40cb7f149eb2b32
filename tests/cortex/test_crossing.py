"""Asks from the event loop: replies, errors, timeouts and restarts, with no thread waiting."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pykka
import pytest

from cortex.crossing import CROSSINGS, Bridge
from supervisors import Directory, Handle, NotRunning


class Echo(pykka.ThreadingActor):
    """Answers its message, raises a ValueError for "boom", and holds a "slow" ask."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self._release = release

    def on_receive(self, message: object) -> object:
        if message == "boom":
            raise ValueError("boom")
        if message == "slow":
            self._release.wait(5.0)
        return ("echo", message, threading.current_thread().name)


@pytest.fixture
def directory() -> Iterator[Directory]:
    names = Directory()
    yield names
    pykka.ActorRegistry.stop_all()


def ask(bridge: Bridge, handle: Handle, message: object, timeout: float = 2.0) -> object:
    async def run() -> object:
        return await bridge.ask(handle, message, timeout=timeout)

    return asyncio.run(run())


def test_the_reply_arrives_without_a_pool_thread(directory: Directory) -> None:
    directory.register("echo", Echo.start(threading.Event()))
    bridge = Bridge(max_threads=1, name="pool")
    before = CROSSINGS["ask"]
    try:
        reply = ask(bridge, Handle(directory, "echo"), "hi")
    finally:
        bridge.close()
    assert isinstance(reply, tuple)
    assert reply[:2] == ("echo", "hi")
    assert CROSSINGS["ask"] == before + 1
    assert not any(t.name.startswith("pool") for t in threading.enumerate())


def test_what_the_actor_raised_is_raised_to_the_asker(directory: Directory) -> None:
    directory.register("echo", Echo.start(threading.Event()))
    bridge = Bridge()
    try:
        with pytest.raises(ValueError, match="boom"):
            ask(bridge, Handle(directory, "echo"), "boom")
    finally:
        bridge.close()


def test_no_reply_in_time_is_a_pykka_timeout_and_the_late_reply_is_dropped(
    directory: Directory,
) -> None:
    release = threading.Event()
    directory.register("echo", Echo.start(release))
    bridge = Bridge()
    try:
        with pytest.raises(pykka.Timeout):
            ask(bridge, Handle(directory, "echo"), "slow", timeout=0.05)
        release.set()
        assert ask(bridge, Handle(directory, "echo"), "after") is not None
    finally:
        bridge.close()


def test_an_actor_that_stopped_before_handling_the_ask_is_asked_again_as_its_successor(
    directory: Directory,
) -> None:
    first = Echo.start(threading.Event())
    directory.register("echo", first)
    first.stop()
    successor = Echo.start(threading.Event())

    def restart() -> None:
        directory.register("echo", successor)

    timer = threading.Timer(0.05, restart)
    timer.start()
    bridge = Bridge()
    try:
        reply = ask(bridge, Handle(directory, "echo", restart_wait=2.0), "again")
    finally:
        timer.join()
        bridge.close()
    assert isinstance(reply, tuple)
    assert reply[:2] == ("echo", "again")


def test_an_actor_that_is_not_running_is_the_handles_error(directory: Directory) -> None:
    bridge = Bridge()
    try:
        with pytest.raises(NotRunning):
            ask(bridge, Handle(directory, "missing", restart_wait=0.0), "hi")
    finally:
        bridge.close()

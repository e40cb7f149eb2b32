"""The ticker an actor uses to remind itself: periodic, and movable when a change is due."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pykka
import pytest

from actors.ticker import Ticker

WAIT = 5.0


class Recorder(pykka.ThreadingActor):
    """Puts the time of every tick on a queue."""

    def __init__(self, ticks: queue.Queue[float]) -> None:
        super().__init__()
        self.ticks = ticks

    def on_receive(self, message: object) -> None:
        self.ticks.put(time.monotonic())


@pytest.fixture
def ticks() -> queue.Queue[float]:
    return queue.Queue()


@pytest.fixture
def ref(ticks: queue.Queue[float]) -> Iterator[pykka.ActorRef[Recorder]]:
    actor = Recorder.start(ticks)
    yield actor
    actor.stop()


def test_ticks_come_every_interval(
    ref: pykka.ActorRef[Recorder], ticks: queue.Queue[float]
) -> None:
    ticker = Ticker(ref, 0.05, object, first_delay=0.0).start()
    try:
        stamps = [ticks.get(timeout=WAIT) for _ in range(3)]
    finally:
        ticker.stop()
    assert stamps == sorted(stamps)


def test_tick_in_brings_a_distant_tick_forward(
    ref: pykka.ActorRef[Recorder], ticks: queue.Queue[float]
) -> None:
    started = time.monotonic()
    ticker = Ticker(ref, 3600.0, object).start()
    try:
        ticker.tick_in(0.05)
        ticked = ticks.get(timeout=WAIT)
    finally:
        ticker.stop()
    assert ticked - started < 3600.0


def test_a_stopped_ticker_sends_nothing_more(
    ref: pykka.ActorRef[Recorder], ticks: queue.Queue[float]
) -> None:
    ticker = Ticker(ref, 0.01, object).start()
    ticker.stop()
    ticker.stop()
    ticker.tick_in(0.0)
    with pytest.raises(queue.Empty):
        ticks.get(timeout=0.2)

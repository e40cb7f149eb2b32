"""Coalescing on one event loop: a flight received once and followed by many requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import pytest

from actors.outcomes import ErrorKind, UpstreamFailure
from cortex.cache.flights import Flight, Flights
from cortex.chat import (
    Continued,
    Finished,
    LiveAnswer,
    Malformed,
    StreamEvent,
    StreamFailed,
    TextDelta,
    Usage,
    WholeAnswer,
)
from cortex.errors import AllUpstreamsFailed, DeadlineExceeded

WAIT = 5.0
GOOD = (TextDelta("Hel"), TextDelta("lo"), Finished("stop"), Usage(3, 2))


@dataclass
class FakeUpstream:
    """Opens answers made of ``events``, released one at a time through ``gate``."""

    events: tuple[StreamEvent, ...] = GOOD
    error: Exception | None = None
    opened: int = 0
    closed: bool = False
    gate: asyncio.Queue[None] | None = None
    kept: list[tuple[str, WholeAnswer]] = field(default_factory=list)

    async def open(self) -> FakeAnswer:
        self.opened += 1
        if self.error is not None:
            raise self.error
        return FakeAnswer(self)

    async def keep(self, key: str, answer: WholeAnswer) -> None:
        self.kept.append((key, answer))

    def release(self, count: int = 1) -> None:
        assert self.gate is not None
        for _ in range(count):
            self.gate.put_nowait(None)


def FakeAnswer(upstream: FakeUpstream) -> LiveAnswer:
    async def events() -> AsyncGenerator[StreamEvent, None]:
        try:
            for event in upstream.events:
                if upstream.gate is not None:
                    await upstream.gate.get()
                yield event
        finally:
            upstream.closed = True

    return LiveAnswer("primary", "gpt-4o-mini", events())


async def collect(flight: Flight) -> list[StreamEvent]:
    flight.attach()
    answer = await flight.join(WAIT, {})
    return [event async for event in answer.events]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, WAIT))


def test_every_follower_gets_the_whole_answer_from_one_upstream_request():
    async def scenario():
        upstream = FakeUpstream()
        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", upstream.open, share=True, keep=upstream.keep)
        joined = flights.joinable("k")
        assert joined is flight
        first, second = await asyncio.gather(collect(flight), collect(joined))
        return upstream, first, second

    upstream, first, second = run(scenario())
    assert first == second == list(GOOD)
    assert upstream.opened == 1


def test_a_late_follower_gets_the_events_it_missed_then_the_rest():
    async def scenario():
        upstream = FakeUpstream(gate=asyncio.Queue())
        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", upstream.open, share=True, keep=None)
        early = asyncio.create_task(collect(flight))
        upstream.release(2)
        while len(flight._events) < 2:
            await asyncio.sleep(0)
        late = asyncio.create_task(collect(flight))
        upstream.release(2)
        return await early, await late

    early, late = run(scenario())
    assert early == late == list(GOOD)


def test_a_successful_flight_is_kept_and_stays_joinable_until_kept():
    async def scenario():
        upstream = FakeUpstream()
        release = asyncio.Event()

        async def slow_keep(key: str, answer: WholeAnswer) -> None:
            await release.wait()
            await upstream.keep(key, answer)

        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", upstream.open, share=True, keep=slow_keep)
        await collect(flight)
        assert flight.succeeded
        assert flights.joinable("k") is flight
        release.set()
        assert flight.task is not None
        await flight.task
        return upstream, flights

    upstream, flights = run(scenario())
    assert flights.joinable("k") is None
    assert upstream.kept == [
        ("k", WholeAnswer("primary", "gpt-4o-mini", ("Hel", "lo"), "stop", Usage(3, 2)))
    ]


@pytest.mark.parametrize(
    "events",
    [
        (TextDelta("Hel"), StreamFailed(UpstreamFailure(ErrorKind.CONNECT_ERROR, "dropped"))),
        (TextDelta("Hel"), TextDelta("lo"), Usage(3, 2)),
        (TextDelta("Hel"), Malformed("bad chunk"), TextDelta("lo"), Finished("stop")),
        (TextDelta("Hel"), Continued("backup", "m2"), TextDelta("lo"), Finished("stop")),
    ],
    ids=["failed", "no_finish_reason", "a_chunk_skipped", "continued_by_another_worker"],
)
def test_a_failed_or_unfinished_answer_is_not_kept(events):
    async def scenario():
        upstream = FakeUpstream(events=events)
        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", upstream.open, share=True, keep=upstream.keep)
        got = await collect(flight)
        assert flight.task is not None
        await flight.task
        return upstream, flight, flights, got

    upstream, flight, flights, got = run(scenario())
    assert got == list(events)
    assert not flight.succeeded
    assert upstream.kept == []
    assert flights.joinable("k") is None


def test_an_error_before_the_first_token_reaches_every_follower():
    async def scenario():
        upstream = FakeUpstream(error=AllUpstreamsFailed([]))
        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", upstream.open, share=True, keep=upstream.keep)
        results = await asyncio.gather(collect(flight), collect(flight), return_exceptions=True)
        return upstream, flights, results

    upstream, flights, results = run(scenario())
    assert [type(r) for r in results] == [AllUpstreamsFailed, AllUpstreamsFailed]
    assert upstream.opened == 1
    assert flights.joinable("k") is None


def test_the_last_follower_leaving_cancels_the_upstream_request():
    async def scenario():
        upstream = FakeUpstream(gate=asyncio.Queue())
        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", upstream.open, share=True, keep=upstream.keep)
        flight.attach()
        flight.attach()
        await flight.join(WAIT, {})
        one, two = flight.follow(), flight.follow()
        upstream.release()
        assert await anext(one) == GOOD[0]
        assert await anext(two) == GOOD[0]
        await one.aclose()
        assert flight.task is not None
        assert not flight.task.done()
        await two.aclose()
        with pytest.raises(asyncio.CancelledError):
            await flight.task
        return upstream, flights

    upstream, flights = run(scenario())
    assert upstream.closed
    assert upstream.kept == []
    assert flights.joinable("k") is None


def test_a_follower_gives_up_on_a_stalled_answer():
    async def scenario():
        upstream = FakeUpstream(gate=asyncio.Queue())
        flights = Flights(idle_timeout=0.05)
        flight = flights.launch("k", upstream.open, share=False, keep=None)
        upstream.release()
        return await collect(flight)

    events = run(scenario())
    assert events[0] == GOOD[0]
    assert isinstance(events[-1], StreamFailed)
    assert events[-1].failure.kind is ErrorKind.TIMEOUT


def test_waiting_for_the_first_token_is_bounded():
    async def scenario():
        upstream = FakeUpstream(gate=asyncio.Queue())

        async def never() -> LiveAnswer:
            await asyncio.Event().wait()
            return FakeAnswer(upstream)

        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", never, share=False, keep=None)
        flight.attach()
        with pytest.raises(DeadlineExceeded):
            await flight.join(0.05, {})
        flight.detach()
        assert flight.task is not None
        with pytest.raises(asyncio.CancelledError):
            await flight.task

    run(scenario())


def test_an_unshared_flight_cannot_be_joined():
    async def scenario():
        upstream = FakeUpstream()
        flights = Flights(idle_timeout=WAIT)
        flight = flights.launch("k", upstream.open, share=False, keep=None)
        assert flights.joinable("k") is None
        await collect(flight)

    run(scenario())

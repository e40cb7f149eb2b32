"""The cache facade on a real event loop, with a real cache actor and an injected clock.

The dispatcher is a fake that counts upstream calls; the store, the cache actor, the
bridge and the flights are the ones the daemon runs. The daemon's own tests cover the
same paths over HTTP; these pin what needs a clock or a stopped actor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator, Mapping
from dataclasses import dataclass

import pytest

from actors.cache import CacheActor
from actors.response_store import CacheLimits, ResponseStore
from cortex.cache.answers import LocalAnswers
from cortex.cache.response_cache import ResponseCache
from cortex.cache.terms import HEADER, CacheSettings, CacheStatus, CacheTerms
from cortex.chat import (
    ChatRequest,
    Finished,
    LiveAnswer,
    Message,
    StreamEvent,
    TextDelta,
    Usage,
    WholeAnswer,
    gather,
)
from cortex.crossing import Bridge
from cortex.http.schemas import ChatCall
from supervisors import ChildSpec, Directory, Handle, RootLink, SupFlags, start_supervisor

WAIT = 5.0
TTL = 30.0
CALL = ChatCall(
    request=ChatRequest((Message("user", "Hi"),), temperature=0.0),
    stream=False,
    include_usage=False,
    strategy=None,
)
TERMS = CacheTerms("key-of-hi")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def good_events() -> AsyncGenerator[StreamEvent, None]:
    for event in (TextDelta("Hel"), TextDelta("lo"), Finished("stop"), Usage(3, 2)):
        yield event


@dataclass
class FakeDispatcher:
    """Answers every request at once and counts how often it went upstream."""

    calls: int = 0

    async def open(self, request, *, strategy=None, timeout=None) -> LiveAnswer:
        self.calls += 1
        return LiveAnswer("primary", "gpt-4o-mini", good_events())

    async def complete(self, request, *, strategy=None, timeout=None) -> WholeAnswer:
        self.calls += 1
        return WholeAnswer("primary", "gpt-4o-mini", ("Hello",), "stop", Usage(3, 2))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> ResponseStore:
    return ResponseStore(CacheLimits(ttl=TTL), clock=clock)


@pytest.fixture
def supervised(store: ResponseStore[WholeAnswer]) -> Iterator[tuple[Directory, RootLink, object]]:
    directory, root = Directory(), RootLink("root")
    spec = ChildSpec("cache", lambda link: CacheActor.start(link, store))
    ref = start_supervisor("root", SupFlags(intensity=3), [spec], root, directory)
    yield directory, root, ref
    root.stop(ref, timeout=WAIT)


@pytest.fixture
def upstream() -> FakeDispatcher:
    return FakeDispatcher()


@pytest.fixture
def bridge() -> Iterator[Bridge]:
    bridge = Bridge(max_threads=2)
    yield bridge
    bridge.close()


def make_cache(supervised, store, upstream, bridge, settings: CacheSettings) -> ResponseCache:
    directory, _, _ = supervised
    return ResponseCache(
        dispatcher=upstream,
        answers=LocalAnswers(store, Handle(directory, "cache", restart_wait=0.0), bridge),
        settings=settings,
        request_timeout=WAIT,
    )


@pytest.fixture
def cache(supervised, store, upstream, bridge) -> ResponseCache:
    return make_cache(supervised, store, upstream, bridge, CacheSettings(ttl=TTL))


class GatedBridge(Bridge):
    """A bridge whose asks wait for ``gate``: the cache actor stores an answer late."""

    def __init__(self) -> None:
        super().__init__(max_threads=2)
        self.gate: asyncio.Event | None = None

    async def ask(self, handle, message, *, timeout):
        assert self.gate is not None
        await self.gate.wait()
        return await super().ask(handle, message, timeout=timeout)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, WAIT))


async def settled(cache: ResponseCache) -> None:
    """Wait until the answer's flight is over: the cache actor has stored it (by an ask)."""
    while cache.stats_json()["in_flight"]:
        await asyncio.sleep(0.001)


def status_of(headers: Mapping[str, str]) -> CacheStatus | None:
    """The cache status a response reports in its header; None when the cache is off."""
    value = headers.get(HEADER)
    return None if value is None else CacheStatus(value)


async def whole(cache: ResponseCache) -> tuple[CacheStatus | None, str]:
    done, headers = await cache.complete(CALL, TERMS)
    return status_of(headers), done.text


async def streamed(cache: ResponseCache) -> tuple[CacheStatus | None, str]:
    served = await cache.open(CALL, TERMS)
    gathered = await gather(served)
    assert not isinstance(gathered, Exception)
    return status_of(served.headers), gathered.text


@pytest.mark.parametrize("serve", [whole, streamed], ids=["non_streaming", "streaming"])
def test_an_answer_is_served_from_the_cache_until_its_ttl_passes(
    cache, upstream, store, clock, serve
):
    async def scenario() -> list[tuple[CacheStatus | None, str]]:
        first = await serve(cache)
        await settled(cache)
        clock.now += TTL - 0.001
        second = await serve(cache)
        clock.now += 0.001
        third = await serve(cache)
        return [first, second, third]

    statuses = [status for status, _ in run(scenario())]

    assert statuses == [CacheStatus.MISS, CacheStatus.HIT, CacheStatus.MISS]
    assert upstream.calls == 2


def test_an_answer_fetched_again_after_expiry_is_cached_afresh(cache, upstream, store, clock):
    async def scenario() -> CacheStatus | None:
        await whole(cache)
        await settled(cache)
        clock.now += TTL + 1.0
        await whole(cache)
        await settled(cache)
        clock.now += TTL / 2
        status, _ = await whole(cache)
        return status

    assert run(scenario()) is CacheStatus.HIT
    assert upstream.calls == 2


@pytest.fixture
def stored_then_down(cache, supervised) -> ResponseCache:
    """The cache once it stored one answer and its actor stopped."""
    _, root, ref = supervised

    async def first() -> None:
        await whole(cache)
        await settled(cache)

    run(first())
    root.stop(ref, timeout=WAIT)
    return cache


def test_a_hit_is_served_from_the_store_while_the_cache_actor_is_down(
    stored_then_down, upstream, store
):
    status, text = run(whole(stored_then_down))

    assert (status, text) == (CacheStatus.HIT, "Hello")
    assert upstream.calls == 1
    assert store.stats().entries == 1


def test_every_lookup_is_counted_by_the_time_its_answer_is_served(stored_then_down, store):
    """Counted in the store itself: no message to the cache actor lags behind the response."""
    status, _ = run(whole(stored_then_down))

    stats = store.stats()
    assert (status, stats.misses, stats.hits) == (CacheStatus.HIT, 1, 1)


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalescing", "not_coalescing"])
def test_a_request_right_after_an_answer_is_a_hit_even_before_the_answer_is_stored(
    supervised, store, upstream, coalesce
):
    bridge = GatedBridge()
    cache = make_cache(supervised, store, upstream, bridge, CacheSettings(coalesce=coalesce))

    async def scenario() -> list[object]:
        bridge.gate = asyncio.Event()
        first, _ = await whole(cache)
        second, _ = await whole(cache)
        stored_yet = store.stats().entries
        bridge.gate.set()
        await settled(cache)
        third, _ = await whole(cache)
        return [first, second, third, stored_yet]

    try:
        assert run(scenario()) == [CacheStatus.MISS, CacheStatus.HIT, CacheStatus.HIT, 0]
    finally:
        bridge.close()
    assert upstream.calls == 1
    assert store.stats().entries == 1

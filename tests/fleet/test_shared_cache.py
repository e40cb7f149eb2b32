"""The fleet's response cache against a real redis-server: the bounds script and counters.

Two :class:`SharedAnswers` on one prefix stand for two instances. The cache actor is not
started: with Redis answering, nothing reaches this process's stand-in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import redis

from actors.response_store import CacheLimits, ResponseStore, answer_size
from cortex.cache.answers import LocalAnswers
from cortex.cache.shared import COUNTERS, INDEX, SIZES, SharedAnswers
from cortex.chat import CachedAnswer, WholeAnswer
from cortex.crossing import Bridge
from cortex.fleet.store import SharedStore
from supervisors import Directory, Handle

BUDGET = 1.0
WAIT = 10.0


def answer(text: str) -> WholeAnswer:
    return WholeAnswer("primary", "gpt-4o-mini", (text,), "stop")


@asynccontextmanager
async def instance(url: str, prefix: str, limits: CacheLimits) -> AsyncIterator[SharedAnswers]:
    """One instance's shared cache, connected, closed afterwards."""
    store = SharedStore(url, prefix=prefix, budget=BUDGET, shown_url="redis://test")
    bridge = Bridge(max_threads=1)
    local = LocalAnswers(
        ResponseStore[CachedAnswer](limits), Handle(Directory(), "cache", 0.0), bridge
    )
    answers = SharedAnswers(store, local, limits)
    await store.start()
    try:
        yield answers
    finally:
        await answers.close()
        await store.close()
        bridge.close()


@asynccontextmanager
async def two_instances(
    url: str, prefix: str, limits: CacheLimits
) -> AsyncIterator[tuple[SharedAnswers, SharedAnswers]]:
    """Two instances of one fleet."""
    async with instance(url, prefix, limits) as first, instance(url, prefix, limits) as second:
        yield first, second


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + WAIT
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def held(url: str, prefix: str) -> tuple[int, int, int]:
    """Entries in the index, the sum of their sizes, and the bytes counter, read directly."""
    client = redis.Redis.from_url(url)
    try:
        sizes = [int(v) for v in client.hvals(f"{prefix}:{SIZES}")]
        counted = int(client.hget(f"{prefix}:{COUNTERS}", "bytes") or 0)
        return int(client.zcard(f"{prefix}:{INDEX}")), sum(sizes), counted
    finally:
        client.close()


def test_an_answer_stored_by_one_instance_is_read_by_another(redis_server, redis_prefix):
    limits = CacheLimits()

    async def test() -> None:
        async with two_instances(redis_server.url, redis_prefix, limits) as (first, second):
            await first.keep("k", answer("Paris"))
            assert await second.get("k") == answer("Paris")
            assert await second.get("other") is None

    asyncio.run(test())


def test_storing_past_max_entries_evicts_the_oldest_stored_first(redis_server, redis_prefix):
    limits = CacheLimits(max_entries=3)

    async def test() -> None:
        async with instance(redis_server.url, redis_prefix, limits) as cache:
            for n in range(5):
                await cache.keep(f"k{n}", answer(f"answer {n}"))
            present = [await cache.get(f"k{n}") is not None for n in range(5)]
            await cache.refresh()
            assert present == [False, False, True, True, True]
            assert cache.stats().entries == 3
            assert cache.stats().evictions == 2

    asyncio.run(test())


def test_storing_past_max_bytes_evicts_until_the_bytes_fit(redis_server, redis_prefix):
    one = answer_size("k0", answer("x" * 100))
    limits = CacheLimits(max_bytes=2 * one + 10)

    async def test() -> None:
        async with instance(redis_server.url, redis_prefix, limits) as cache:
            for n in range(4):
                await cache.keep(f"k{n}", answer("x" * 100))
            await cache.refresh()
            assert cache.stats().entries == 2
            assert cache.stats().bytes == 2 * one
            assert await cache.get("k3") is not None
            assert await cache.get("k1") is None

    asyncio.run(test())
    assert held(redis_server.url, redis_prefix) == (2, 2 * one, 2 * one)


def test_an_answer_larger_than_max_bytes_alone_is_not_stored(redis_server, redis_prefix):
    limits = CacheLimits(max_bytes=50)

    async def test() -> None:
        async with instance(redis_server.url, redis_prefix, limits) as cache:
            await cache.keep("small", answer("ok"))
            await cache.keep("large", answer("x" * 100))
            assert await cache.get("large") is None
            assert await cache.get("small") is not None

    asyncio.run(test())


def test_storing_a_key_again_replaces_it_without_counting_its_bytes_twice(
    redis_server, redis_prefix
):
    limits = CacheLimits()

    async def test() -> None:
        async with instance(redis_server.url, redis_prefix, limits) as cache:
            await cache.keep("k", answer("first"))
            await cache.keep("k", answer("second, longer"))
            assert await cache.get("k") == answer("second, longer")

    asyncio.run(test())
    size = answer_size("k", answer("second, longer"))
    assert held(redis_server.url, redis_prefix) == (1, size, size)


def test_an_answer_expires_after_the_ttl_and_is_counted_as_expired(redis_server, redis_prefix):
    limits = CacheLimits(ttl=0.3)

    async def test() -> None:
        async with instance(redis_server.url, redis_prefix, limits) as cache:
            await cache.keep("k", answer("Paris"))
            assert await cache.get("k") is not None

            async def expired() -> bool:
                await cache.refresh()
                return cache.stats().expirations == 1

            await until(expired)
            assert await cache.get("k") is None
            assert (cache.stats().entries, cache.stats().bytes) == (0, 0)

    asyncio.run(test())


def test_bounds_hold_while_two_instances_store_at_once(redis_server, redis_prefix):
    one = answer_size("k-a-00", answer("y" * 50))
    limits = CacheLimits(max_entries=10, max_bytes=7 * one)

    async def test() -> None:
        async with two_instances(redis_server.url, redis_prefix, limits) as (first, second):
            await asyncio.gather(
                *(first.keep(f"k-a-{n:02}", answer("y" * 50)) for n in range(40)),
                *(second.keep(f"k-b-{n:02}", answer("y" * 50)) for n in range(40)),
            )
            await first.refresh()
            assert first.stats().entries == 7
            assert first.stats().evictions == 73

    asyncio.run(test())
    assert held(redis_server.url, redis_prefix) == (7, 7 * one, 7 * one)


def test_lookups_counted_by_each_instance_add_up_for_the_fleet(redis_server, redis_prefix):
    limits = CacheLimits()

    async def test() -> None:
        async with two_instances(redis_server.url, redis_prefix, limits) as (first, second):
            first.record_lookup("k", hit=True)
            second.record_lookup("k", hit=True)
            second.record_lookup("k", hit=False)
            second.record_coalesced()

            async def counted() -> bool:
                await first.refresh()
                stats = first.stats()
                return (stats.hits, stats.misses, stats.coalesced) == (2, 1, 1)

            await until(counted)

    asyncio.run(test())


def test_a_clear_deletes_every_answer_and_keeps_the_counters(redis_server, redis_prefix):
    limits = CacheLimits()

    async def test() -> None:
        async with two_instances(redis_server.url, redis_prefix, limits) as (first, second):
            for n in range(3):
                await first.keep(f"k{n}", answer("Paris"))
            first.record_lookup("k0", hit=False)
            await until(lambda: _misses(second, 1))

            assert await second.clear() == 3

            assert await first.get("k0") is None
            await first.refresh()
            assert (first.stats().entries, first.stats().bytes) == (0, 0)
            assert first.stats().misses == 1

    asyncio.run(test())


async def _misses(cache: SharedAnswers, count: int) -> bool:
    await cache.refresh()
    return cache.stats().misses == count

"""The shared store against a real redis-server: budget, availability, writes, pub/sub."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from structlog.testing import capture_logs

from cortex.fleet.store import SharedStore

BUDGET = 1.0
"""Roomy, for a machine shared by test runs; the budget's own test uses a tight one."""
WAIT = 10.0
"""Seconds any condition may take to come true before a test fails."""


def store_for(url: str, prefix: str, budget: float = BUDGET, **options: Any) -> SharedStore:
    return SharedStore(url, prefix=prefix, budget=budget, shown_url="redis://test", **options)


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait (bounded) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def test_a_command_past_the_budget_returns_none_and_marks_the_store_unavailable_once(
    fresh_redis, redis_prefix
):
    admin = redis.Redis.from_url(fresh_redis.url)

    async def test() -> None:
        store = store_for(fresh_redis.url, redis_prefix, budget=0.05)
        await store.start()
        await until(lambda: store.available)
        errors = store.health.errors
        admin.execute_command("CLIENT", "PAUSE", "3000", "ALL")
        paused_at = time.monotonic()
        with capture_logs() as logs:
            first = await store.run(lambda client: client.ping())
            second = await store.run(lambda client: client.ping())
        still_paused = time.monotonic() - paused_at < 3.0
        await store.close()

        assert first is None
        assert second is None
        assert still_paused  # it gave up within its budget, not when the pause ended
        assert not store.available
        assert store.health.errors == errors + 1  # the second call did not even try
        assert len(events(logs, "shared_state_unavailable")) == 1

    try:
        run(test)
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()


def test_an_unreachable_redis_does_not_fail_the_start_and_costs_calls_nothing(redis_prefix):
    async def test() -> None:
        store = store_for("redis://127.0.0.1:1/0", redis_prefix)
        with capture_logs() as logs:
            await store.start()
        result = await store.run(lambda client: client.ping())
        await store.close()

        assert result is None
        assert not store.available
        assert len(events(logs, "shared_state_unavailable")) == 1

    run(test)


def test_a_restarted_redis_is_found_again_and_every_resync_callback_runs(fresh_redis, redis_prefix):
    async def test() -> None:
        store = store_for(fresh_redis.url, redis_prefix)
        resyncs: list[bool] = []

        async def resync() -> None:
            resyncs.append(store.available)

        store.on_connected(resync)
        await store.start()
        await until(lambda: len(resyncs) == 1)
        fresh_redis.kill()
        with capture_logs() as logs:
            assert await store.run(lambda client: client.ping()) is None
            await asyncio.to_thread(fresh_redis.start)
            await until(lambda: store.available)
            await until(lambda: len(resyncs) == 2)
        answer = await store.run(lambda client: client.ping())
        await store.close()

        assert answer is True
        assert resyncs == [True, True]
        assert len(events(logs, "shared_state_unavailable")) == 1
        assert len(events(logs, "shared_state_restored")) == 1

    run(test)


def test_writes_submitted_from_threads_reach_redis_in_pipelines(redis_server, redis_prefix):
    reader = redis.Redis.from_url(redis_server.url)

    async def test() -> None:
        store = store_for(redis_server.url, redis_prefix)
        await store.start()
        key = store.key("counter")

        def write(times: int) -> None:
            for _ in range(times):
                store.submit(lambda pipe: pipe.incr(key))

        threads = [threading.Thread(target=write, args=(250,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        await until(lambda: reader.get(key) == b"1000")
        await store.close()

        assert store.health.overflowed == 0
        assert store.health.errors == 0

    try:
        run(test)
    finally:
        reader.close()


def test_a_full_write_buffer_drops_and_counts_writes_without_blocking(redis_server, redis_prefix):
    reader = redis.Redis.from_url(redis_server.url)

    async def test() -> None:
        store = store_for(redis_server.url, redis_prefix, write_buffer=3)
        await store.start()
        key = store.key("counter")
        # No await in between: the writer cannot drain, so the buffer fills.
        accepted = [store.submit(lambda pipe: pipe.incr(key)) for _ in range(10)]
        await until(lambda: reader.get(key) == b"3")
        later = store.submit(lambda pipe: pipe.incr(key))
        await until(lambda: reader.get(key) == b"4")
        await store.close()

        assert accepted == [True] * 3 + [False] * 7
        assert later
        assert store.health.overflowed == 7

    try:
        run(test)
    finally:
        reader.close()


def test_a_subscription_outlives_a_redis_restart(fresh_redis, redis_prefix):
    async def test() -> None:
        store = store_for(fresh_redis.url, redis_prefix)
        received: list[bytes] = []
        store.subscribe("news", received.append)
        await store.start()
        channel = store.key("news")
        publisher = redis.Redis.from_url(fresh_redis.url)

        def published_until_seen(payload: bytes) -> Callable[[], bool]:
            def check() -> bool:
                if payload in received:
                    return True
                publisher.publish(channel, payload)  # again until the subscription is live
                return False

            return check

        await until(published_until_seen(b"before"))
        fresh_redis.kill()
        await until(lambda: not store.available)
        await asyncio.to_thread(fresh_redis.start)
        await until(lambda: store.available)
        await until(published_until_seen(b"after"))
        publisher.close()
        await store.close()

        assert b"after" in received

    run(test)


def test_a_message_published_by_one_store_reaches_another(redis_server, redis_prefix):
    async def test() -> None:
        sender = store_for(redis_server.url, redis_prefix)
        receiver = store_for(redis_server.url, redis_prefix)
        received: list[bytes] = []
        receiver.subscribe("rests", received.append)
        await sender.start()
        await receiver.start()

        def sent_until_seen() -> bool:
            if received:
                return True
            sender.publish("rests", b"k1")
            return False

        await until(sent_until_seen)
        await sender.close()
        await receiver.close()

        assert set(received) == {b"k1"}

    run(test)


def test_an_atomic_script_runs_on_the_server(redis_server, redis_prefix):
    async def test() -> None:
        store = store_for(redis_server.url, redis_prefix)
        await store.start()
        keep_max = store.script(
            "local old = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
            "local new = math.max(old, tonumber(ARGV[1]))\n"
            "redis.call('SET', KEYS[1], new)\nreturn new"
        )
        key = store.key("max")
        results = [
            await store.run(lambda client, v=v: keep_max(keys=[key], args=[v], client=client))
            for v in (5, 3, 9, 1)
        ]
        await store.close()

        assert results == [5, 5, 9, 9]

    run(test)

"""The fleet's tenant counters: their scripts and FleetCounters on a real redis-server."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio

from cortex.fleet.store import SharedStore
from cortex.tenants.counters import LocalCounters, Refusal, Ticket, day_of
from cortex.tenants.fleet_counters import FleetCounters, verdict_of
from cortex.tenants.fleet_scripts import RESYNC_SCRIPT
from cortex.tenants.records import Limits

T = TypeVar("T")
NOW = 1_767_225_600.0 + 12 * 3600  # 2026-01-01T12:00:00Z
DAY = 86_400.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def no_spend(daily: Mapping[str, float] | None = None) -> Callable[[float], Awaitable[Any]]:
    async def spent(_: float) -> tuple[Mapping[str, float], Mapping[str, float]]:
        return dict(daily or {}), dict(daily or {})

    return spent


@asynccontextmanager
async def fleet_counters(
    url: str,
    prefix: str,
    clock: Clock,
    *,
    database: str = "db-1",
    spent: Callable[[float], Awaitable[Any]] | None = None,
) -> Any:
    """One instance's counters over a store of its own, resynced as at start-up."""
    store = SharedStore(url, prefix=prefix, budget=1.0, shown_url="redis")
    await store.start()
    counters = FleetCounters(
        store,
        LocalCounters(clock),
        database_id=database,
        spent=spent or no_spend(),
        clock=clock,
    )
    await counters.resync()
    try:
        yield counters
    finally:
        await counters.close()
        await store.close()


def run(work: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(20):
            return await work()

    return asyncio.run(bounded())


@pytest.fixture
def client(redis_server: Any, redis_prefix: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url) as connection:
        yield connection
        for name in connection.scan_iter(f"{redis_prefix}*"):
            connection.delete(name)


def test_the_sixth_request_in_a_minute_is_refused_whichever_instance_counted_the_five(
    redis_server, redis_prefix, client
):
    clock = Clock()
    limits = Limits(rpm=5)

    async def spread() -> list[Any]:
        async with (
            fleet_counters(redis_server.url, redis_prefix, clock) as a,
            fleet_counters(redis_server.url, redis_prefix, clock, database="db-2") as b,
        ):
            verdicts = []
            for n in range(6):
                clock.now += 1
                verdicts.append(await (a if n % 2 else b).admit("k", limits, 10))
            return verdicts

    verdicts = run(spread)

    assert [v.ticket is not None for v in verdicts] == [True] * 5 + [False]
    assert verdicts[-1].refusal is Refusal.REQUESTS
    assert verdicts[-1].retry_after == pytest.approx(55.0)
    assert [v.standing.remaining_requests for v in verdicts] == [4, 3, 2, 1, 0, 0]


def test_a_request_leaves_the_window_a_minute_after_its_admission(
    redis_server, redis_prefix, client
):
    clock = Clock()
    limits = Limits(rpm=1, tpm=100)

    async def later() -> tuple[Any, Any]:
        async with fleet_counters(redis_server.url, redis_prefix, clock) as counters:
            await counters.admit("k", limits, 60)
            clock.now += 30
            refused = await counters.admit("k", limits, 60)
            clock.now += 30.5
            return refused, await counters.admit("k", limits, 60)

    refused, admitted = run(later)

    assert refused.refusal is Refusal.REQUESTS
    assert admitted.ticket is not None
    assert admitted.standing.remaining_tokens == 40
    assert client.hlen(f"{redis_prefix}:tenants:tokens:k") == 2  # one entry and the total


def test_tokens_are_reserved_up_front_and_settled_to_what_was_used(
    redis_server, redis_prefix, client
):
    clock = Clock()
    limits = Limits(tpm=100)

    async def settle_then_admit() -> tuple[Any, Any]:
        async with fleet_counters(redis_server.url, redis_prefix, clock) as counters:
            first = await counters.admit("k", limits, 80)
            refused = await counters.admit("k", limits, 30)
            assert first.ticket is not None
            counters.settle(first.ticket, 10, 0.0)
            await counters.close()  # the settle's task has finished
            return refused, await counters.admit("k", limits, 30)

    refused, admitted = run(settle_then_admit)

    assert refused.refusal is Refusal.TOKENS
    assert refused.retry_after == pytest.approx(60.0)
    assert admitted.ticket is not None
    assert admitted.standing.remaining_tokens == 60


def test_a_budget_spent_through_one_instance_stops_the_key_on_another_until_the_next_day(
    redis_server, redis_prefix, client
):
    clock = Clock()
    limits = Limits(budget_daily=1.0)

    async def spend() -> tuple[Any, Any]:
        async with (
            fleet_counters(redis_server.url, redis_prefix, clock) as a,
            fleet_counters(redis_server.url, redis_prefix, clock, database="db-2") as b,
        ):
            ticket = (await a.admit("k", limits, 10)).ticket
            assert ticket is not None
            a.settle(ticket, 10, 1.0)
            await a.close()
            stopped = await b.admit("k", limits, 10)
            clock.now += DAY
            return stopped, await b.admit("k", limits, 10)

    stopped, next_day = run(spend)

    assert stopped.refusal is Refusal.BUDGET_DAILY
    assert stopped.retry_after == pytest.approx(DAY / 2)
    assert next_day.ticket is not None
    ttl = client.ttl(f"{redis_prefix}:tenants:spend:k:{day_of(NOW)}")
    assert DAY / 2 < ttl <= DAY * 1.5


@pytest.mark.parametrize(("databases", "seeded"), [(("db-1", "db-1"), 2.0), (("a", "b"), 4.0)])
def test_a_ledger_is_seeded_once_per_database_whatever_the_number_of_instances(
    redis_server, redis_prefix, client, databases, seeded
):
    clock = Clock()

    async def start_two() -> None:
        for database in databases:
            async with fleet_counters(
                redis_server.url,
                redis_prefix,
                clock,
                database=database,
                spent=no_spend({"k": 2.0}),
            ):
                pass

    run(start_two)

    assert float(client.get(f"{redis_prefix}:tenants:spend:k:{day_of(NOW)}")) == seeded
    assert float(client.get(f"{redis_prefix}:tenants:spend:k:{day_of(NOW)[:7]}")) == seeded


def test_a_key_without_limits_costs_redis_nothing(redis_server, redis_prefix, client):
    clock = Clock()

    async def unlimited() -> Ticket | None:
        async with fleet_counters(redis_server.url, redis_prefix, clock) as counters:
            ticket = (await counters.admit("k", Limits(models=("gpt-*",)), 10)).ticket
            assert ticket is not None
            counters.settle(ticket, 10, 5.0)
            return ticket

    ticket = run(unlimited)

    assert ticket is not None
    assert ticket.shared is None
    assert not ticket.owed
    assert not list(client.scan_iter(f"{redis_prefix}:tenants:spend:*"))
    assert not list(client.scan_iter(f"{redis_prefix}:tenants:window:*"))


def test_without_redis_a_limited_key_is_counted_locally_and_its_spend_owed():
    clock = Clock()
    limits = Limits(rpm=1, budget_daily=10.0)

    async def unreachable() -> tuple[Any, Any, bool]:
        async with fleet_counters("redis://127.0.0.1:1/0", "p", clock) as counters:
            first = await counters.admit("k", limits, 10)
            assert first.ticket is not None
            counters.settle(first.ticket, 10, 0.5)
            return first, await counters.admit("k", limits, 10), counters.shared

    first, second, shared = run(unreachable)

    assert not shared
    assert first.ticket is not None
    assert first.ticket.owed
    assert second.refusal is Refusal.REQUESTS


def resync(client: redis.Redis, prefix: str, database: str, life: str, *args: str) -> list[str]:
    """One call of the resync script: seeds first (a count and triples), then owed triples."""
    keys = (f"{prefix}:tenants:life", f"{prefix}:tenants:counted")
    answer = client.eval(RESYNC_SCRIPT, 2, *keys, database, life, "fresh-life", *args)
    return [part.decode() for part in answer]


def test_owed_spend_is_added_only_by_an_instance_that_saw_the_same_life(client, redis_prefix):
    spend = f"{redis_prefix}:tenants:spend:k:2026-01-01"
    seed = ("1", spend, "3.0", str(int(NOW + DAY)))
    owed = (spend, "0.5", str(int(NOW + DAY)))

    first = resync(client, redis_prefix, "db", "", *seed)
    same_life = resync(client, redis_prefix, "db", "fresh-life", *seed, *owed)
    sibling = resync(client, redis_prefix, "db", "an-old-life", *seed, *owed)

    assert first == ["fresh-life", "seed"]
    assert same_life == ["fresh-life", "owed"]
    assert sibling == ["fresh-life", "none"]
    assert float(client.get(spend)) == 3.5


def test_a_redis_that_lost_its_data_is_seeded_again_and_owed_spend_is_not_added(
    client, redis_prefix
):
    spend = f"{redis_prefix}:tenants:spend:k:2026-01-01"
    seed = ("1", spend, "3.0", str(int(NOW + DAY)))
    owed = (spend, "0.5", str(int(NOW + DAY)))
    resync(client, redis_prefix, "db", "", *seed)
    for name in client.scan_iter(f"{redis_prefix}*"):
        client.delete(name)

    again = resync(client, redis_prefix, "db", "fresh-life-before", *seed, *owed)

    assert again == ["fresh-life", "seed"]
    assert float(client.get(spend)) == 3.0


@pytest.mark.parametrize(
    ("answer", "limits", "refusal", "remaining"),
    [
        ((b"", b"0", b"2", b"50", b"30.5", b"0", b"0"), Limits(rpm=5, tpm=80), None, (3, 30)),
        (
            (b"requests", b"12.5", b"5", b"0", b"9", b"0", b"0"),
            Limits(rpm=5),
            "requests",
            (0, None),
        ),
        ((b"tokens", b"3", b"1", b"90", b"3", b"0", b"0"), Limits(tpm=80), "tokens", (None, 0)),
    ],
)
def test_the_admit_script_s_answer_reads_as_a_verdict(answer, limits, refusal, remaining):
    verdict = verdict_of(answer, limits, Ticket("k", 10, shared="r1"))

    assert (verdict.refusal.value if verdict.refusal else None) == refusal
    assert (verdict.standing.remaining_requests, verdict.standing.remaining_tokens) == remaining
    assert (verdict.ticket is None) == (refusal is not None)


def test_spend_counted_locally_while_redis_was_unreachable_is_added_when_it_answers(
    fresh_redis, redis_prefix
):
    """Redis paused (its data kept): the request is counted here, its spend owed, then added."""
    clock = Clock()
    limits = Limits(budget_daily=10.0)
    spend = f"{redis_prefix}:tenants:spend:k:{day_of(NOW)}"
    paused = fresh_redis._proc  # the test's own server: pausing it keeps its data

    async def outage() -> tuple[bool, float]:
        store = SharedStore(fresh_redis.url, prefix=redis_prefix, budget=0.3, shown_url="redis")
        await store.start()
        counters = FleetCounters(
            store, LocalCounters(clock), database_id="db", spent=no_spend(), clock=clock
        )
        store.on_connected(counters.resync)
        await counters.resync()
        try:
            first = (await counters.admit("k", limits, 10)).ticket
            assert first is not None
            counters.settle(first, 10, 1.0)
            await counters.close()
            paused.send_signal(signal.SIGSTOP)
            try:
                during = (await counters.admit("k", limits, 10)).ticket
            finally:
                paused.send_signal(signal.SIGCONT)
            assert during is not None
            counters.settle(during, 10, 0.5)
            async with redis.asyncio.Redis.from_url(fresh_redis.url) as client:
                async with asyncio.timeout(10):
                    while float(await client.get(spend) or 0) < 1.5:
                        await asyncio.sleep(0.05)
                return during.owed, float(await client.get(spend))
        finally:
            await store.close()

    owed, total = run(outage)

    assert owed
    assert total == 1.5

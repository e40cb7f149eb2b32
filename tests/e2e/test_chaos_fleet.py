"""The chaos suite across a fleet: three daemons on one redis-server, the same promises.

The upstreams, faults, routes and judges are the single-daemon suite's
(:mod:`test_chaos`); here the clients spread their requests over three instances that
share key rests, breakers and the cache through Redis. Sharing must not cost a guarantee:
no request hangs, none is answered 500 or truncated, every continuable one is served,
and afterwards every instance is at rest (no upstream request left open, no attempt in
flight, no task left behind, no memory kept).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import requests
from daemon_harness import CortexProcess
from test_chaos import (
    CHAOS_RATES,
    CHAOTIC,
    CONCURRENCY,
    DEADLINE,
    ERROR_EVENT,
    FAILED_SILENTLY,
    HUNG,
    REQUESTS,
    RSS_MARGIN_MB,
    SERVED,
    SERVER_ERROR,
    TRUNCATED,
    UPSTREAMS,
    Outcome,
    loop_tasks,
    one_request,
    providers,
    routes,
    rss_mb,
    settle,
)

from cortex.simulated import SimulatedServer

INSTANCES = 3


@dataclass
class FleetRun:
    """The record of the run and every instance's state after it."""

    outcomes: list[Outcome]
    upstreams: dict[str, SimulatedServer]
    rss_growth_mb: list[float]
    tasks_before: list[int]
    tasks_after: list[int]
    workers: list[dict[str, dict[str, Any]]]
    faults_dealt: dict[str, int]


async def send_spread(urls: list[str], indices: range) -> list[Outcome]:
    """Every request once, request ``i`` to instance ``i mod n``, at the suite's concurrency."""
    gate = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        sent = (one_request(session, urls[i % len(urls)], i, gate) for i in indices)
        return list(await asyncio.gather(*sent))


def workers_of(daemon: CortexProcess) -> dict[str, dict[str, Any]]:
    views = requests.get(daemon.url + "/api/workers", timeout=10).json()["workers"]
    return {w["name"]: w for w in views}


@pytest.fixture(scope="module")
def fleet_chaos(tmp_path_factory: pytest.TempPathFactory, redis_server: Any) -> Iterator[FleetRun]:
    upstreams = {
        name: u.server(name, keys=u.keys, models=(u.model,), chunk_delay=0.002)
        for name, u in UPSTREAMS.items()
    }
    for server in upstreams.values():
        server.start()
    daemons: list[CortexProcess] = []
    try:
        entries = providers()
        for name, server in upstreams.items():
            entries[name]["base_url"] = server.base_url
        env = {
            "CORTEX_PROVIDERS": json.dumps(entries),
            "CORTEX_ROUTES": json.dumps(routes()),
            "CORTEX_BREAKER_FAILURES": "5",
            "CORTEX_BREAKER_COOLDOWN": "1",
            "RATE_LIMIT_BLOCK_MINUTES": "0.02",
            "CORTEX_MAX_CONNECTIONS_PER_CLIENT": "1000",
            "CORTEX_LOG_LEVEL": "warning",
            "CORTEX_REDIS_URL": redis_server.url,
            "CORTEX_REDIS_PREFIX": "chaos-fleet",
            "CORTEX_REDIS_BUDGET_MS": "250",
        }
        logs = tmp_path_factory.mktemp("chaos-fleet")
        for number in range(INSTANCES):
            daemons.append(CortexProcess(env, logs / f"cortex-{number}.log").wait_ready())
        yield run_fleet_chaos(daemons, upstreams)
    finally:
        for daemon in daemons:
            daemon.stop()
        for server in upstreams.values():
            server.stop()


def run_fleet_chaos(
    daemons: list[CortexProcess], upstreams: dict[str, SimulatedServer]
) -> FleetRun:
    urls = [d.url for d in daemons]
    warmup = asyncio.run(send_spread(urls, range(REQUESTS, REQUESTS + 300)))
    assert all(o.verdict == SERVED for o in warmup), Counter(o.verdict for o in warmup)
    rss_before = [rss_mb(d.proc.pid) for d in daemons]
    tasks_before = [loop_tasks(d) for d in daemons]
    for seed, name in enumerate(CHAOTIC, start=1):
        upstreams[name].set_random_faults(CHAOS_RATES, seed=seed, retry_after=1.0)
    outcomes = asyncio.run(send_spread(urls, range(REQUESTS)))
    dealt = {name: sum(s.faults.dealt().values()) for name, s in upstreams.items()}
    for server in upstreams.values():
        server.clear_faults()

    def at_rest() -> bool:
        idle_upstreams = all(s.active_requests == 0 for s in upstreams.values())
        flights = (w["in_flight"] for d in daemons for w in workers_of(d).values())
        return idle_upstreams and not any(flights)

    settle(at_rest)
    for daemon, before in zip(daemons, tasks_before, strict=True):
        settle(lambda daemon=daemon, before=before: loop_tasks(daemon) <= before)
    return FleetRun(
        outcomes=outcomes,
        upstreams=upstreams,
        rss_growth_mb=[rss_mb(d.proc.pid) - b for d, b in zip(daemons, rss_before, strict=True)],
        tasks_before=tasks_before,
        tasks_after=[loop_tasks(d) for d in daemons],
        workers=[workers_of(d) for d in daemons],
        faults_dealt=dealt,
    )


def test_the_faults_reached_every_chaotic_upstream(fleet_chaos: FleetRun) -> None:
    assert all(fleet_chaos.faults_dealt[name] > 0 for name in CHAOTIC)


def test_no_request_hung_or_outlived_its_deadline(fleet_chaos: FleetRun) -> None:
    assert not [o for o in fleet_chaos.outcomes if o.verdict == HUNG]
    assert max(o.elapsed for o in fleet_chaos.outcomes) < DEADLINE + 2.0


def test_every_continuable_request_was_served(fleet_chaos: FleetRun) -> None:
    unserved = [o for o in fleet_chaos.outcomes if not o.strict and o.verdict != SERVED]
    assert unserved == []


def test_a_stream_that_may_not_be_continued_is_served_or_ends_with_an_error_after_text(
    fleet_chaos: FleetRun,
) -> None:
    broken = [o for o in fleet_chaos.outcomes if o.strict and o.verdict != SERVED]
    assert all(o.verdict == ERROR_EVENT and o.partial_text for o in broken), broken[:5]


def test_no_instance_answered_500_truncated_or_failed_without_naming_attempts(
    fleet_chaos: FleetRun,
) -> None:
    verdicts = Counter(o.verdict for o in fleet_chaos.outcomes)
    assert verdicts[SERVER_ERROR] == 0
    assert verdicts[TRUNCATED] == 0
    assert verdicts[FAILED_SILENTLY] == 0


def test_every_instance_is_at_rest_afterwards(fleet_chaos: FleetRun) -> None:
    assert {n: s.active_requests for n, s in fleet_chaos.upstreams.items()} == dict.fromkeys(
        UPSTREAMS, 0
    )
    for workers in fleet_chaos.workers:
        assert {name: w["in_flight"] for name, w in workers.items()} == dict.fromkeys(UPSTREAMS, 0)
    assert all(
        after <= before
        for before, after in zip(fleet_chaos.tasks_before, fleet_chaos.tasks_after, strict=True)
    )
    assert all(growth <= RSS_MARGIN_MB for growth in fleet_chaos.rss_growth_mb)


def test_the_steady_worker_never_failed_and_its_breaker_is_closed_everywhere(
    fleet_chaos: FleetRun,
) -> None:
    assert [w["steady"]["breaker"] for w in fleet_chaos.workers] == ["closed"] * INSTANCES

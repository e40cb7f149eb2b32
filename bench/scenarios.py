"""The measurements of issue #8, each repeated and reduced to the median of its runs.

Every function drives one running :class:`~bench.gateways.Gateway` with the load generator
and returns plain numbers (milliseconds, requests per second, bytes) ready for JSON.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench.gateways import SCENARIOS, Gateway
from bench.load import LoadResult, Target, percentile, run_closed_loop, run_simultaneous
from bench.procs import PeakRss

Numbers = dict[str, float]


@dataclass(frozen=True, slots=True)
class Plan:
    """How much to measure: counts and durations, all bounded."""

    reps: int
    latency_requests: int
    latency_seconds: float
    throughput_seconds: float
    concurrencies: tuple[int, ...]
    stream_levels: tuple[int, ...]
    stream_timeout: float
    idle_seconds: float
    failover_workers: int


def median_of(runs: Sequence[Numbers]) -> Numbers:
    """Per key, the median over the repetitions (NaNs dropped)."""
    keys = runs[0].keys() if runs else ()
    out: Numbers = {}
    for key in keys:
        values = [r[key] for r in runs if r[key] == r[key]]
        out[key] = statistics.median(values) if values else float("nan")
    return out


async def repeat(times: int, once: Callable[[], Awaitable[Numbers]]) -> Numbers:
    """Run ``once`` ``times`` times, one after the other; the median of each figure."""
    return median_of([await once() for _ in range(times)])


def _ms(values: Sequence[float], fraction: float) -> float:
    return percentile(values, fraction) * 1000.0


def summarise(result: LoadResult, gateway_cpu: float) -> Numbers:
    """Latency, TTFT, rate, errors and CPU figures of one run."""
    ok = [s for s in result.shots if s.ok]
    ttfts = [s.ttft for s in ok if s.ttft is not None]
    count = max(1, len(result.shots))
    return {
        "requests": float(len(result.shots)),
        "errors": float(result.errors),
        "rps": len(ok) / result.wall if result.wall else 0.0,
        "p50_ms": _ms([s.latency for s in ok], 0.5),
        "p99_ms": _ms([s.latency for s in ok], 0.99),
        "ttft_p50_ms": _ms(ttfts, 0.5),
        "ttft_p99_ms": _ms(ttfts, 0.99),
        "cpu_ms_per_request": gateway_cpu * 1000.0 / count,
        "gateway_cpu_share": gateway_cpu / result.wall if result.wall else 0.0,
        "client_cpu_share": result.client_cpu / result.wall if result.wall else 0.0,
    }


async def closed_loop(
    gateway: Gateway, target: Target, *, concurrency: int, requests: int, seconds: float
) -> Numbers:
    cpu0 = gateway.service.cpu()
    result = await run_closed_loop(
        target, concurrency=concurrency, requests=requests, duration=seconds
    )
    return summarise(result, gateway.service.cpu() - cpu0)


async def warm_up(gateway: Gateway) -> None:
    """Open connection pools and JIT-free caches before anything is timed."""
    for name in ("ns", "s20"):
        await run_closed_loop(
            gateway.target(SCENARIOS[name]), concurrency=4, requests=200, duration=30
        )


async def idle(gateway: Gateway, seconds: float) -> Numbers:
    """RSS and CPU share of the target while nothing is sent."""
    cpu0, wall0 = gateway.service.cpu(), time.perf_counter()
    await asyncio.sleep(seconds)
    share = (gateway.service.cpu() - cpu0) / (time.perf_counter() - wall0)
    return {"rss_mb": gateway.service.rss() / 1e6, "cpu_percent": share * 100.0}


async def latency(gateway: Gateway, plan: Plan) -> dict[str, Numbers]:
    """Concurrency 1: latency of non-streaming requests and TTFT of streams."""
    out = {}
    for name in ("ns", "s20"):
        target = gateway.target(SCENARIOS[name])
        out[name] = await repeat(
            plan.reps,
            functools.partial(
                closed_loop,
                gateway,
                target,
                concurrency=1,
                requests=plan.latency_requests,
                seconds=plan.latency_seconds,
            ),
        )
    return out


async def throughput(gateway: Gateway, plan: Plan) -> dict[str, Numbers]:
    """Requests per second at each concurrency, non-streaming and 20-token streams."""
    out = {}
    for concurrency in plan.concurrencies:
        for name in ("ns", "s20"):
            target = gateway.target(SCENARIOS[name])
            out[f"{name}@{concurrency}"] = await repeat(
                plan.reps,
                functools.partial(
                    closed_loop,
                    gateway,
                    target,
                    concurrency=concurrency,
                    requests=10**9,
                    seconds=plan.throughput_seconds,
                ),
            )
    return out


async def _streams_once(gateway: Gateway, streams: int, timeout: float) -> Numbers:
    target = gateway.target(SCENARIOS["s20d50"])
    base_rss = gateway.service.rss()
    cpu0 = gateway.service.cpu()
    with PeakRss(gateway.service.pid) as peak:
        result = await run_simultaneous(target, streams=streams, timeout=timeout)
    numbers = summarise(result, gateway.service.cpu() - cpu0)
    completed = sum(1 for s in result.shots if s.ok)
    numbers["completion_rate"] = completed / streams
    numbers["wall_s"] = result.wall
    numbers["peak_rss_mb"] = peak.peak / 1e6
    numbers["rss_kb_per_stream"] = max(0, peak.peak - base_rss) / 1e3 / streams
    await asyncio.sleep(1.0)  # let sockets drain before the next round
    return numbers


async def concurrent_streams(gateway: Gateway, plan: Plan) -> dict[str, Numbers]:
    """1,000 / 2,000 / 5,000 simultaneous streams with 50 ms between 20 tokens.

    A level whose first run completes less than half its streams is not repeated and
    the higher levels are skipped: the target has already shown where it stops.
    """
    out: dict[str, Numbers] = {}
    for streams in plan.stream_levels:
        first = await _streams_once(gateway, streams, plan.stream_timeout)
        runs = [first]
        if first["completion_rate"] >= 0.5:
            for _ in range(plan.reps - 1):
                runs.append(await _streams_once(gateway, streams, plan.stream_timeout))
        out[str(streams)] = median_of(runs)
        if first["completion_rate"] < 0.5:
            break
    return out

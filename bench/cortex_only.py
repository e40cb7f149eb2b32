"""Measurements only Cortex gets: failover cost, and the idle footprint with 10 workers.

Failover: Cortex routes around a worker once it has failed (a rate-limited key rests, a
refused worker is demoted), so steady traffic would pay a failure only once. To time the
failover itself on every sample, each sample uses its own failing worker: worker
``rl{i}`` (one key, its upstream always answers 429) serves only model ``fo-r{i}``, and
worker ``cr{i}`` serves only ``fo-c{i}`` on a port that answered the start-up health
probe and then stopped listening (so the chat attempt is refused). A healthy worker with
lower priority serves every model. The cost of the failed attempt itself is measured
directly (a 429 from the upstream; a refused connect) and subtracted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
import urllib.request
from pathlib import Path

from bench.gateways import KEY, SCENARIOS, Gateway, cortex_workers, start_cortex
from bench.load import Target, run_closed_loop
from bench.procs import Service, free_port
from bench.scenarios import Numbers, Plan, idle
from bench.upstream import start_server


async def _one_ttft(target: Target) -> float:
    result = await run_closed_loop(target, concurrency=1, requests=1, duration=30)
    shot = result.shots[0] if result.shots else None
    if shot is None or not shot.ok or shot.ttft is None:
        return float("nan")
    return shot.ttft * 1000.0


def _workers_ready(port: int, names: set[str]) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/workers", timeout=5) as reply:
        views = json.load(reply)["workers"]
    return all(v["last_check"] is not None for v in views if v["name"] in names)


async def failover(log_dir: Path, upstream: Service, plan: Plan) -> Numbers:
    """TTFT through a 429-ing or refusing first candidate vs a healthy one."""
    count = plan.failover_workers * plan.reps
    up = upstream.port
    doomed = [await start_server("127.0.0.1", free_port(), 5) for _ in range(count)]
    workers: dict[str, dict[str, object]] = {
        "ok": {
            "type": "openai",
            "base_url": f"http://127.0.0.1:{up}/t20d0/v1",
            "api_keys": [KEY],
            "models": ["fo-h", *(f"fo-r{i}" for i in range(count)),
                       *(f"fo-c{i}" for i in range(count))],
            "priority": 10,
        }
    }  # fmt: skip
    for i, server in enumerate(doomed):
        port = server.sockets[0].getsockname()[1]
        workers[f"rl{i}"] = {
            "type": "openai",
            "base_url": f"http://127.0.0.1:{up}/e429/v1",
            "api_keys": [f"{KEY}-{i}"],
            "models": [f"fo-r{i}"],
            "priority": 1,
        }
        workers[f"cr{i}"] = {"type": "openai", "base_url": f"http://127.0.0.1:{port}/v1",
                             "api_keys": [KEY], "models": [f"fo-c{i}"], "priority": 1}  # fmt: skip
    service = await asyncio.to_thread(start_cortex, log_dir, workers, name="cortex-failover")
    try:
        names = {f"cr{i}" for i in range(count)}
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(_workers_ready, service.port, names):
            if time.monotonic() > deadline:
                raise RuntimeError("failover workers were never probed")
            await asyncio.sleep(0.2)
        for server in doomed:
            server.close()
        gateway = Gateway("cortex", "cortex", service, up)
        scenario = SCENARIOS["s20"]
        healthy, limited, refused = [], [], []
        for i in range(count):
            healthy.append(await _one_ttft(gateway.target(scenario, "fo-h")))
            limited.append(await _one_ttft(gateway.target(scenario, f"fo-r{i}")))
            refused.append(await _one_ttft(gateway.target(scenario, f"fo-c{i}")))
    finally:
        await asyncio.to_thread(service.stop)
    cost_429 = await _direct_429_ms(up)
    cost_refused = _refused_connect_ms()
    h = statistics.median(healthy)
    r429 = statistics.median(limited)
    rref = statistics.median(refused)
    return {
        "samples": float(count),
        "healthy_ttft_ms": h,
        "after_429_ttft_ms": r429,
        "after_refused_ttft_ms": rref,
        "failed_429_attempt_ms": cost_429,
        "failed_refused_attempt_ms": cost_refused,
        "added_429_ms": r429 - h - cost_429,
        "added_refused_ms": rref - h - cost_refused,
    }


async def _direct_429_ms(up: int) -> float:
    target = Target(
        "127.0.0.1", up, "/e429/v1/chat/completions", b'{"model":"bench"}', {}, False, 0
    )
    result = await run_closed_loop(target, concurrency=1, requests=50, duration=10)
    return statistics.median(s.latency for s in result.shots) * 1000.0


def _refused_connect_ms() -> float:
    port = free_port()
    times = []
    for _ in range(50):
        started = time.perf_counter()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0 if times else float("nan")


async def idle_ten_workers(log_dir: Path, upstream: Service, plan: Plan) -> Numbers:
    """An idle daemon with 10 configured workers: RSS and CPU share."""
    base = cortex_workers(upstream.port)["ns"]
    workers = {f"w{i}": dict(base) for i in range(10)}
    service = await asyncio.to_thread(start_cortex, log_dir, workers, name="cortex-idle10")
    try:
        await asyncio.sleep(2.0)  # start-up probes settle
        return await idle(Gateway("cortex", "cortex", service, upstream.port), plan.idle_seconds)
    finally:
        await asyncio.to_thread(service.stop)

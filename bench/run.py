"""One command for the whole suite: ``python -m bench.run [--quick] [--targets ...]``.

Starts the fast upstream, then each target in turn (direct, Cortex with one process and
with ``--workers 2`` on a redis-server started for it, LiteLLM with 1 and 2 workers,
Portkey), measures it, stops it, and writes ``bench/results.json``; then
:mod:`bench.report` turns that into ``bench/RESULTS.md`` and ``bench/latency.png``.
``--quick`` is the bounded smoke path (a few hundred requests, seconds) the tests run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import cortex_only, scenarios
from bench.gateways import (
    Gateway,
    cortex_workers,
    redis_commands,
    start_cortex,
    start_litellm,
    start_portkey,
    start_redis,
    start_upstream,
)
from bench.peers import Install, install_litellm, install_portkey
from bench.procs import Service, raise_nofile
from bench.report import write_report

HERE = Path(__file__).resolve().parent
ALL_TARGETS = ("direct", "cortex", "cortex-2w", "litellm-1w", "litellm-2w", "portkey")

# Sized so the whole run (five targets, LiteLLM's slow start included) stays under 15
# minutes on 2 cores, while keeping the minimum of 3 repetitions per figure.
FULL = scenarios.Plan(
    reps=3,
    latency_requests=500,
    latency_seconds=5.0,
    throughput_seconds=3.0,
    concurrencies=(16, 64),
    stream_levels=(1000, 2000, 5000),
    stream_timeout=30.0,
    idle_seconds=5.0,
    failover_workers=10,
)
QUICK = scenarios.Plan(
    reps=1,
    latency_requests=50,
    latency_seconds=1.0,
    throughput_seconds=0.3,
    concurrencies=(16,),
    stream_levels=(20,),
    stream_timeout=10.0,
    idle_seconds=0.2,
    failover_workers=1,
)


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": cpu,
        "cores": len([x for x in Path("/proc/cpuinfo").read_text().split("\n\n") if x.strip()]),
        "memory_gb": round(mem_kb / 1e6, 1),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg()[0],
        "python": platform.python_version(),
        "node": node.stdout.strip() or "not found",
    }


async def _measure(gateway: Gateway, plan: scenarios.Plan) -> dict[str, Any]:
    await scenarios.warm_up(gateway)
    out: dict[str, Any] = {"idle": await scenarios.idle(gateway, plan.idle_seconds)}
    out["latency"] = await scenarios.latency(gateway, plan)
    redis = next((c for c in gateway.service.companions if c.name == "redis"), None)
    before = redis_commands(redis.port) if redis is not None else 0
    out["throughput"] = await scenarios.throughput(gateway, plan)
    if redis is not None:
        served = sum(run["requests"] for run in out["throughput"].values())
        out["redis_commands_per_request"] = (redis_commands(redis.port) - before) / served
    out["streams"] = await scenarios.concurrent_streams(gateway, plan)
    return out


def _start(name: str, log_dir: Path, upstream: Service, installs: dict[str, Install]) -> Service:
    if name == "cortex":
        return start_cortex(log_dir, cortex_workers(upstream.port))
    if name == "cortex-2w":
        return _start_cortex_fleet(log_dir, upstream)
    if name.startswith("litellm"):
        return start_litellm(log_dir, installs["litellm"], upstream.port, int(name[8]))
    return start_portkey(log_dir, installs["portkey"])


def _start_cortex_fleet(log_dir: Path, upstream: Service) -> Service:
    """Cortex with ``--workers 2`` and the redis-server it needs; stopping it stops both."""
    redis = start_redis(log_dir)
    try:
        cortex = start_cortex(
            log_dir,
            cortex_workers(upstream.port),
            name="cortex-2w",
            processes=2,
            redis_url=f"redis://127.0.0.1:{redis.port}/0",
        )
    except RuntimeError:
        redis.stop()
        raise
    cortex.companions.append(redis)
    return cortex


async def run(plan: scenarios.Plan, targets: tuple[str, ...], peers_dir: Path) -> dict[str, Any]:
    """Measure every target; a target that cannot start is recorded with its error."""
    raise_nofile()
    log_dir = Path(tempfile.mkdtemp(prefix="cortex-bench-logs-"))
    installs: dict[str, Install] = {}
    if any(t.startswith("litellm") for t in targets):
        installs["litellm"] = await asyncio.to_thread(install_litellm, peers_dir)
    if "portkey" in targets:
        installs["portkey"] = await asyncio.to_thread(install_portkey, peers_dir)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if plan is QUICK else "full",
        "plan": dataclasses.asdict(plan),
        "machine": _machine(),
        "versions": {"cortex": _cortex_version(), **{i.name: i.version for i in installs.values()}},
        "installs": {i.name: {"ok": i.ok, "detail": i.detail} for i in installs.values()},
        "targets": {},
        "log_dir": str(log_dir),
    }
    upstream = await asyncio.to_thread(start_upstream, log_dir)
    try:
        for name in targets:
            peer = "litellm" if name.startswith("litellm") else name
            if peer in installs and not installs[peer].ok:
                results["targets"][name] = {"error": f"not installed: {installs[peer].detail}"}
                continue
            started = time.monotonic()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                service = (
                    upstream
                    if name == "direct"
                    else await asyncio.to_thread(_start, name, log_dir, upstream, installs)
                )
            except RuntimeError as exc:
                results["targets"][name] = {"error": str(exc)[-1500:]}
                continue
            gateway = Gateway(name, name.split("-")[0], service, upstream.port)
            try:
                results["targets"][name] = await _measure(gateway, plan)
            finally:
                if service is not upstream:
                    await asyncio.to_thread(service.stop)
            results["targets"][name]["seconds"] = round(time.monotonic() - started, 1)
        if "cortex" in targets:
            print("[bench] cortex failover and idle footprint ...", file=sys.stderr, flush=True)
            results["cortex_failover"] = await cortex_only.failover(log_dir, upstream, plan)
            results["cortex_idle_10_workers"] = await cortex_only.idle_ten_workers(
                log_dir, upstream, plan
            )
    finally:
        await asyncio.to_thread(upstream.stop)
    return results


def _cortex_version() -> str:
    try:
        return version("cortex-gateway")
    except PackageNotFoundError:
        return "working tree"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, write the JSON (and, unless ``--no-report``, the report)."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="bounded smoke run (seconds)")
    parser.add_argument("--targets", nargs="+", choices=ALL_TARGETS, default=list(ALL_TARGETS))
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--peers-dir", type=Path, default=Path("/tmp/cortex-bench-peers"))
    parser.add_argument("--no-report", action="store_true", help="write only the JSON")
    parser.add_argument(
        "--merge", action="store_true", help="replace only these targets in an existing --out"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    results = asyncio.run(run(plan, tuple(args.targets), args.peers_dir))
    if args.merge and args.out.exists():
        merged = json.loads(args.out.read_text())
        merged["targets"].update(results.pop("targets"))
        merged.setdefault("merged_runs", []).append(
            {"date": results["date"], "targets": list(args.targets), "machine": results["machine"]}
        )
        for key in ("cortex_failover", "cortex_idle_10_workers"):
            if key in results:
                merged[key] = results[key]
        results = merged
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"[bench] wrote {args.out}", file=sys.stderr)
    if not args.no_report:
        write_report(results, HERE)
        print(f"[bench] wrote {HERE / 'RESULTS.md'} and {HERE / 'latency.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What sharing keys costs Redis: the counts script and a rest, timed on a real redis-server.

``python -m bench.fleet_keys`` starts Debian's ``redis-server`` on a free loopback port and
plays :data:`INSTANCES` instances, each sending one count batch (every key used) per
:data:`~cortex.fleet.keys.COUNTS_INTERVAL`, as :class:`~cortex.fleet.keys.FleetKeys`
does. It prints the round trip seen by a client and the CPU Redis spent per call (its
own ``INFO commandstats``), from which docs/scaling.md derives the fleet's capacity.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import redis

from bench.gateways import start_redis
from cortex.fleet.keys import COUNTS_SCRIPT, REST_SCRIPT

INSTANCES = 10
KEYS = 30
"""Keys configured fleet-wide (for example 10 workers with 3 keys each)."""
CALLS = 2000


def _fields() -> list[str]:
    return [f"k{n:010d}:{c}:worker{n % 10}" for n in range(KEYS) for c in "rsf"]


def _usec_per_call(client: redis.Redis, command: str) -> float:
    stats = client.info("commandstats")
    return float(stats[f"cmdstat_{command}"]["usec_per_call"])


def _counts(client: redis.Redis) -> list[float]:
    sha = client.script_load(COUNTS_SCRIPT)
    keys = ["b:counts", "b:base", "", "b:life"]
    fields = _fields()
    timings = []
    for call in range(CALLS):
        instance = call % INSTANCES
        keys[2] = f"b:batch:{instance}"
        deltas = [part for name in fields for part in (name, 3)]
        args = [86400, call // INSTANCES + 1, f"life{call}", "", 0, *deltas]
        start = time.perf_counter()
        client.evalsha(sha, len(keys), *keys, *args)
        timings.append(time.perf_counter() - start)
    return timings


def _rests(client: redis.Redis) -> list[float]:
    timings = []
    now = time.time()
    for call in range(CALLS):
        args = [f"k{call % KEYS:010d}:w", repr(now + 60 + call), "rate_limited", repr(now)]
        start = time.perf_counter()
        client.eval(REST_SCRIPT, 1, "b:rests", *args, "b:keys", '{"op":"rest"}')
        timings.append(time.perf_counter() - start)
    return timings


def _line(name: str, timings: list[float], server_usec: float) -> str:
    median = statistics.median(timings) * 1e6
    p99 = statistics.quantiles(timings, n=100)[98] * 1e6
    return (
        f"{name}: round trip median {median:.0f} us, p99 {p99:.0f} us; "
        f"Redis CPU {server_usec:.0f} us/call"
    )


def main() -> None:
    """Time both scripts and print one line each."""
    with tempfile.TemporaryDirectory() as directory:
        service = start_redis(Path(directory))
        try:
            client = redis.Redis(port=service.port)
            client.config_resetstat()
            counts = _counts(client)
            counts_usec = _usec_per_call(client, "evalsha")
            rests = _rests(client)
            rests_usec = _usec_per_call(client, "eval")
            print(f"{KEYS} keys ({KEYS * 3} counters), {INSTANCES} instances, {CALLS} calls")
            print(_line("count batch (every key)", counts, counts_usec))
            print(_line("rest", rests, rests_usec))
        finally:
            service.stop()


if __name__ == "__main__":
    main()

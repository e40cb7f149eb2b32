"""Crash drills under load: a few hundred streams run while each actor is crashed in turn.

Every drill goes through ``POST /admin/actors/{name}/crash``, which makes the actor raise in
its own thread, so the supervisor sees a real crash. Recovery time is measured from the
drill request until the supervisor has a new live incarnation *and* a fresh request that
needs that actor succeeds; the numbers are printed (run with ``-s`` to see them).

The drills run one after another against one daemon, so the restart counts add up: the
providers supervisor is drilled last, and its restart brings every provider actor back as
a new incarnation, one more restart each. Four crashes under the root stay within its
intensity (5 in 10 s); a sixth kills the daemon, which the last test proves.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import pytest
from admin_harness import ADMIN, ADMIN_TOKEN, chat, node, restarted, wait_until
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, providers_json

from cortex.simulated import Fault, SimulatedOpenAI

CONCURRENCY = 200
CHUNK_DELAY = 0.1
"""Seconds between streamed chunks: a stream lasts about a second, so 200 stay in flight
without flooding two cores."""
RECOVERY_BOUND = 10.0
PRIMARY_MODEL = "primary/gpt-4o-mini"
BACKUP_MODEL = "backup/llama-3.1-8b-instant"
DRILLED: dict[str, tuple[str | None, ...]] = {
    # actor -> the models whose requests prove the actor is back (None: the default route)
    "pool": (None,),
    "registry": (None,),
    "keys": (None,),
    "primary": (PRIMARY_MODEL,),
    "backup": (BACKUP_MODEL,),
    "providers": (PRIMARY_MODEL, BACKUP_MODEL),
}
RESTARTS_AFTER_DRILLS = {
    "pool": 1,
    "registry": 1,
    "keys": 1,
    "providers": 1,
    # their own drill, then the providers supervisor's restart
    "primary": 2,
    "backup": 2,
}


@dataclass(frozen=True)
class StreamResult:
    worker: str | None
    status: int
    finished: bool
    error: bool


class Load:
    """Streams pinned alternately to each worker, CONCURRENCY at a time, until stopped."""

    def __init__(self, url: str, models: tuple[str, ...]) -> None:
        self._url = url
        self._models = models
        self._stop = threading.Event()
        self.results: list[StreamResult] = []
        self.failures: list[str] = []
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the load did not finish: something hangs"

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(self._client(session, i) for i in range(CONCURRENCY)))

    async def _client(self, session: aiohttp.ClientSession, index: int) -> None:
        model = self._models[index % len(self._models)]
        body = {"stream": True, "model": model, "messages": [{"role": "user", "content": "go"}]}
        while not self._stop.is_set():
            try:
                async with session.post(self._url + "/v1/chat/completions", json=body) as r:
                    text = (await r.read()).decode()
                    lines = [line for line in text.splitlines() if line]
                    self.results.append(
                        StreamResult(
                            r.headers.get("X-Cortex-Worker"),
                            r.status,
                            bool(lines) and lines[-1] == "data: [DONE]",
                            '"error"' in text,
                        )
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")


@pytest.fixture
def upstreams():
    with (
        SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=CHUNK_DELAY) as primary,
        SimulatedOpenAI(
            "backup", keys=BACKUP_KEYS, models=("llama-3.1-8b-instant",), chunk_delay=CHUNK_DELAY
        ) as backup,
    ):
        yield primary, backup


def _drill_env(primary, backup) -> dict[str, str]:
    return {
        "CORTEX_PROVIDERS": providers_json(primary, backup, timeout=10),
        "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
        "CORTEX_FAULT_DRILLS": "1",
        "CORTEX_MAX_CONNECTIONS_PER_CLIENT": "1000",
        "CORTEX_LOG_LEVEL": "info",
    }


def _crash(daemon, name: str) -> str:
    old = node(daemon, name)["incarnation"]
    response = daemon.post(f"/admin/actors/{name}/crash", headers=ADMIN)
    assert response.status_code == 202, response.text
    return old


def _serves(daemon, models: tuple[str | None, ...]) -> bool:
    """Whether a fresh request for each model succeeds (sent side by side)."""

    def ok(model: str | None) -> bool:
        return chat(daemon, **({"model": model} if model else {})).status_code == 200

    with ThreadPoolExecutor(len(models)) as pool:
        return all(pool.map(ok, models))


def _recover(daemon, name: str, models: tuple[str | None, ...]) -> tuple[float, float]:
    """Crash ``name``; return seconds until a new incarnation runs, and until it serves."""
    started = time.monotonic()
    old = _crash(daemon, name)
    wait_until(lambda: restarted(daemon, name, old), timeout=RECOVERY_BOUND, interval=0.05)
    running = time.monotonic() - started
    wait_until(lambda: _serves(daemon, models), RECOVERY_BOUND, 0.05)
    return running, time.monotonic() - started


def _restart_ms(daemon) -> dict[str, float]:
    """Per drilled actor: child_terminated to the next child_started, from log timestamps."""
    stamp = datetime.fromisoformat
    latency = {}
    for exit_event in daemon.events("child_terminated"):
        name = exit_event["child_id"]
        exited = stamp(exit_event["timestamp"])
        starts = [
            stamp(e["timestamp"])
            for e in daemon.events("child_started")
            if e["child_id"] == name and stamp(e["timestamp"]) >= exited
        ]
        if starts:
            latency[name] = round((min(starts) - exited).total_seconds() * 1000.0, 2)
    return latency


def test_streams_survive_a_crash_of_every_actor_and_each_recovers_quickly(cortex_daemon, upstreams):
    primary, backup = upstreams
    daemon = cortex_daemon(_drill_env(primary, backup))
    recovery: dict[str, tuple[float, float]] = {}

    with Load(daemon.url, (PRIMARY_MODEL, BACKUP_MODEL)) as load:
        wait_until(lambda: len(load.results) >= CONCURRENCY // 2, timeout=20)
        for name, models in DRILLED.items():
            recovery[name] = _recover(daemon, name, models)
            time.sleep(0.5)
    tree = daemon.get("/admin/actors", headers=ADMIN).json()

    rounded = {
        k: {"restarted": round(a, 3), "serving": round(b, 3)} for k, (a, b) in recovery.items()
    }
    print("\nrecovery after crash under load (s):", json.dumps(rounded))
    print("supervisor restart latency from the logs (ms):", json.dumps(_restart_ms(daemon)))
    print(f"streams completed under load: {len(load.results)}")
    assert load.failures == []
    assert len(load.results) >= 2 * CONCURRENCY
    assert all(r.status == 200 and r.finished and not r.error for r in load.results)
    assert {r.worker for r in load.results} == {"primary", "backup"}
    assert max(serving for _, serving in recovery.values()) < RECOVERY_BOUND
    children = {c["name"]: c for c in tree["children"]}
    workers = {c["name"]: c for c in children["providers"]["children"]}
    counts = {name: (children.get(name) or workers[name])["restarts"] for name in DRILLED}
    assert counts == RESTARTS_AFTER_DRILLS
    assert children["front"]["restarts"] == 0
    assert children["cache"]["restarts"] == 0
    assert all(node["alive"] for node in [*children.values(), *workers.values()])


def test_crashing_the_providers_supervisor_restarts_every_provider(cortex_daemon, upstreams):
    primary, backup = upstreams
    daemon = cortex_daemon(_drill_env(primary, backup))

    old = _crash(daemon, "providers")
    providers = wait_until(lambda: restarted(daemon, "providers", old), timeout=RECOVERY_BOUND)

    workers = {c["name"]: c for c in providers["children"]}
    assert providers["restarts"] == 1
    assert "FaultDrill" in providers["last_exit"]["reason"]
    assert set(workers) == {"primary", "backup"}
    assert {w["restarts"] for w in workers.values()} == {1}
    assert all(w["alive"] for w in workers.values())
    assert chat(daemon).status_code == 200


def test_crashing_the_key_manager_keeps_blocks_and_usage_counts(cortex_daemon, upstreams):
    primary, backup = upstreams
    daemon = cortex_daemon(_drill_env(primary, backup))
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], times=1, retry_after=600)
    for _ in range(3):
        assert chat(daemon).status_code == 200
    before = daemon.get("/api/stats").json()["workers"]["primary"]["keys"]

    old = _crash(daemon, "keys")
    wait_until(lambda: restarted(daemon, "keys", old))
    after = daemon.get("/api/stats").json()["workers"]["primary"]["keys"]

    assert [k["blocked"] for k in before] == [True, False]
    assert after == before


def test_crashing_a_provider_keeps_its_statistics(cortex_daemon, upstreams):
    primary, backup = upstreams
    daemon = cortex_daemon(_drill_env(primary, backup))
    for _ in range(3):
        assert chat(daemon).status_code == 200
    # The provider actor publishes the outcome it was told just after the response ended.
    before = wait_until(lambda: (s := node(daemon, "primary")["state"])["successes"] == 3 and s)

    old = _crash(daemon, "primary")
    after = wait_until(lambda: restarted(daemon, "primary", old))["state"]

    assert (after["requests"], after["successes"]) == (before["requests"], before["successes"])
    assert after["requests"] == 3


def test_crashing_a_provider_keeps_its_open_breaker(cortex_daemon, upstreams):
    # The probes fail too: the new incarnation probes at once, and a successful probe would
    # deliberately let one trial through (half-open), as any periodic probe does.
    primary, backup = upstreams
    env = {
        **_drill_env(primary, backup),
        "CORTEX_BREAKER_FAILURES": "2",
        "CORTEX_BREAKER_COOLDOWN": "600",
    }
    daemon = cortex_daemon(env)
    primary.set_fault(Fault.SERVER_ERROR, probes=True)
    for _ in range(2):
        assert chat(daemon).headers["X-Cortex-Worker"] == "backup"
    # The provider actor publishes the outcomes it was told just after the responses ended.
    before = wait_until(lambda: (s := node(daemon, "primary")["state"])["breaker"] == "open" and s)

    old = _crash(daemon, "primary")
    after = wait_until(lambda: restarted(daemon, "primary", old))["state"]

    assert before["breaker"] == "open"
    assert (after["breaker"], after["consecutive_failures"]) == ("open", 2)
    assert chat(daemon).headers["X-Cortex-Worker"] == "backup"


def test_when_the_root_gives_up_the_daemon_logs_it_and_exits_1(cortex_daemon, upstreams):
    primary, backup = upstreams
    daemon = cortex_daemon(_drill_env(primary, backup))

    for _ in range(5):
        old = _crash(daemon, "pool")
        wait_until(lambda old=old: restarted(daemon, "pool", old))
    daemon.post("/admin/actors/pool/crash", headers=ADMIN)
    code = daemon.proc.wait(20)

    assert code == 1
    assert daemon.events("reached_max_restart_intensity")[-1]["supervisor"] == "root"
    assert daemon.events("root_supervisor_gave_up")


def test_worker_statistics_add_up_across_crash_drills_under_load(cortex_daemon, upstreams):
    primary, backup = upstreams
    daemon = cortex_daemon(_drill_env(primary, backup))
    samples = []

    with Load(daemon.url, (PRIMARY_MODEL, BACKUP_MODEL)) as load:
        for name in ("primary", "backup", "providers", "primary", "backup", "primary"):
            # Each drill lands while a fresh wave of streams is ending, so attempt reports
            # are on their way to the actor being crashed.
            wanted = len(load.results) + CONCURRENCY // 4
            wait_until(lambda wanted=wanted: len(load.results) >= wanted, timeout=20)
            old = _crash(daemon, name)
            wait_until(lambda name=name, old=old: restarted(daemon, name, old), RECOVERY_BOUND)
            samples.append(daemon.get("/api/stats").json()["workers"])
    at_rest = daemon.get("/api/stats").json()["workers"]

    assert load.failures == []
    assert all(r.status == 200 and r.finished and not r.error for r in load.results)
    for sample in samples:
        for counts in sample.values():
            assert counts["successes"] + counts["failures"] <= counts["requests"]
    for name, upstream in (("primary", primary), ("backup", backup)):
        counts = at_rest[name]
        ended = counts["successes"] + counts["failures"]
        assert counts["in_flight"] == 0
        assert ended + counts["client_errors"] + counts["cancelled"] == counts["requests"]
        assert counts["requests"] == sum(
            1 for r in upstream.requests if r.path.endswith("/chat/completions")
        )
        assert counts["successes"] == sum(1 for r in load.results if r.worker == name)

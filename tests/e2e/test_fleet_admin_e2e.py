"""Three daemons and one real redis-server: a reload or a worker change through one reaches all."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from admin_harness import ADMIN, ADMIN_TOKEN
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS
from fleet_harness import BUDGET_MS, eventually

from cortex.simulated import SimulatedOpenAI

HELLO = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


def worker_table(name: str, server: SimulatedOpenAI, keys: tuple[str, ...], priority: int) -> str:
    return (
        f'[providers.{name}]\ntype = "openai"\nbase_url = "{server.base_url}"\n'
        f'api_keys = {json.dumps(list(keys))}\nmodels = ["gpt-4o-mini"]\npriority = {priority}\n'
    )


def start_fleet(cortex_daemon, redis_server, redis_prefix, config: Path, count: int = 3):
    env = {
        "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
        "CORTEX_REDIS_URL": redis_server.url,
        "CORTEX_REDIS_PREFIX": redis_prefix,
        "CORTEX_REDIS_BUDGET_MS": BUDGET_MS,
    }
    return [cortex_daemon(env, "--config", str(config)) for _ in range(count)]


def config_version(daemon) -> str:
    """The configuration version ``daemon`` reports for itself in ``GET /api/fleet``."""
    answer = daemon.get("/api/fleet").json()
    return next(e["config_version"] for e in answer["instances"] if e["id"] == answer["this"])


def workers(daemon) -> set[str]:
    return {w["name"] for w in daemon.get("/api/workers").json()["workers"]}


def test_a_reload_through_one_instance_reaches_every_instance(
    cortex_daemon, redis_server, redis_prefix, primary, backup, tmp_path
):
    config = tmp_path / "cortex.toml"
    config.write_text(worker_table("primary", primary, PRIMARY_KEYS, 1))
    a, b, c = start_fleet(cortex_daemon, redis_server, redis_prefix, config)
    before = config_version(a)
    config.write_text(
        '[server]\nstrategy = "round_robin"\n\n'
        + worker_table("primary", primary, PRIMARY_KEYS, 1)
        + worker_table("second", backup, BACKUP_KEYS, 2)
    )

    assert a.post("/admin/reload", headers=ADMIN).status_code == 200
    after = config_version(a)

    assert after != before
    for other in (b, c):
        eventually(lambda d=other: config_version(d), lambda v: v == after)
        # The reload is logged once it has been applied whole, workers included.
        eventually(other.logs, lambda text: "fleet_change_applied" in text)
        assert workers(other) == {"primary", "second"}


def test_a_worker_added_through_one_instance_answers_through_another(
    cortex_daemon, redis_server, redis_prefix, primary, backup, tmp_path
):
    config = tmp_path / "cortex.toml"
    config.write_text(worker_table("primary", primary, PRIMARY_KEYS, 1))
    a, b = start_fleet(cortex_daemon, redis_server, redis_prefix, config, count=2)
    entry = {
        "name": "extra",
        "type": "groq",
        "base_url": backup.base_url,
        "api_keys": list(BACKUP_KEYS),
        "models": ["llama-3.1-8b-instant"],
        "priority": 5,
    }

    assert a.post("/admin/workers", json=entry, headers=ADMIN).status_code == 201
    eventually(lambda: workers(b), lambda found: "extra" in found)
    answer = b.post("/v1/chat/completions", json={**HELLO, "provider": "extra"})

    assert answer.status_code == 200
    assert answer.headers["X-Cortex-Worker"] == "extra"
    assert BACKUP_KEYS[0] not in b.logs()
    assert BACKUP_KEYS[0] not in a.logs()

    assert requests.delete(f"{a.url}/admin/workers/extra", headers=ADMIN, timeout=10).ok
    eventually(lambda: workers(b), lambda found: "extra" not in found)

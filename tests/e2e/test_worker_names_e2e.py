"""Worker names live apart from the core actors' names, in check-config, boot and the admin API.

A user may call a worker ``cache``, ``pool``, ``registry``, ``keys``, ``front``,
``providers`` or ``root``: workers are registered in a name space of their own, so such a
worker boots, serves and gets its own reports, and no core actor notices it.
"""

from __future__ import annotations

import json
import os

import pytest
from admin_harness import ADMIN, ADMIN_TOKEN, chat, delete, node, restarted, wait_until
from daemon_harness import PRIMARY_KEYS, run_cortex

CORE_NAMES = ("cache", "pool", "registry", "keys", "front", "providers", "root")


def _entry(url: str, priority: int) -> dict[str, object]:
    return {
        "type": "openai",
        "base_url": url,
        "api_keys": list(PRIMARY_KEYS),
        "models": ["gpt-4o-mini"],
        "priority": priority,
    }


def _core_named(url: str) -> str:
    return json.dumps({name: _entry(url, i) for i, name in enumerate(CORE_NAMES, start=1)})


@pytest.fixture
def daemon(primary, cortex_daemon):
    return cortex_daemon(
        {
            "CORTEX_PROVIDERS": _core_named(primary.base_url),
            "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
            "CORTEX_FAULT_DRILLS": "1",
        }
    )


def test_check_config_accepts_workers_named_like_every_core_actor(primary):
    env = {"CORTEX_PROVIDERS": _core_named(primary.base_url)}

    result = run_cortex("check-config", "--env-file", os.devnull, env=env)

    assert result.returncode == 0, result.stderr
    assert "workers (7):" in result.stdout


def test_workers_named_like_every_core_actor_boot_and_each_serves_its_own_requests(daemon):
    for name in CORE_NAMES:
        response = chat(daemon, model=f"{name}/gpt-4o-mini")
        assert response.status_code == 200, response.text
        assert response.headers["X-Cortex-Worker"] == name

    # Each worker's actor got its own attempt's reports, none went to a core actor: every
    # one counts one request, finished and successful.
    stats = wait_until(lambda: _each_served_once(daemon))
    assert set(stats) == set(CORE_NAMES)


def _each_served_once(daemon) -> dict[str, object] | None:
    workers = daemon.get("/api/stats").json()["workers"]
    done = {
        name: w
        for name, w in workers.items()
        if (w["requests"], w["successes"], w["in_flight"]) == (1, 1, 0)
    }
    return done if len(done) == len(CORE_NAMES) else None


def test_the_tree_shows_core_actors_and_same_named_workers_side_by_side(daemon):
    tree = daemon.get("/admin/actors", headers=ADMIN).json()

    core = {child["name"]: child for child in tree["children"]}
    workers = {child["name"]: child for child in core["providers"]["children"]}
    assert set(workers) == set(CORE_NAMES)
    assert all(w["alive"] and w["kind"] == "worker" for w in workers.values())
    assert "entries" in core["cache"]["state"]
    assert workers["cache"]["state"]["type"] == "openai"
    assert node(daemon, "cache")["state"] == core["cache"]["state"]
    assert node(daemon, "providers/cache")["state"]["type"] == "openai"


def test_a_crash_of_the_providers_supervisor_brings_back_every_core_named_worker(daemon):
    before = node(daemon, "providers")["incarnation"]

    assert daemon.post("/admin/actors/providers/crash", headers=ADMIN).status_code == 202

    assert wait_until(lambda: restarted(daemon, "providers", before))
    workers = wait_until(lambda: _all_alive(daemon))
    assert set(workers) == set(CORE_NAMES)
    assert daemon.proc.poll() is None
    assert node(daemon, "root")["last_exit"] is None
    assert chat(daemon, model="cache/gpt-4o-mini").headers["X-Cortex-Worker"] == "cache"


def _all_alive(daemon) -> dict[str, object] | None:
    children = node(daemon, "providers")["children"] or []
    alive = {child["name"]: child for child in children if child["alive"]}
    return alive if len(alive) == len(CORE_NAMES) else None


def test_a_crash_drill_on_a_bare_core_name_crashes_the_core_actor_not_the_worker(daemon):
    worker_before = node(daemon, "providers/pool")["incarnation"]
    core_before = node(daemon, "pool")["incarnation"]

    assert daemon.post("/admin/actors/pool/crash", headers=ADMIN).status_code == 202

    assert wait_until(lambda: restarted(daemon, "pool", core_before))
    assert node(daemon, "providers/pool")["incarnation"] == worker_before
    assert daemon.post("/admin/actors/providers/pool/crash", headers=ADMIN).status_code == 202
    assert wait_until(lambda: restarted(daemon, "providers/pool", worker_before))


def test_removing_a_core_named_worker_leaves_the_core_actor_alone(daemon):
    before = node(daemon, "cache")

    response = delete(daemon, "/admin/workers/cache")

    after = node(daemon, "cache")
    assert response.status_code == 200
    assert _shape(after) == _shape(before)
    assert after["alive"] is True
    assert "cache" not in {w["name"] for w in daemon.get("/api/workers").json()["workers"]}
    assert "cache" not in {c["name"] for c in node(daemon, "providers")["children"]}


def test_deleting_a_core_actor_that_is_no_worker_is_404_and_changes_nothing(cortex_daemon, primary):
    providers = json.dumps({"primary": _entry(primary.base_url, 1)})
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers,
            "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
            "CORTEX_FAULT_DRILLS": "1",
        }
    )
    first = node(daemon, "pool")["incarnation"]
    daemon.post("/admin/actors/pool/crash", headers=ADMIN)
    wait_until(lambda: restarted(daemon, "pool", first))
    before = daemon.get("/admin/actors", headers=ADMIN).json()

    responses = [delete(daemon, f"/admin/workers/{name}") for name in CORE_NAMES]

    after = daemon.get("/admin/actors", headers=ADMIN).json()
    assert [r.status_code for r in responses] == [404] * len(CORE_NAMES)
    assert {r.json()["error"]["code"] for r in responses} == {"unknown_worker"}
    assert _shape(after) == _shape(before)
    assert node(daemon, "pool")["restarts"] == 1


def _shape(tree: dict[str, object]) -> list[tuple[object, ...]]:
    """Every node's identity and history, without the fields that move by themselves."""
    rows = [(tree["name"], tree["incarnation"], tree["restarts"], json.dumps(tree["last_exit"]))]
    for child in tree.get("children") or []:
        rows.extend(_shape(child))
    return rows


def test_a_worker_named_like_a_core_actor_can_be_added_at_run_time(cortex_daemon, primary):
    providers = json.dumps({"primary": _entry(primary.base_url, 1)})
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers, "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN})

    added = daemon.post(
        "/admin/workers", headers=ADMIN, json={"name": "keys", **_entry(primary.base_url, 2)}
    )

    assert added.status_code == 201, added.text
    assert chat(daemon, model="keys/gpt-4o-mini").headers["X-Cortex-Worker"] == "keys"
    assert "rotation" in node(daemon, "keys")["state"]

"""The admin API against the real daemon: token, tree view, workers, keys and drills."""

from __future__ import annotations

import json
import threading

import pytest
import requests
from admin_harness import ADMIN, ADMIN_TOKEN, chat, delete, node, restarted, wait_until
from daemon_harness import PRIMARY_KEYS, providers_json

from cortex.simulated import Fault, SimulatedOpenAI


@pytest.fixture
def admin_daemon(cortex_daemon, primary, local):
    return cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary, local=local),
            "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
            "CORTEX_FAULT_DRILLS": "1",
        }
    )


def test_without_a_configured_token_the_admin_api_is_off_and_says_so(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.get("/admin/actors", headers={"Authorization": "Bearer anything"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "admin_disabled"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_a_missing_or_wrong_admin_token_gets_401(admin_daemon, headers):
    response = admin_daemon.get("/admin/actors", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_admin_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_tree_shows_every_actor_with_its_supervision_details(admin_daemon):
    tree = admin_daemon.get("/admin/actors", headers=ADMIN).json()

    children = {child["name"]: child for child in tree["children"]}
    providers = {child["name"]: child for child in children["providers"]["children"]}
    assert tree["kind"] == "supervisor"
    assert (tree["strategy"], tree["intensity"]) == ("one_for_one", 5)
    assert {"keys", "registry", "providers", "pool", "front"} <= set(children)
    assert children["providers"]["strategy"] == "one_for_one"
    assert set(providers) == {"primary", "local"}
    for entry in [children["keys"], children["pool"], providers["primary"]]:
        assert entry["alive"] is True
        assert entry["incarnation"].startswith("urn:")
        assert entry["restarts"] == 0
        assert entry["last_exit"] is None
        assert entry["mailbox"] >= 0
        assert entry["uptime_seconds"] >= 0


def test_actor_state_summaries_come_from_the_shared_tables(admin_daemon):
    assert chat(admin_daemon).status_code == 200
    # The provider actor publishes the outcome it was told just after the response ended.
    wait_until(lambda: node(admin_daemon, "primary")["state"]["successes"] == 1)

    keys = node(admin_daemon, "keys")["state"]
    primary = node(admin_daemon, "primary")["state"]
    pool = node(admin_daemon, "pool")["state"]
    cache = node(admin_daemon, "cache")["state"]
    front = node(admin_daemon, "front")["state"]

    assert [k["key"] for k in keys["workers"]["primary"]] == ["sk-pri***0001", "sk-pri***0002"]
    assert sum(k["requests"] for k in keys["workers"]["primary"]) == 1
    assert primary["successes"] == 1
    assert primary["breaker"] == "closed"
    assert pool["strategy"] == "priority"
    assert pool["recent_plans"][-1]["workers"][0] == "primary"
    assert cache == {"entries": 0, "bytes": 0, "hits": 0, "misses": 0, "evictions": 0}
    assert front == {"serving": True, "port": int(admin_daemon.url.rsplit(":", 1)[1])}


def test_an_unknown_actor_is_a_404(admin_daemon):
    response = admin_daemon.get("/admin/actors/nobody", headers=ADMIN)

    assert response.status_code == 404


def test_a_worker_added_at_run_time_is_supervised_and_routable(admin_daemon):
    with SimulatedOpenAI("extra", keys=("sk-extra-key-0000000001",), chunk_delay=0.0) as extra:
        entry = {
            "name": "extra",
            "type": "openai",
            "base_url": extra.base_url,
            "api_keys": ["sk-extra-key-0000000001"],
            "models": ["gpt-4o-mini"],
            "priority": 9,
        }
        added = admin_daemon.post("/admin/workers", json=entry, headers=ADMIN)
        answer = chat(admin_daemon, model="extra/gpt-4o-mini")
        extra_node = node(admin_daemon, "extra")

    assert added.status_code == 201
    assert added.json()["name"] == "extra"
    assert answer.status_code == 200
    assert answer.headers["X-Cortex-Worker"] == "extra"
    assert extra_node["alive"] is True
    assert "sk-extra-key" not in json.dumps(added.json())


def test_an_invalid_worker_entry_is_rejected_with_every_problem(admin_daemon):
    response = admin_daemon.post(
        "/admin/workers",
        json={"name": "bad", "type": "openai", "base_url": "ftp://x"},
        headers=ADMIN,
    )

    problems = response.json()["error"]["problems"]
    assert response.status_code == 400
    assert any("base_url" in p for p in problems)
    assert any("API key" in p for p in problems)


def test_adding_a_worker_twice_is_a_400(admin_daemon, primary):
    entry = {"name": "primary", "type": "openai", "api_keys": ["sk-x-000000000000"]}

    response = admin_daemon.post("/admin/workers", json=entry, headers=ADMIN)

    assert response.status_code == 400


def test_removing_a_worker_lets_its_in_flight_stream_finish(cortex_daemon):
    with SimulatedOpenAI("slow", keys=PRIMARY_KEYS, chunk_delay=0.15) as slow:
        daemon = cortex_daemon(
            {"CORTEX_PROVIDERS": providers_json(slow), "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}
        )
        stream = daemon.post(
            "/v1/chat/completions",
            json={"stream": True, "messages": [{"role": "user", "content": "a long story"}]},
            stream=True,
        )
        lines = stream.iter_lines()
        first = next(line for line in lines if line)
        wait_until(lambda: node(daemon, "primary")["state"]["in_flight"] == 1)
        removal: dict[str, requests.Response] = {}
        remover = threading.Thread(
            target=lambda: removal.update(response=delete(daemon, "/admin/workers/primary"))
        )
        remover.start()
        rest = [line.decode() for line in lines if line]
        remover.join(10)
        workers = daemon.get("/api/workers").json()["workers"]

    assert first.startswith(b"data: ")
    assert removal["response"].status_code == 200
    assert removal["response"].json() == {"removed": "primary", "draining": 1}
    assert rest[-1] == "data: [DONE]"
    assert any('"finish_reason":"stop"' in line for line in rest)
    assert workers == []


def test_removing_an_unknown_worker_is_a_404(admin_daemon):
    response = delete(admin_daemon, "/admin/workers/nobody")

    assert response.status_code == 404


def test_a_blocked_key_can_be_unblocked_by_its_masked_id(admin_daemon, primary):
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], times=1, retry_after=600)
    assert chat(admin_daemon).status_code == 200
    keys = node(admin_daemon, "keys")["state"]["workers"]["primary"]
    blocked = next(k for k in keys if k["blocked"])

    response = admin_daemon.post(f"/admin/keys/primary/{blocked['key_id']}/unblock", headers=ADMIN)
    after = node(admin_daemon, "keys")["state"]["workers"]["primary"]

    assert response.status_code == 200
    assert response.json()["was_blocked"] is True
    assert not any(k["blocked"] for k in after)


def test_a_key_retired_until_reload_shows_in_the_tree_without_an_end(admin_daemon, primary):
    primary.set_fault(Fault.UNAUTHORIZED, key=PRIMARY_KEYS[0], times=1)
    assert chat(admin_daemon, "retire one key").status_code == 200

    keys = node(admin_daemon, "keys")["state"]["workers"]["primary"]

    retired = next(k for k in keys if k["blocked"])
    assert retired["blocked_until"] is None


def test_unblocking_an_unknown_key_is_a_404(admin_daemon):
    response = admin_daemon.post("/admin/keys/primary/knotakey/unblock", headers=ADMIN)

    assert response.status_code == 404


def test_fault_drills_are_refused_unless_enabled(cortex_daemon, primary):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}
    )

    response = daemon.post("/admin/actors/pool/crash", headers=ADMIN)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "drills_disabled"


def test_a_drill_crashes_the_actor_and_its_supervisor_restarts_it(admin_daemon):
    before = node(admin_daemon, "keys")

    response = admin_daemon.post("/admin/actors/keys/crash", headers=ADMIN)
    after = wait_until(lambda: restarted(admin_daemon, "keys", before["incarnation"]))

    assert response.status_code == 202
    assert after["restarts"] == 1
    assert "FaultDrill" in after["last_exit"]["reason"]
    assert after["last_exit"]["at"] is not None
    assert admin_daemon.events("child_terminated")[-1]["child_id"] == "keys"
    assert chat(admin_daemon).status_code == 200


def test_the_response_cache_can_be_cleared(admin_daemon):
    body = {"temperature": 0}
    assert chat(admin_daemon, **body).status_code == 200
    assert chat(admin_daemon, **body).headers["X-Cortex-Cache"] == "hit"

    response = admin_daemon.post("/admin/cache/clear", headers=ADMIN)

    assert response.status_code == 200
    assert response.json()["cleared"] == 1
    assert chat(admin_daemon, **body).headers["X-Cortex-Cache"] == "miss"

"""Gateway key records through the real daemon: the admin API, the CLI, who gets in."""

from __future__ import annotations

import json

import requests
from daemon_harness import run_cortex
from tenant_harness import ADMIN, chat, chats_served, create_key, priced_env


def test_a_created_key_is_shown_once_and_listed_masked(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))

    created = create_key(cortex, team="search", models=["gpt-*"], rpm=10)
    listed = cortex.get("/admin/gateway-keys", headers=ADMIN).json()["data"]
    one = cortex.get(f"/admin/gateway-keys/{created['id']}", headers=ADMIN).json()

    assert created["key"].startswith("ck-")
    assert [k["id"] for k in listed] == [created["id"]]
    assert created["key"] not in str(listed) + str(one)
    assert one["key"] == listed[0]["key"]
    assert one["team"] == "search"
    assert one["rpm"] == 10


def test_a_record_key_is_served_and_any_other_key_refused(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    created = create_key(cortex)

    served = chat(cortex, created["key"])
    unknown = chat(cortex, "ck-not-a-key")
    bare = cortex.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
    )

    assert served.status_code == 200, served.text
    assert unknown.status_code == 401
    assert bare.status_code == 401


def test_an_expired_key_is_refused(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    created = create_key(cortex, expires_at="2020-01-01T00:00:00Z")

    assert chat(cortex, created["key"]).status_code == 401


def test_a_model_outside_the_allow_list_is_forbidden_before_any_upstream_call(
    cortex_daemon, primary
):
    cortex = cortex_daemon(priced_env(primary))
    created = create_key(cortex, models=["gpt-4o-mini"])
    before = chats_served(primary)

    refused = chat(cortex, created["key"], model="primary/other-model")
    allowed = chat(cortex, created["key"], model="gpt-4o-mini")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert allowed.status_code == 200
    assert chats_served(primary) == before + 1


def test_update_rotate_and_bad_fields(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    created = create_key(cortex)
    path = f"/admin/gateway-keys/{created['id']}"

    patched = requests.patch(cortex.url + path, json={"rpm": 3}, headers=ADMIN, timeout=10)
    bad = requests.patch(
        cortex.url + path, json={"rpm": -1, "colour": 1}, headers=ADMIN, timeout=10
    )
    rotated = cortex.post(path + "/rotate", headers=ADMIN)
    missing = cortex.get("/admin/gateway-keys/gk_nope", headers=ADMIN)

    assert patched.status_code == 200
    assert patched.json()["rpm"] == 3
    assert bad.status_code == 400
    assert "colour" in bad.json()["error"]["message"]
    assert rotated.status_code == 200
    assert chat(cortex, created["key"]).status_code == 401
    assert chat(cortex, rotated.json()["key"]).status_code == 200
    assert missing.status_code == 404


def test_static_keys_keep_working_without_limits_beside_records(cortex_daemon, primary):
    cortex = cortex_daemon({**priced_env(primary), "CORTEX_API_KEYS": "static-gateway-key-0001"})
    create_key(cortex, rpm=1)

    answers = [chat(cortex, "static-gateway-key-0001").status_code for _ in range(3)]

    assert answers == [200, 200, 200]


def test_the_cli_creates_lists_updates_rotates_and_revokes(tmp_path):
    db = str(tmp_path / "keys.db")

    def cli(*args: str) -> dict:
        done = run_cortex(*args, "--db", db)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    created = cli("keys", "create", "batch-jobs", "--team", "data", "--rpm", "5", "--models", "a,b")
    updated = cli("keys", "update", created["id"], "--tpm", "1000")
    rotated = cli("keys", "rotate", created["id"])
    revoked = cli("keys", "revoke", created["id"])
    listed = cli("keys", "list")

    assert created["models"] == ["a", "b"]
    assert updated["tpm"] == 1000
    assert updated["rpm"] == 5
    assert rotated["key"] != created["key"]
    assert revoked["status"] == "revoked"
    assert listed["data"][0]["status"] == "revoked"
    assert created["key"] not in str(listed)
    assert rotated["key"] not in str(listed)


def test_the_cache_keeps_each_record_keys_answers_apart(cortex_daemon, primary):
    cortex = cortex_daemon(priced_env(primary))
    alice, bob = create_key(cortex)["key"], create_key(cortex)["key"]

    seen = [
        chat(cortex, key, words="Who wrote Hamlet?", temperature=0).headers["X-Cortex-Cache"]
        for key in (alice, bob, alice, bob)
    ]

    assert seen == ["miss", "miss", "hit", "hit"]


def test_protected_monitoring_takes_a_record_key_and_the_spend_report_checks_its_days(
    cortex_daemon, primary
):
    cortex = cortex_daemon({**priced_env(primary), "CORTEX_PROTECT_MONITORING": "1"})
    auth = {"Authorization": f"Bearer {create_key(cortex)['key']}"}

    bare = cortex.get("/api/spend")
    keyed = cortex.get("/api/spend", headers=auth)
    bad_day = cortex.get("/api/spend?since=yesterday", headers=auth)

    assert bare.status_code == 401
    assert keyed.status_code == 200
    assert keyed.json()["by_key"] == {}
    assert bad_day.status_code == 400
    assert bad_day.json()["error"]["code"] == "invalid_day"

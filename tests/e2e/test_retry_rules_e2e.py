"""Retrying a route's target and waiting out key rests, through a real daemon.

These are the behaviours a fault-injection benchmark scored as partial: a route's primary
abandoned for a different model after one transient failure, and a single-key worker
shut out of later passes after its key rested.
"""

from __future__ import annotations

import json

from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, providers_json

from cortex.simulated import Fault, SimulatedOpenAI

HELLO = {"messages": [{"role": "user", "content": "Hello"}]}
SMART = {"smart": ["primary/gpt-4o-mini", "backup/llama-3.1-8b-instant"]}


def chats(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def ask_smart(daemon):
    return daemon.post(
        "/v1/chat/completions", json={**HELLO, "model": "smart", "stream": True}, timeout=30
    )


def route_daemon(cortex_daemon, primary, backup, routes=SMART):
    return cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary, backup),
            "CORTEX_ROUTES": json.dumps(routes),
        }
    )


def test_a_route_s_primary_that_answers_one_500_serves_the_request_itself(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.SERVER_ERROR, times=1)
    daemon = route_daemon(cortex_daemon, primary, backup)

    response = ask_smart(daemon)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "primary"
    assert '"error"' not in response.text
    assert response.text.rstrip().endswith("data: [DONE]")
    assert len(chats(primary)) == 2
    assert chats(backup) == []


def test_a_429_with_a_short_retry_after_on_a_route_s_primary_is_waited_out(
    cortex_daemon, primary, backup
):
    # Both primary keys are told to come back in a second.
    primary.set_fault(Fault.RATE_LIMIT, retry_after=1, times=2)
    daemon = route_daemon(cortex_daemon, primary, backup)

    response = ask_smart(daemon)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "primary"
    assert [r.api_key for r in chats(primary)] == [*PRIMARY_KEYS, PRIMARY_KEYS[0]]
    assert chats(backup) == []


def test_a_retry_after_beyond_the_longest_wait_sends_a_route_to_its_next_model(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.RATE_LIMIT, retry_after=10, times=2)
    daemon = route_daemon(cortex_daemon, primary, backup)

    response = ask_smart(daemon)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    assert len(chats(primary)) == 2
    assert len(chats(backup)) == 1


def test_interchangeable_workers_of_one_model_in_a_route_fail_over_at_once(
    cortex_daemon, primary, backup
):
    twin_keys = ("sk-twin-key-one-00000001",)
    with SimulatedOpenAI("twin", keys=twin_keys, chunk_delay=0.0) as twin:
        providers = json.loads(providers_json(primary, backup))
        providers["twin"] = {**providers["primary"], "base_url": twin.base_url}
        providers["twin"]["api_keys"] = list(twin_keys)
        routes = {
            "smart": ["primary/gpt-4o-mini", "twin/gpt-4o-mini", "backup/llama-3.1-8b-instant"]
        }
        primary.set_fault(Fault.SERVER_ERROR, times=1)
        daemon = cortex_daemon(
            {"CORTEX_PROVIDERS": json.dumps(providers), "CORTEX_ROUTES": json.dumps(routes)}
        )

        response = ask_smart(daemon)

        assert response.status_code == 200
        assert response.headers["X-Cortex-Worker"] == "twin"
        assert len(chats(primary)) == 1
        assert len(chats(twin)) == 1
    assert chats(backup) == []


def test_a_single_key_worker_whose_key_rested_a_second_serves_after_the_wait(cortex_daemon, backup):
    backup.set_fault(Fault.RATE_LIMIT, retry_after=1, times=1)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(None, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    assert [r.api_key for r in chats(backup)] == [BACKUP_KEYS[0]] * 2


def test_when_only_resting_keys_are_left_the_answer_is_429_with_retry_after(cortex_daemon, backup):
    # The worker first fails on its own, then its only key is told to rest for 30 s.
    backup.set_fault(Fault.SERVER_ERROR, key=BACKUP_KEYS[0], times=1)
    backup.set_fault(Fault.RATE_LIMIT, retry_after=30)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(None, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 429
    assert 25 <= int(response.headers["Retry-After"]) <= 30
    error = response.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert [a["reason"] for a in error["attempts"]][:2] == ["upstream_error", "rate_limited"]

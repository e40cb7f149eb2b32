"""Waiting out key rests, through a real daemon.

A fault-injection benchmark scored this as partial: a single-key worker was shut out of
later passes after its key rested, so the request ended in 502 with no_usable_key.
"""

from __future__ import annotations

from daemon_harness import BACKUP_KEYS, providers_json

from cortex.simulated import Fault

HELLO = {"messages": [{"role": "user", "content": "Hello"}]}


def chats(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


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

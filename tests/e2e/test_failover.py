"""Failover and key rotation through a real daemon, driven by scripted upstream faults."""

from __future__ import annotations

import json
import time

import pytest
import sseclient
from daemon_harness import PRIMARY_KEYS, providers_json

from cortex.simulated import Fault

HELLO = {"messages": [{"role": "user", "content": "Hello"}]}


def chat_requests(server):
    return [r for r in server.requests if r.path.endswith(("/chat/completions", "/api/chat"))]


def test_a_rate_limited_key_hands_the_request_to_the_next_key_and_rests(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], retry_after=120)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "primary"
    assert [r.api_key for r in chat_requests(primary)] == list(PRIMARY_KEYS)
    assert chat_requests(backup) == []
    keys = daemon.get("/api/stats").json()["workers"]["primary"]["keys"]
    assert keys[0]["blocked"] is True
    assert keys[0]["block_reason"] == "rate_limited"
    assert keys[1]["blocked"] is False


def test_a_resting_key_is_not_tried_again_until_its_retry_after_passes(cortex_daemon, primary):
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], retry_after=120, times=1)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    for _ in range(3):
        assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200

    assert [r.api_key for r in chat_requests(primary)] == [PRIMARY_KEYS[0]] + [PRIMARY_KEYS[1]] * 3


def test_when_every_key_of_the_first_worker_fails_the_next_worker_serves(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.RATE_LIMIT, retry_after=60)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    assert len(chat_requests(primary)) == 2
    assert "Hello from backup" in response.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.UNAUTHORIZED,
        Fault.SERVER_ERROR,
        Fault.OVERLOADED,
        Fault.EMPTY_STREAM,
        Fault.STREAM_ERROR,
    ],
)
def test_a_worker_side_failure_before_the_first_token_moves_to_the_next_worker(
    cortex_daemon, primary, backup, fault
):
    primary.set_fault(fault)
    primary.strike_after = 0
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True}, stream=True)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    body = response.text
    assert "Hello from backup" in "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in body.splitlines()
        if line.startswith("data: {") and json.loads(line[6:])["choices"]
    )
    # A rejected key says nothing of the worker's other key, so both are tried first.
    assert len(chat_requests(primary)) == (2 if fault is Fault.UNAUTHORIZED else 1)


def test_a_hanging_upstream_is_abandoned_at_its_timeout_for_the_next_worker(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.HANG)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup, timeout=1.0)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"


def test_a_refused_connection_is_retried_with_backoff_then_reported(cortex_daemon, backup):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(None, backup, local_url="http://127.0.0.1:9")}
    )

    response = daemon.post("/v1/chat/completions", json={**HELLO, "model": "local/llama3.1:8b"})

    assert response.status_code == 502
    attempts = response.json()["error"]["attempts"]
    assert [(a["worker"], a["reason"]) for a in attempts] == [("local", "connect_error")] * 3


def wait_for_status(daemon, worker, status, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = {w["name"]: w for w in daemon.get("/api/workers").json()["workers"]}
        if workers[worker]["status"] == status:
            return workers[worker]
        time.sleep(0.05)
    raise AssertionError(f"{worker} never became {status}")


def test_when_every_worker_is_down_the_client_gets_502_with_each_attempts_reason(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.SERVER_ERROR)
    backup.set_fault(Fault.UNAUTHORIZED)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    reasons = [(a["worker"], a["reason"]) for a in error["attempts"]]
    assert reasons[:2] == [("primary", "upstream_error"), ("backup", "invalid_key")]
    assert set(reasons[2:]) <= {("primary", "upstream_error"), ("backup", "no_usable_key")}
    assert all(key not in json.dumps(error) for key in PRIMARY_KEYS)


def test_a_worker_its_probe_found_down_is_skipped_while_others_can_serve(cortex_daemon, backup):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(None, backup, local_url="http://127.0.0.1:9")}
    )
    wait_for_status(daemon, "local", "unavailable")

    response = daemon.post(
        "/v1/chat/completions", json={**HELLO, "strategy": "local_first"}, headers={}
    )

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"


def test_when_every_worker_looks_down_they_are_still_tried_as_a_last_resort(cortex_daemon, backup):
    backup.set_fault(Fault.SERVER_ERROR, probes=True, times=1)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(None, backup)})
    wait_for_status(daemon, "backup", "unavailable")

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    wait_for_status(daemon, "backup", "available")


def test_when_every_key_rests_the_client_gets_429_with_retry_after(cortex_daemon, primary):
    primary.set_fault(Fault.RATE_LIMIT, retry_after=30)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 429
    assert 25 <= int(response.headers["Retry-After"]) <= 30
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_a_request_the_upstream_rejects_is_returned_as_is_without_failover_or_key_block(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.BAD_REQUEST)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert chat_requests(backup) == []
    keys = daemon.get("/api/stats").json()["workers"]["primary"]["keys"]
    assert not any(k["blocked"] for k in keys)


def test_an_upstream_dropping_mid_stream_ends_the_stream_with_an_error_event(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.DROP_MID_STREAM)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True}, stream=True)

    assert response.headers["X-Cortex-Worker"] == "primary"
    lines = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert "error" in json.loads(lines[-2][6:])
    assert any('"content"' in line for line in lines[:-2])
    assert chat_requests(backup) == []


def test_api_chat_streams_content_events_then_done_with_worker_and_usage(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.post("/api/chat", json=HELLO, stream=True)
    events = list(sseclient.SSEClient(response).events())

    contents = [json.loads(e.data)["content"] for e in events if e.event == "message"]
    assert len(contents) > 1
    assert "Hello" in "".join(contents)
    done = json.loads(events[-1].data)
    assert events[-1].event == "done"
    assert done["worker"] == "primary"
    assert done["usage"]["completion_tokens"] > 0


def test_api_chat_reports_a_mid_stream_failure_as_an_error_event(cortex_daemon, primary):
    primary.set_fault(Fault.DROP_MID_STREAM)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.post("/api/chat", json=HELLO, stream=True)
    events = list(sseclient.SSEClient(response).events())

    assert events[-1].event == "error"
    assert json.loads(events[-1].data)["worker"] == "primary"


def test_api_chat_can_pin_a_provider(cortex_daemon, primary, local):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, local=local)})

    response = daemon.post("/api/chat", json={**HELLO, "provider": "local"}, stream=True)
    events = list(sseclient.SSEClient(response).events())

    assert response.headers["X-Cortex-Worker"] == "local"
    assert json.loads(events[-1].data)["worker"] == "local"


def test_a_rejected_key_hands_the_request_to_the_worker_s_next_key(cortex_daemon, primary):
    primary.set_fault(Fault.UNAUTHORIZED, key=PRIMARY_KEYS[0])
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.post("/api/chat", json=HELLO)

    assert response.status_code == 200
    assert "event: done" in response.text
    assert [r.api_key for r in chat_requests(primary)] == list(PRIMARY_KEYS)

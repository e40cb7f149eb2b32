"""The access line of a real daemon: one JSON line per request with its routing story."""

from __future__ import annotations

import time

from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, providers_json

from cortex.simulated import Fault

HELLO = {"messages": [{"role": "user", "content": "Hello"}]}


def access_line(daemon, request_id: str) -> dict:
    """The request's access line; it is written just after the last byte is sent."""
    deadline = time.monotonic() + 5.0
    while True:
        lines = [e for e in daemon.events("request") if e.get("request_id") == request_id]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(lines) == 1, lines
    return lines[0]


def test_the_client_request_id_is_returned_and_logged(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.post("/api/chat", json=HELLO, headers={"X-Request-ID": "trace-abc-123"})

    assert response.headers["X-Request-ID"] == "trace-abc-123"
    line = access_line(daemon, "trace-abc-123")
    assert line["path"] == "/api/chat"
    assert line["method"] == "POST"


def test_a_request_without_an_id_gets_a_generated_one_in_the_header_and_the_log(
    cortex_daemon, primary
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = daemon.get("/healthz")

    request_id = response.headers["X-Request-ID"]
    assert len(request_id) >= 16
    assert access_line(daemon, request_id)["status"] == 200


def test_a_served_stream_logs_worker_model_status_ttft_total_time_and_tokens(
    cortex_daemon, primary
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    daemon.post("/api/chat", json=HELLO, headers={"X-Request-ID": "served-1"})

    line = access_line(daemon, "served-1")
    assert line["worker"] == "primary"
    assert line["model"] == "gpt-4o-mini"
    assert line["status"] == 200
    assert line["attempts"] == 1
    assert line["failures"] == []
    assert line["ttft_ms"] >= 0
    assert line["duration_ms"] >= line["ttft_ms"]
    assert line["tokens_in"] > 0
    assert line["tokens_out"] > 0
    assert line["outcome"] == "completed"


def test_every_failed_attempt_is_logged_with_its_worker_masked_key_and_reason(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], retry_after=120)
    primary.set_fault(Fault.SERVER_ERROR, key=PRIMARY_KEYS[1])
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    daemon.post("/v1/chat/completions", json=HELLO, headers={"X-Request-ID": "failover-1"})

    line = access_line(daemon, "failover-1")
    assert line["worker"] == "backup"
    assert line["attempts"] == 3
    assert line["failures"] == [
        {"worker": "primary", "key": "sk-pri***0001", "reason": "rate_limited"},
        {"worker": "primary", "key": "sk-pri***0002", "reason": "upstream_error"},
    ]


def test_a_request_that_fails_everywhere_logs_its_status_and_every_reason(cortex_daemon, primary):
    primary.set_fault(Fault.OVERLOADED)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    daemon.post("/v1/chat/completions", json=HELLO, headers={"X-Request-ID": "failed-1"})

    line = access_line(daemon, "failed-1")
    assert line["status"] == 502
    assert line["worker"] is None
    reasons = {f["reason"] for f in line["failures"]}
    assert reasons == {"overloaded"}
    assert line["attempts"] == len(line["failures"])


def test_no_secret_ever_reaches_the_log(cortex_daemon, primary, backup):
    primary.set_fault(Fault.RATE_LIMIT, retry_after=60)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    for _ in range(3):
        daemon.post("/v1/chat/completions", json=HELLO)
    daemon.get("/metrics")
    daemon.get("/api/stats")

    logs = daemon.logs()
    assert all(key not in logs for key in (*PRIMARY_KEYS, *BACKUP_KEYS))

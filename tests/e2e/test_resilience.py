"""Routing strategies, deadlines, breakers, cancellation and mid-stream recovery, end to end."""

from __future__ import annotations

import json
import time

import pytest
import requests
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS

from cortex.simulated import Fault, SimulatedOpenAI

HELLO = {"messages": [{"role": "user", "content": "Hello there friend"}]}


def entries(primary=None, backup=None, local=None, overrides=None):
    found = {}
    if primary is not None:
        found["primary"] = {
            "type": "openai",
            "base_url": primary.base_url,
            "api_keys": list(PRIMARY_KEYS),
            "models": ["gpt-4o-mini"],
            "priority": 1,
            "timeout": 5,
        }
    if backup is not None:
        found["backup"] = {
            "type": "groq",
            "base_url": backup.base_url,
            "api_keys": list(BACKUP_KEYS),
            "models": ["llama-3.1-8b-instant"],
            "priority": 2,
            "timeout": 5,
        }
    if local is not None:
        found["local"] = {
            "type": "ollama",
            "base_url": local.base_url,
            "models": ["llama3.1:8b"],
            "priority": 3,
            "timeout": 5,
        }
    for name, extra in (overrides or {}).items():
        found[name].update(extra)
    return json.dumps(found)


def chats(server):
    return [r for r in server.requests if r.path.endswith(("/chat/completions", "/api/chat"))]


def content_of(response):
    text = []
    for line in response.text.splitlines():
        if line.startswith("data: {"):
            chunk = json.loads(line[6:])
            if chunk.get("choices"):
                text.append(chunk["choices"][0]["delta"].get("content") or "")
    return "".join(text)


def workers(daemon):
    return {w["name"]: w for w in daemon.get("/api/workers").json()["workers"]}


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_the_strategy_header_reorders_the_plan_for_one_request(cortex_daemon, primary, local):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary, local=local)})

    default = daemon.post("/v1/chat/completions", json=HELLO)
    local_first = daemon.post(
        "/v1/chat/completions", json=HELLO, headers={"X-Cortex-Strategy": "local_first"}
    )

    assert default.headers["X-Cortex-Worker"] == "primary"
    assert local_first.headers["X-Cortex-Worker"] == "local"


def test_an_unknown_strategy_header_is_a_400(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary)})

    response = daemon.post(
        "/v1/chat/completions", json=HELLO, headers={"X-Cortex-Strategy": "fastest-please"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_header"


def test_the_timeout_header_ends_a_hanging_request_with_504_and_its_attempts(
    cortex_daemon, primary
):
    primary.set_fault(Fault.HANG)
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": entries(
                primary, overrides={"primary": {"timeout": 60, "first_token_timeout": 60}}
            )
        }
    )

    started = time.monotonic()
    response = daemon.post("/v1/chat/completions", json=HELLO, headers={"X-Cortex-Timeout": "1"})

    assert response.status_code == 504
    assert time.monotonic() - started < 10
    error = response.json()["error"]
    assert error["code"] == "deadline_exceeded"
    assert [a["worker"] for a in error["attempts"]] == ["primary"]


def test_a_failing_worker_trips_its_breaker_and_costs_no_time_until_the_trial(
    cortex_daemon, primary
):
    primary.set_fault(Fault.SERVER_ERROR)
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": entries(primary),
            "CORTEX_BREAKER_FAILURES": "2",
            "CORTEX_BREAKER_COOLDOWN": "1.5",
            "CORTEX_RETRY_PASSES": "0",
        }
    )
    for _ in range(2):
        assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 502
    wait_until(lambda: workers(daemon)["primary"]["breaker"] == "open", timeout=2)
    assert 0 < workers(daemon)["primary"]["next_trial_in"] <= 1.5

    refused = daemon.post("/v1/chat/completions", json=HELLO)
    assert refused.status_code == 503
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert len(chats(primary)) == 2

    primary.clear_faults()
    wait_until(lambda: workers(daemon)["primary"]["breaker"] == "half_open", timeout=5)
    assert daemon.post("/v1/chat/completions", json=HELLO).headers["X-Cortex-Worker"] == "primary"
    wait_until(lambda: workers(daemon)["primary"]["breaker"] == "closed")


def test_a_malformed_chunk_is_skipped_and_the_answer_completes(cortex_daemon, primary):
    primary.set_fault(Fault.MALFORMED_CHUNK)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary)})

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True})

    assert "Hello from primary" in content_of(response)
    assert "broken" not in response.text
    assert '"error"' not in response.text
    assert response.text.rstrip().endswith("data: [DONE]")


def test_a_stream_that_ends_without_its_sentinel_is_finished_at_once(cortex_daemon, primary):
    primary.set_fault(Fault.NO_SENTINEL)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary)})

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True}, timeout=4)

    assert "Hello from primary" in content_of(response)
    assert '"finish_reason":"stop"' in response.text
    assert '"error"' not in response.text
    assert response.text.rstrip().endswith("data: [DONE]")


def test_a_non_streaming_request_fails_over_even_after_the_first_token(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.DROP_MID_STREAM)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary, backup)})

    response = daemon.post("/v1/chat/completions", json=HELLO)

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    assert "Hello from backup" in response.json()["choices"][0]["message"]["content"]


def test_a_broken_stream_is_continued_by_a_prefill_capable_worker(cortex_daemon, primary, backup):
    primary.set_fault(Fault.DROP_MID_STREAM)
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": entries(
                primary, backup, overrides={"backup": {"supports_prefill": True}}
            )
        }
    )

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True})

    assert response.headers["X-Cortex-Worker"] == "primary"
    assert '"error"' not in response.text
    text = content_of(response)
    continuation = chats(backup)[0].body["messages"]
    assert continuation[-1]["role"] == "assistant"
    assert text.startswith(continuation[-1]["content"])
    assert text.endswith(content_of_reply(backup))


def content_of_reply(server):
    return "Hello from backup! You said: " + "Hello there friend"


def test_a_worker_not_declared_prefill_capable_is_never_sent_a_prefill(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.DROP_MID_STREAM)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary, backup)})

    response = daemon.post("/v1/chat/completions", json={**HELLO, "stream": True})

    assert '"error"' in response.text
    assert chats(backup) == []


@pytest.mark.parametrize(
    ("gateway_wide", "route_says", "continued"),
    [("1", False, False), ("0", True, True), ("0", None, False)],
)
def test_a_route_decides_whether_its_broken_streams_are_continued(
    cortex_daemon, primary, backup, gateway_wide, route_says, continued
):
    primary.set_fault(Fault.DROP_MID_STREAM)
    route = {"targets": ["primary/gpt-4o-mini", "backup/llama-3.1-8b-instant"]}
    if route_says is not None:
        route["continuation"] = route_says
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": entries(
                primary, backup, overrides={"backup": {"supports_prefill": True}}
            ),
            "CORTEX_ROUTES": json.dumps({"smart": route}),
            "CORTEX_CONTINUATION": gateway_wide,
        }
    )

    response = daemon.post("/v1/chat/completions", json={**HELLO, "model": "smart", "stream": True})

    assert ('"error"' not in response.text) is continued
    assert (len(chats(backup)) == 1) is continued


def test_a_client_that_disconnects_cancels_its_upstream_and_frees_the_worker(cortex_daemon):
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.5) as slow:
        daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(slow)})
        with requests.post(
            daemon.url + "/v1/chat/completions",
            json={**HELLO, "stream": True},
            stream=True,
            timeout=10,
        ) as response:
            lines = response.iter_lines()
            next(line for line in lines if line)
            wait_until(lambda: workers(daemon)["primary"]["in_flight"] == 1, timeout=3)
        wait_until(lambda: workers(daemon)["primary"]["in_flight"] == 0, timeout=3)
        stats = daemon.get("/api/stats").json()["workers"]["primary"]
        daemon.stop()
    assert stats["failures"] == 0
    assert daemon.events("attempt_cancelled")


def test_a_saturated_worker_makes_extra_requests_wait_for_a_free_slot(cortex_daemon):
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.1) as slow:
        daemon = cortex_daemon(
            {"CORTEX_PROVIDERS": entries(slow, overrides={"primary": {"max_concurrent": 1}})}
        )
        first = requests.post(
            daemon.url + "/v1/chat/completions",
            json={**HELLO, "stream": True},
            stream=True,
            timeout=10,
        )
        first_lines = first.iter_lines()
        next(line for line in first_lines if line)
        waiting = daemon.post("/v1/chat/completions", json=HELLO)
        rejected_started = time.monotonic()
        second_first = requests.post(
            daemon.url + "/v1/chat/completions",
            json={**HELLO, "stream": True},
            stream=True,
            timeout=10,
        )
        second_lines = second_first.iter_lines()
        next(line for line in second_lines if line)
        rejected = daemon.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "a different question"}]},
            headers={"X-Cortex-Timeout": "0.3"},
        )
        first.close()
        second_first.close()

    assert waiting.status_code == 200
    assert rejected.status_code == 503
    assert rejected.json()["error"]["code"] == "all_workers_busy"
    assert int(rejected.headers["Retry-After"]) >= 1
    assert time.monotonic() - rejected_started < 10


def test_a_model_route_walks_its_targets_in_order(cortex_daemon, primary, backup):
    routes = {"smart": ["backup/llama-3.1-8b-instant", "primary/gpt-4o-mini"]}
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": entries(primary, backup), "CORTEX_ROUTES": json.dumps(routes)}
    )

    served = daemon.post("/v1/chat/completions", json={**HELLO, "model": "smart"})
    backup.set_fault(Fault.SERVER_ERROR)
    failed_over = daemon.post("/v1/chat/completions", json={**HELLO, "model": "smart"})

    assert served.headers["X-Cortex-Worker"] == "backup"
    assert served.json()["model"] == "llama-3.1-8b-instant"
    assert failed_over.headers["X-Cortex-Worker"] == "primary"
    assert failed_over.json()["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    "strategy",
    [
        "cloud_first",
        "round_robin",
        "least_used",
        "least_loaded",
        "fastest",
        "cost_optimized",
        "random",
    ],
)
def test_every_strategy_serves_requests_through_the_daemon(cortex_daemon, primary, local, strategy):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": entries(primary, local=local), "CORTEX_STRATEGY": strategy}
    )

    served = {daemon.post("/api/chat", json=HELLO).headers["X-Cortex-Worker"] for _ in range(4)}

    assert served <= {"primary", "local"}
    assert served


def served_by(daemon, prompt):
    body = {"messages": [{"role": "user", "content": prompt}]}
    return daemon.post("/v1/chat/completions", json=body).headers["X-Cortex-Worker"]


def test_traffic_returns_to_a_worker_within_seconds_once_its_keys_rest_no_more(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.RATE_LIMIT, times=2, retry_after=1)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary, backup)})

    assert served_by(daemon, "while every primary key rests") == "backup"
    assert len(chats(primary)) == 2

    # Well within the 30 s probe period that used to be the only way back.
    wait_until(lambda: served_by(daemon, f"and now {time.monotonic()}") == "primary", timeout=8)


def test_traffic_returns_to_a_worker_that_failed_once_it_answers_again(
    cortex_daemon, primary, backup
):
    primary.set_fault(Fault.SERVER_ERROR, times=1)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary, backup)})

    assert served_by(daemon, "while the primary fails") == "backup"
    # The provider actor hears of each attempt by a tell, a moment after the answer.
    wait_until(lambda: workers(daemon)["primary"]["status"] == "degraded", timeout=5)

    assert served_by(daemon, "once it answers again") == "primary"
    wait_until(lambda: workers(daemon)["primary"]["status"] == "available", timeout=5)


def test_a_route_sends_a_context_length_error_to_its_larger_context_target(
    cortex_daemon, primary, backup
):
    primary.context_window = 3
    routes = {
        "smart": {
            "targets": ["primary/gpt-4o-mini"],
            "fallbacks": {"context_length_exceeded": "backup/llama-3.1-8b-instant"},
        }
    }
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": entries(primary, backup), "CORTEX_ROUTES": json.dumps(routes)}
    )

    long_prompt = {"messages": [{"role": "user", "content": "far too many words here"}]}
    response = daemon.post("/v1/chat/completions", json={**long_prompt, "model": "smart"})

    assert response.status_code == 200
    assert response.headers["X-Cortex-Worker"] == "backup"
    assert response.json()["model"] == "llama-3.1-8b-instant"


def test_without_a_route_fallback_a_context_length_error_reaches_the_client_unchanged(
    cortex_daemon, primary, backup
):
    primary.context_window = 3
    daemon = cortex_daemon({"CORTEX_PROVIDERS": entries(primary, backup)})

    long_prompt = {"messages": [{"role": "user", "content": "far too many words here"}]}
    response = daemon.post("/v1/chat/completions", json=long_prompt)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert "maximum context length is 3 tokens" in response.json()["error"]["message"]
    assert chats(backup) == []
    assert all(
        not k["blocked"] for k in daemon.get("/api/stats").json()["workers"]["primary"]["keys"]
    )

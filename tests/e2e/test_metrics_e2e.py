"""``GET /metrics`` of a real daemon, scraped after real traffic with scripted upstream faults."""

from __future__ import annotations

import time

from daemon_harness import PRIMARY_KEYS, providers_json
from prometheus_client.parser import text_string_to_metric_families

from cortex.simulated import Fault

CHAT = {"/api/chat", "/v1/chat/completions"}
HELLO = {"messages": [{"role": "user", "content": "Hello"}]}


def scrape(daemon) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = daemon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def settled(daemon, chat_requests: int = 1) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Scrape once the chat requests are counted (that happens just after their last byte)."""
    deadline = time.monotonic() + 5.0
    while True:
        metrics = scrape(daemon)
        counted = sum(
            v
            for (name, labels), v in metrics.items()
            if name == "cortex_requests_total" and dict(labels)["endpoint"] in CHAT
        )
        if counted >= chat_requests or time.monotonic() > deadline:
            return metrics
        time.sleep(0.02)


def value(metrics, name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def eventually(read, expected: float = 0.0, timeout: float = 5.0) -> bool:
    """Whether ``read()`` returns ``expected`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while read() != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_served_request_is_counted_with_its_worker_latency_ttft_and_tokens(
    cortex_daemon, primary
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    assert daemon.post("/api/chat", json=HELLO).status_code == 200
    metrics = settled(daemon)

    ok = {"endpoint": "/api/chat", "worker": "primary", "outcome": "ok"}
    assert value(metrics, "cortex_requests_total", **ok) == 1
    assert value(metrics, "cortex_request_duration_seconds_count", worker="primary") == 1
    assert value(metrics, "cortex_time_to_first_token_seconds_count", worker="primary") == 1
    tokens = {"worker": "primary", "model": "gpt-4o-mini"}
    assert value(metrics, "cortex_tokens_total", direction="in", **tokens) > 0
    assert value(metrics, "cortex_tokens_total", direction="out", **tokens) > 0
    assert value(metrics, "cortex_worker_health", worker="primary", status="available") == 1
    # The worker's in-flight count is published by its actor just after the stream ends.
    in_flight = lambda: value(scrape(daemon), "cortex_worker_in_flight", worker="primary")  # noqa: E731
    assert eventually(in_flight, expected=0.0)


def test_a_rate_limited_key_shows_as_a_retry_an_error_and_a_masked_blocked_key(
    cortex_daemon, primary
):
    primary.set_fault(Fault.RATE_LIMIT, key=PRIMARY_KEYS[0], retry_after=120)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200
    metrics = settled(daemon)

    assert value(metrics, "cortex_retries_total", worker="primary") == 1
    errors = {"worker": "primary", "kind": "rate_limited"}
    assert value(metrics, "cortex_upstream_errors_total", **errors) == 1
    assert value(metrics, "cortex_key_blocks_total", worker="primary", reason="rate_limited") == 1
    assert value(metrics, "cortex_keys_blocked", worker="primary") == 1
    blocked = [
        labels for (name, labels), v in metrics.items() if name == "cortex_key_blocked" and v
    ]
    assert [dict(labels)["key"] for labels in blocked] == ["sk-pri***0001"]
    assert all(key not in daemon.get("/metrics").text for key in PRIMARY_KEYS)


def test_a_failing_worker_shows_as_a_failover_to_the_next(cortex_daemon, primary, backup):
    primary.set_fault(Fault.SERVER_ERROR)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, backup)})

    assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200
    metrics = settled(daemon)

    assert value(metrics, "cortex_failovers_total", worker="primary") == 1
    assert (
        value(metrics, "cortex_upstream_errors_total", worker="primary", kind="upstream_error") == 1
    )
    ok = {"endpoint": "/v1/chat/completions", "worker": "backup", "outcome": "ok"}
    assert value(metrics, "cortex_requests_total", **ok) == 1


def test_a_request_every_upstream_failed_is_counted_as_upstream_failed(cortex_daemon, primary):
    primary.set_fault(Fault.SERVER_ERROR)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 502
    metrics = settled(daemon)

    failed = {"endpoint": "/v1/chat/completions", "worker": "none", "outcome": "upstream_failed"}
    assert value(metrics, "cortex_requests_total", **failed) == 1


def test_client_supplied_paths_and_models_never_become_label_values(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    daemon.get("/no-such-path-abc123")
    daemon.post("/api/chat", json={**HELLO, "model": "made-up-model-xyz"})
    settled(daemon)
    text = daemon.get("/metrics").text

    assert "no-such-path-abc123" not in text
    assert "made-up-model-xyz" not in text
    assert (
        value(
            scrape(daemon),
            "cortex_requests_total",
            endpoint="other",
            worker="none",
            outcome="client_error",
        )
        == 1
    )


def test_actor_restarts_are_exported_for_every_supervised_actor(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    metrics = scrape(daemon)

    actors = {
        dict(labels)["actor"] for name, labels in metrics if name == "cortex_actor_restarts_total"
    }
    assert {"keys", "registry", "providers", "pool", "front", "primary"} <= actors


def test_a_repeated_deterministic_request_counts_one_cache_miss_then_one_hit(
    cortex_daemon, primary
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})
    body = {**HELLO, "temperature": 0}

    first = daemon.post("/v1/chat/completions", json=body)
    second = daemon.post("/v1/chat/completions", json=body)
    metrics = settled(daemon, chat_requests=2)

    assert [first.headers["X-Cortex-Cache"], second.headers["X-Cortex-Cache"]] == ["miss", "hit"]
    assert value(metrics, "cortex_cache_misses_total") == 1
    assert value(metrics, "cortex_cache_hits_total") == 1
    # The cache actor stores the answer just after it finished (a hit may come from the
    # finished flight itself), so the entry shows up shortly after.
    assert eventually(lambda: value(scrape(daemon), "cortex_cache_entries"), expected=1.0)
    assert value(scrape(daemon), "cortex_cache_bytes") > 0


def test_a_worker_that_keeps_failing_shows_an_open_breaker(cortex_daemon, primary, backup):
    primary.set_fault(Fault.SERVER_ERROR)
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary, backup),
            "CORTEX_BREAKER_FAILURES": "2",
            "CORTEX_BREAKER_COOLDOWN": "600",
            "CORTEX_RETRY_PASSES": "0",
        }
    )
    before = scrape(daemon)

    for _ in range(2):
        assert daemon.post("/v1/chat/completions", json=HELLO).status_code == 200
    opened = lambda: value(scrape(daemon), "cortex_worker_breaker", worker="primary", state="open")  # noqa: E731

    assert value(before, "cortex_worker_breaker", worker="primary", state="closed") == 1
    assert eventually(opened, expected=1.0)
    after = scrape(daemon)
    assert value(after, "cortex_worker_breaker", worker="primary", state="closed") == 0
    assert value(after, "cortex_worker_breaker", worker="backup", state="closed") == 1


def test_a_crash_drill_counts_one_restart_of_the_crashed_actor(cortex_daemon, primary):
    admin = {"Authorization": "Bearer metrics-admin-token-000000001"}
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary),
            "CORTEX_ADMIN_TOKEN": admin["Authorization"].split()[1],
            "CORTEX_FAULT_DRILLS": "1",
        }
    )
    keys = {"actor": "keys", "supervisor": "root"}
    restarts = lambda: value(scrape(daemon), "cortex_actor_restarts_total", **keys)  # noqa: E731
    assert restarts() == 0

    assert daemon.post("/admin/actors/keys/crash", headers=admin).status_code == 202

    assert eventually(restarts, expected=1.0)
    assert (
        value(scrape(daemon), "cortex_actor_restarts_total", actor="pool", supervisor="root") == 0
    )

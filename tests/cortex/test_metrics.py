"""Unit tests for the metrics registry, its bounded labels and the dispatch observers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pykka
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from actors.board import Board
from actors.keys import KeyLedger, RotationStrategy, key_id
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.response_store import CacheStats
from actors.workers import WorkerConfig
from cortex.chat import Finished, StreamEvent, StreamFailed, TextDelta, Usage
from cortex.errors import Attempt
from cortex.observability.incarnations import Incarnations
from cortex.observability.metrics import (
    GatewayMetrics,
    MetricsObserver,
    RequestOutcome,
    request_outcome,
)
from cortex.observability.observe import (
    AnswerOutcome,
    NullObserver,
    RequestRecord,
    RequestTracker,
    observed,
    tracking,
)

SECRET = "sk-very-secret-key-0001"
GROQ = WorkerConfig(
    "groq", "groq", "http://x", api_keys=(SECRET,), models=("llama-3.1-8b-instant",)
)
LOCAL = WorkerConfig(
    "local", "ollama", "http://y", models=("llama3.1:8b",), is_local=True, needs_key=False
)
ENDPOINTS = ("/v1/chat/completions", "/api/chat", "/metrics")


def make_metrics() -> tuple[GatewayMetrics, KeyLedger]:
    board = Board()
    ledger = KeyLedger(strategy=RotationStrategy.ROUND_ROBIN, default_block_seconds=60.0)
    for config in (GROQ, LOCAL):
        board.put_config(config)
        ledger.configure(config.name, config.api_keys)
    return GatewayMetrics(board, ledger, Incarnations(), ENDPOINTS), ledger


def samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float:
    return samples(metrics).get((name, tuple(sorted(labels.items()))), 0.0)


def failure(kind: ErrorKind) -> UpstreamFailure:
    return UpstreamFailure(kind, "boom")


def test_each_gateway_has_its_own_registry_and_leaves_the_global_one_alone() -> None:
    first, _ = make_metrics()
    second, _ = make_metrics()
    MetricsObserver(first).attempt_started("groq", ())

    assert value(first, "cortex_upstream_attempts_total", worker="groq") == 1
    assert value(second, "cortex_upstream_attempts_total", worker="groq") == 0
    assert REGISTRY.get_sample_value("cortex_upstream_attempts_total", {"worker": "groq"}) is None


def test_an_unconfigured_worker_or_model_is_labelled_other() -> None:
    metrics, _ = make_metrics()
    observer = MetricsObserver(metrics)
    observer.answer_finished("groq", "client-invented-model", Usage(3, 4), AnswerOutcome.COMPLETED)
    observer.attempt_started("not-a-worker", ())

    assert value(metrics, "cortex_tokens_total", worker="groq", model="other", direction="in") == 3
    assert value(metrics, "cortex_upstream_attempts_total", worker="other") == 1


def test_tokens_are_counted_in_and_out_by_worker_and_configured_model() -> None:
    metrics, _ = make_metrics()
    observer = MetricsObserver(metrics)
    observer.answer_finished("groq", "llama-3.1-8b-instant", Usage(10, 25), AnswerOutcome.COMPLETED)

    labels = {"worker": "groq", "model": "llama-3.1-8b-instant"}
    assert value(metrics, "cortex_tokens_total", direction="in", **labels) == 10
    assert value(metrics, "cortex_tokens_total", direction="out", **labels) == 25
    assert value(metrics, "cortex_answers_total", outcome="completed", **labels) == 1


def test_an_attempt_on_the_same_worker_after_a_failure_counts_as_a_retry() -> None:
    metrics, _ = make_metrics()
    earlier = (Attempt("groq", "sk-ver***0001", "rate_limited", "slow down"),)
    MetricsObserver(metrics).attempt_started("groq", earlier)

    assert value(metrics, "cortex_retries_total", worker="groq") == 1
    assert value(metrics, "cortex_failovers_total", worker="groq") == 0


def test_an_attempt_on_another_worker_after_a_failure_counts_as_a_failover_from_the_first() -> None:
    metrics, _ = make_metrics()
    earlier = (Attempt("groq", None, "upstream_error", "500"),)
    MetricsObserver(metrics).attempt_started("local", earlier)

    assert value(metrics, "cortex_failovers_total", worker="groq") == 1
    assert value(metrics, "cortex_retries_total", worker="local") == 0


def test_a_key_failure_counts_an_upstream_error_and_a_key_block() -> None:
    metrics, _ = make_metrics()
    observer = MetricsObserver(metrics)
    observer.attempt_ended("groq", "sk-ver***0001", failure(ErrorKind.RATE_LIMITED))
    observer.attempt_ended("groq", "sk-ver***0001", failure(ErrorKind.UPSTREAM_ERROR))

    assert value(metrics, "cortex_upstream_errors_total", worker="groq", kind="rate_limited") == 1
    assert value(metrics, "cortex_upstream_errors_total", worker="groq", kind="upstream_error") == 1
    assert value(metrics, "cortex_key_blocks_total", worker="groq", reason="rate_limited") == 1
    assert value(metrics, "cortex_key_blocks_total", worker="groq", reason="upstream_error") == 0


def test_live_gauges_show_health_in_flight_and_blocked_keys_with_masked_ids_only() -> None:
    metrics, ledger = make_metrics()
    lease = ledger.checkout("groq")
    assert lease is not None
    ledger.report_failure("groq", lease.key_id, failure(ErrorKind.RATE_LIMITED))

    text = metrics.exposition().decode()

    assert SECRET not in text
    assert value(metrics, "cortex_keys_blocked", worker="groq") == 1
    key_labels = {"worker": "groq", "key_id": key_id(SECRET), "key": "sk-ver***0001"}
    assert value(metrics, "cortex_key_blocked", **key_labels) == 1
    assert value(metrics, "cortex_worker_health", worker="local", status="available") == 1
    assert value(metrics, "cortex_worker_health", worker="local", status="unavailable") == 0
    assert value(metrics, "cortex_worker_breaker", worker="groq", state="closed") == 1
    assert ("cortex_worker_in_flight", (("worker", "local"),)) in samples(metrics)


def test_requests_are_counted_by_known_endpoint_and_unknown_paths_become_other() -> None:
    metrics, _ = make_metrics()
    metrics.request_finished("/api/chat", "groq", RequestOutcome.OK, 0.2)
    metrics.request_finished("/no/such/path", None, RequestOutcome.CLIENT_ERROR, 0.001)

    labels = {"endpoint": "/api/chat", "worker": "groq", "outcome": "ok"}
    assert value(metrics, "cortex_requests_total", **labels) == 1
    other = {"endpoint": "other", "worker": "none", "outcome": "client_error"}
    assert value(metrics, "cortex_requests_total", **other) == 1
    assert value(metrics, "cortex_request_duration_seconds_count", worker="groq") == 1


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (200, AnswerOutcome.COMPLETED, RequestOutcome.OK),
        (200, None, RequestOutcome.OK),
        (200, AnswerOutcome.FAILED, RequestOutcome.STREAM_FAILED),
        (200, AnswerOutcome.CANCELLED, RequestOutcome.CANCELLED),
        (400, None, RequestOutcome.CLIENT_ERROR),
        (429, None, RequestOutcome.RATE_LIMITED),
        (502, None, RequestOutcome.UPSTREAM_FAILED),
        (503, None, RequestOutcome.UNAVAILABLE),
        (504, None, RequestOutcome.TIMEOUT),
        (500, None, RequestOutcome.ERROR),
    ],
)
def test_a_request_outcome_follows_its_status_and_how_its_answer_ended(
    status: int, answer: AnswerOutcome | None, expected: RequestOutcome
) -> None:
    assert request_outcome(status, answer) is expected


def test_the_request_tracker_fills_only_the_current_record() -> None:
    tracker = RequestTracker()
    record = RequestRecord()
    with tracking(record):
        tracker.attempt_started("groq", ())
        tracker.attempt_ended("groq", "sk-ver***0001", failure(ErrorKind.RATE_LIMITED))
        tracker.attempt_started("local", ())
        tracker.answer_started("local", "llama3.1:8b", 12.34)
        tracker.answer_finished("local", "llama3.1:8b", Usage(5, 6), AnswerOutcome.COMPLETED)
    tracker.attempt_started("groq", ())

    assert record.log_fields() == {
        "worker": "local",
        "workers": ["local"],
        "model": "llama3.1:8b",
        "attempts": 2,
        "failures": [{"worker": "groq", "key": "sk-ver***0001", "reason": "rate_limited"}],
        "ttft_ms": 12.3,
        "tokens_in": 5,
        "tokens_out": 6,
        "outcome": "completed",
    }


class Recorder(NullObserver):
    def __init__(self) -> None:
        self.finished: list[tuple[Usage | None, AnswerOutcome]] = []

    def answer_finished(
        self, worker: str, model: str, usage: Usage | None, outcome: AnswerOutcome
    ) -> None:
        self.finished.append((usage, outcome))


async def scripted(events: list[StreamEvent]) -> AsyncGenerator[StreamEvent, None]:
    for event in events:
        yield event


def test_an_observed_answer_that_runs_to_its_end_reports_completed_with_usage() -> None:
    recorder = Recorder()
    stream = observed(
        recorder, "w", "m", scripted([TextDelta("hi"), Finished("stop"), Usage(1, 2)])
    )

    async def drain() -> list[StreamEvent]:
        return [event async for event in stream]

    assert len(asyncio.run(drain())) == 3
    assert recorder.finished == [(Usage(1, 2), AnswerOutcome.COMPLETED)]


def test_an_observed_answer_with_an_in_stream_failure_reports_failed() -> None:
    recorder = Recorder()
    broken = StreamFailed(failure(ErrorKind.UPSTREAM_ERROR))
    stream = observed(recorder, "w", "m", scripted([TextDelta("hi"), broken]))

    async def drain() -> None:
        async for event in stream:
            if isinstance(event, StreamFailed):
                break
        await stream.aclose()

    asyncio.run(drain())
    assert recorder.finished == [(None, AnswerOutcome.FAILED)]


def test_an_observed_answer_closed_early_reports_cancelled() -> None:
    recorder = Recorder()
    stream = observed(recorder, "w", "m", scripted([TextDelta("a"), TextDelta("b")]))

    async def first_then_close() -> None:
        await anext(stream)
        await stream.aclose()

    asyncio.run(first_then_close())
    assert recorder.finished == [(None, AnswerOutcome.CANCELLED)]


def test_cache_counters_and_size_are_read_from_the_store_at_scrape_time() -> None:
    board, ledger = Board(), KeyLedger(strategy=RotationStrategy.ROUND_ROBIN)
    stats = CacheStats(hits=3, misses=2, coalesced=1, evictions=4, expirations=5, entries=6)
    metrics = GatewayMetrics(board, ledger, Incarnations(), ENDPOINTS, lambda: stats)

    assert value(metrics, "cortex_cache_hits_total") == 3
    assert value(metrics, "cortex_cache_misses_total") == 2
    assert value(metrics, "cortex_cache_coalesced_total") == 1
    assert value(metrics, "cortex_cache_evictions_total") == 4
    assert value(metrics, "cortex_cache_expirations_total") == 5
    assert value(metrics, "cortex_cache_entries") == 6


def test_without_a_cache_no_cache_series_is_exported() -> None:
    metrics, _ = make_metrics()

    assert not [name for name, _ in samples(metrics) if name.startswith("cortex_cache_")]


def test_every_worker_exports_exactly_one_breaker_state() -> None:
    metrics, _ = make_metrics()

    states = {
        (dict(labels)["worker"], dict(labels)["state"]): v
        for (name, labels), v in samples(metrics).items()
        if name == "cortex_worker_breaker"
    }

    for worker in ("groq", "local"):
        assert sum(v for (w, _), v in states.items() if w == worker) == 1
        assert states[(worker, "closed")] == 1


def test_a_worker_named_like_a_core_actor_has_its_own_restart_series() -> None:
    incarnations = Incarnations()
    workers = incarnations.namespace("providers")
    core_ref, first, second = _Idle.start(), _Idle.start(), _Idle.start()
    try:
        incarnations.register("cache", core_ref)
        workers.register("cache", first)
        first.stop()
        workers.register("cache", second)
        metrics = GatewayMetrics(Board(), KeyLedger(), incarnations, ENDPOINTS)

        core = value(metrics, "cortex_actor_restarts_total", actor="cache", supervisor="root")
        worker = value(
            metrics, "cortex_actor_restarts_total", actor="cache", supervisor="providers"
        )
    finally:
        for ref in (core_ref, first, second):
            ref.stop()

    assert (core, worker) == (0.0, 1.0)


class _Idle(pykka.ThreadingActor):
    """An actor that only stands for a registered name."""

"""Prometheus metrics of one gateway, exposed at ``GET /metrics`` by ``prometheus-client``.

Each gateway owns its own :class:`~prometheus_client.CollectorRegistry` (never the
process-wide default), so two gateways in one process, or a restarted front, never share
or double-register a series.

Two kinds of series:

* **events**, counted on the data plane as they happen (requests, attempts, failovers,
  tokens, latencies) by :class:`MetricsObserver` and :meth:`GatewayMetrics.request_finished`;
* **live state** (health, breaker, in-flight, blocked keys, actor restarts, the response
  cache's hits and misses), read at scrape time by the collectors of
  :mod:`cortex.observability.live_metrics`, so the hot path never updates a gauge.

Every label value is bounded: worker names and models come from the configuration
(anything else is ``other``), endpoints from the route table, outcomes and error kinds
from enums, keys from the configured keys (masked). No client-supplied string and no
request id ever becomes a label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from actors.board import Board
from actors.keys import KeyLedger
from actors.outcomes import UpstreamFailure
from actors.response_store import CacheStats
from cortex.chat import Usage
from cortex.errors import Attempt
from cortex.fleet.health import StoreHealth
from cortex.observability.live_metrics import (
    CacheCollector,
    CrossingCollector,
    LiveCollector,
    SharedStateCollector,
)
from cortex.observability.observe import AnswerOutcome
from supervisors import Directory

OTHER = "other"
NONE = "none"
CHAT_ENDPOINTS = frozenset({"/v1/chat/completions", "/api/chat"})
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class RequestOutcome(StrEnum):
    """How a request ended, from the client's side (bounded label values)."""

    OK = "ok"
    STREAM_FAILED = "stream_failed"
    CANCELLED = "cancelled"
    CLIENT_ERROR = "client_error"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_FAILED = "upstream_failed"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    ERROR = "error"


_STATUS_OUTCOMES = {
    429: RequestOutcome.RATE_LIMITED,
    502: RequestOutcome.UPSTREAM_FAILED,
    503: RequestOutcome.UNAVAILABLE,
    504: RequestOutcome.TIMEOUT,
}


def request_outcome(status: int, answer: AnswerOutcome | None) -> RequestOutcome:
    """Classify a finished request by its status and, for streams, how the answer ended."""
    if status in _STATUS_OUTCOMES:
        return _STATUS_OUTCOMES[status]
    if status >= 500:
        return RequestOutcome.ERROR
    if status >= 400:
        return RequestOutcome.CLIENT_ERROR
    if answer is AnswerOutcome.FAILED:
        return RequestOutcome.STREAM_FAILED
    if answer is AnswerOutcome.CANCELLED:
        return RequestOutcome.CANCELLED
    return RequestOutcome.OK


class GatewayMetrics:
    """The gateway's metric series and the bounded labels that go with them.

    Args:
        board: configured workers (the only allowed worker and model labels) and views.
        ledger: keys per worker, for blocked-key gauges.
        directory: the tree's directory; restart counts need it to be ``Incarnations``.
        endpoints: the routes that may appear as an ``endpoint`` label.
        cache_stats: the response cache's counters, when the gateway has a cache.
        store_health: the shared store's counters, when the gateway shares state.
    """

    def __init__(
        self,
        board: Board,
        ledger: KeyLedger,
        directory: Directory,
        endpoints: Sequence[str],
        cache_stats: Callable[[], CacheStats] | None = None,
        *,
        store_health: StoreHealth | None = None,
    ) -> None:
        self._board = board
        self._endpoints = frozenset(endpoints)
        self._request_counts: dict[tuple[str, str, RequestOutcome], Counter] = {}
        self._request_durations: dict[str, Histogram] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self._event_series(self.registry)
        self.registry.register(LiveCollector(board, ledger, directory))
        self.registry.register(CrossingCollector())
        if cache_stats is not None:
            self.registry.register(CacheCollector(cache_stats))
        if store_health is not None:
            self.registry.register(SharedStateCollector(store_health))

    def _event_series(self, reg: CollectorRegistry) -> None:
        """Declare the series counted on the data plane as events happen."""
        self.requests = Counter(
            "cortex_requests",
            "HTTP requests served",
            ["endpoint", "worker", "outcome"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            "cortex_request_duration_seconds",
            "Chat request duration, whole stream included",
            ["worker"],
            buckets=SECONDS_BUCKETS,
            registry=reg,
        )
        self.ttft_seconds = Histogram(
            "cortex_time_to_first_token_seconds",
            "Time from an answering attempt to its first token",
            ["worker"],
            buckets=SECONDS_BUCKETS,
            registry=reg,
        )
        self.tokens = Counter(
            "cortex_tokens",
            "Tokens of answers by the worker that wrote them (prompt once per answer)",
            ["worker", "model", "direction"],
            registry=reg,
        )
        self.answers = Counter(
            "cortex_answers",
            "Committed answers by how they ended, per worker that wrote part of one",
            ["worker", "model", "outcome"],
            registry=reg,
        )
        self.attempts = Counter(
            "cortex_upstream_attempts", "Upstream attempts started", ["worker"], registry=reg
        )
        self.failovers = Counter(
            "cortex_failovers",
            "Moves to another worker, by the worker left",
            ["worker"],
            registry=reg,
        )
        self.retries = Counter(
            "cortex_retries",
            "Retries on another key of the same worker",
            ["worker"],
            registry=reg,
        )
        self.upstream_errors = Counter(
            "cortex_upstream_errors", "Failed upstream attempts", ["worker", "kind"], registry=reg
        )
        self.key_blocks = Counter(
            "cortex_key_blocks", "Keys taken out of rotation", ["worker", "reason"], registry=reg
        )

    def worker_label(self, worker: str | None) -> str:
        """``worker`` if it is configured, ``none`` for no worker, else ``other``."""
        if worker is None:
            return NONE
        return worker if self._board.config(worker) is not None else OTHER

    def model_label(self, worker: str, model: str) -> str:
        """``model`` if ``worker`` is configured with it (chat or embeddings), else ``other``."""
        config = self._board.config(worker)
        if config is None or model not in (*config.models, *config.embedding_models):
            return OTHER
        return model

    def endpoint_label(self, route: str | None) -> str:
        """The route's path if it is a known endpoint, else ``other`` (404s included)."""
        return route if route is not None and route in self._endpoints else OTHER

    def request_finished(
        self, route: str | None, worker: str | None, outcome: RequestOutcome, seconds: float
    ) -> None:
        """Count one finished HTTP request; chat requests also feed the duration histogram."""
        self.count_request(self.endpoint_label(route), worker, outcome, seconds)

    def count_request(
        self, endpoint: str, worker: str | None, outcome: RequestOutcome, seconds: float
    ) -> None:
        """Count one finished HTTP request by its ``endpoint`` label (see :meth:`endpoint_label`).

        Each label set's series is looked up once and kept: prometheus_client's
        ``labels()`` validates and locks on every call, which is most of a count's cost.
        The labels are bounded (endpoints, configured workers, outcomes), so is the cache.
        """
        label = self.worker_label(worker)
        key = (endpoint, label, outcome)
        counter = self._request_counts.get(key)
        if counter is None:
            counter = self._request_counts[key] = self.requests.labels(
                endpoint, label, outcome.value
            )
        counter.inc()
        if endpoint in CHAT_ENDPOINTS:
            duration = self._request_durations.get(label)
            if duration is None:
                duration = self._request_durations[label] = self.request_seconds.labels(label)
            duration.observe(seconds)

    def requests_served(self) -> int:
        """HTTP requests finished since the front started, whatever their outcome."""
        return int(
            sum(
                sample.value
                for metric in self.requests.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            )
        )

    def exposition(self) -> bytes:
        """Every series in the Prometheus text format."""
        return generate_latest(self.registry)


class MetricsObserver:
    """Counts the dispatcher's reports into :class:`GatewayMetrics`."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._m = metrics

    def attempt_started(self, worker: str, earlier: Sequence[Attempt]) -> None:
        """Count the attempt, and a retry or failover when an earlier attempt failed."""
        label = self._m.worker_label(worker)
        self._m.attempts.labels(label).inc()
        if earlier:
            previous = earlier[-1].worker
            if previous == worker:
                self._m.retries.labels(label).inc()
            else:
                self._m.failovers.labels(self._m.worker_label(previous)).inc()

    def attempt_ended(self, worker: str, key: str | None, failure: UpstreamFailure | None) -> None:
        """Count a failure by kind, and a key block when the failure rests the key."""
        if failure is None:
            return
        label = self._m.worker_label(worker)
        self._m.upstream_errors.labels(label, failure.kind.value).inc()
        if key is not None and failure.blocks_key:
            self._m.key_blocks.labels(label, failure.kind.value).inc()

    def answer_started(self, worker: str, model: str, ttft_ms: float) -> None:  # noqa: ARG002 - protocol signature
        """Observe the time to first token."""
        self._m.ttft_seconds.labels(self._m.worker_label(worker)).observe(ttft_ms / 1000.0)

    def answer_continued(self, worker: str, model: str, ttft_ms: float) -> None:  # noqa: ARG002 - protocol signature
        """Observe the continuing worker's time to first token."""
        self._m.ttft_seconds.labels(self._m.worker_label(worker)).observe(ttft_ms / 1000.0)

    def answer_finished(
        self, worker: str, model: str, usage: Usage | None, outcome: AnswerOutcome
    ) -> None:
        """Count a worker's part of an answer by how it ended, and its share of the tokens."""
        label, model_label = self._m.worker_label(worker), self._m.model_label(worker, model)
        self._m.answers.labels(label, model_label, outcome.value).inc()
        if usage is not None:
            self._m.tokens.labels(label, model_label, "in").inc(usage.prompt_tokens)
            self._m.tokens.labels(label, model_label, "out").inc(usage.completion_tokens)


__all__ = ["GatewayMetrics", "LiveCollector", "MetricsObserver", "RequestOutcome"]

"""Live-state metrics, read at scrape time so the hot path never updates a gauge.

:class:`LiveCollector` reads the board (health, breaker, in-flight), the key ledger
(blocked keys, masked) and the tree's incarnation records (restarts per actor, labelled
with the actor's supervisor).
:class:`CacheCollector` reads the response cache's counters, :class:`CrossingCollector`
the loop's crossings to the actors (:data:`cortex.crossing.CROSSINGS`),
:class:`SharedStateCollector` the shared store's health (with ``CORTEX_REDIS_URL``
only). All build every family from immutable snapshots taken when ``GET /metrics`` is
served, and every label value comes from the configuration or an enum, never from a
client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.board import Board
from actors.breaker import BreakerState
from actors.keys import KeyLedger
from actors.response_store import CacheStats
from actors.workers import HealthStatus
from cortex.crossing import CROSSINGS
from cortex.fleet.health import StoreHealth
from cortex.observability.incarnations import Incarnations
from supervisors import Directory


class LiveCollector(Collector):
    """Reads live state at scrape time: health, breaker, in-flight, keys, restarts."""

    def __init__(self, board: Board, ledger: KeyLedger, directory: Directory) -> None:
        self._board = board
        self._ledger = ledger
        self._directory = directory

    def collect(self) -> Iterator[Metric]:
        """Yield one family per live gauge, built from immutable snapshots."""
        views, keys, now = self._board.views(), self._ledger.snapshot(), time.monotonic()
        in_flight = GaugeMetricFamily(
            "cortex_worker_in_flight", "Attempts under way per worker", labels=["worker"]
        )
        health = GaugeMetricFamily(
            "cortex_worker_health",
            "1 for the worker's current health status",
            labels=["worker", "status"],
        )
        breaker = GaugeMetricFamily(
            "cortex_worker_breaker",
            "1 for the worker's circuit-breaker state",
            labels=["worker", "state"],
        )
        blocked = GaugeMetricFamily(
            "cortex_keys_blocked", "Keys currently resting per worker", labels=["worker"]
        )
        key_blocked = GaugeMetricFamily(
            "cortex_key_blocked",
            "1 while a key rests (masked key)",
            labels=["worker", "key_id", "key"],
        )
        for view in views:
            in_flight.add_metric([view.name], view.in_flight)
            for status in HealthStatus:
                health.add_metric([view.name, status.value], float(view.status is status))
            state = view.breaker.state(now)
            for option in BreakerState:
                breaker.add_metric([view.name, option.value], float(state is option))
            worker_keys = keys.get(view.name, ())
            blocked.add_metric([view.name], sum(k.blocked_until is not None for k in worker_keys))
            for key in worker_keys:
                resting = float(key.blocked_until is not None)
                key_blocked.add_metric([view.name, key.key_id, key.masked], resting)
        yield from (in_flight, health, breaker, blocked, key_blocked)
        if isinstance(self._directory, Incarnations):
            yield self._restarts(self._directory)

    @staticmethod
    def _restarts(core: Incarnations) -> Metric:
        """Restarts per actor, labelled with its supervisor: a worker may share a core
        actor's name (workers have their own name space), and the label keeps them apart.
        """
        restarts = CounterMetricFamily(
            "cortex_actor_restarts",
            "Restarts of each supervised actor",
            labels=["actor", "supervisor"],
        )
        spaces = [("root", core), *sorted(core.namespaces().items())]
        for supervisor, names in spaces:
            for name in sorted(names.names()):
                restarts.add_metric([name, supervisor], names.incarnation(name).restarts)
        return restarts


class CacheCollector(Collector):
    """Reads the response cache's counters and size at scrape time.

    Args:
        stats: returns the store's counters; the store outlives cache-actor restarts, so
            the counters never go backwards while the daemon runs.
    """

    def __init__(self, stats: Callable[[], CacheStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        """Yield the hit, miss, coalescing and eviction counters and the current size."""
        stats = self._stats()
        counters = (
            ("cortex_cache_hits", "Answers served from the response cache", stats.hits),
            ("cortex_cache_misses", "Cacheable requests that went upstream", stats.misses),
            (
                "cortex_cache_coalesced",
                "Requests that shared an identical request's answer in flight",
                stats.coalesced,
            ),
            ("cortex_cache_evictions", "Entries dropped to respect the bounds", stats.evictions),
            ("cortex_cache_expirations", "Entries dropped after their TTL", stats.expirations),
        )
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value=value)
        yield GaugeMetricFamily("cortex_cache_entries", "Answers held now", value=stats.entries)
        yield GaugeMetricFamily("cortex_cache_bytes", "Answer bytes held now", value=stats.bytes)
        yield GaugeMetricFamily(
            "cortex_cache_hit_ratio", "Hits over lookups since start", value=stats.hit_ratio
        )


class CrossingCollector(Collector):
    """Reads how many asks, tells and blocking calls crossed from the loop to the actors.

    A request in steady state costs one ask (the pool's plan); successes reach the
    provider actors in batches. The counts let an operator, and a test, see a change that
    adds thread hand-offs per request.
    """

    def collect(self) -> Iterator[Metric]:
        """Yield the crossings by kind (``ask``, ``tell``, ``run``)."""
        family = CounterMetricFamily(
            "cortex_actor_crossings",
            "Messages and blocking calls from the event loop to the actors, by kind",
            labels=["kind"],
        )
        for kind in ("ask", "tell", "run"):
            family.add_metric([kind], CROSSINGS[kind])
        yield family


class SharedStateCollector(Collector):
    """Exports the shared store's health: whether Redis answers, and what failures cost.

    Args:
        health: the store's counters, written by its event loop.
    """

    def __init__(self, health: StoreHealth) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        """Yield the availability gauge and the error and lost-write counters."""
        health = self._health
        yield GaugeMetricFamily(
            "cortex_shared_state_available",
            "1 while Redis answers; 0 while this instance serves from local state only",
            value=1 if health.available else 0,
        )
        yield CounterMetricFamily(
            "cortex_shared_state_errors",
            "Redis commands that failed or ran out of CORTEX_REDIS_BUDGET_MS",
            value=health.errors,
        )
        lost = CounterMetricFamily(
            "cortex_shared_state_writes_lost",
            "Writes to Redis not sent: buffer full (overflow) or Redis unavailable",
            labels=["reason"],
        )
        lost.add_metric(["overflow"], health.overflowed)
        lost.add_metric(["unavailable"], health.dropped)
        yield lost
        yield CounterMetricFamily(
            "cortex_shared_state_outages",
            "Times Redis became unavailable",
            value=health.outages,
        )


__all__ = ["CacheCollector", "CrossingCollector", "LiveCollector", "SharedStateCollector"]

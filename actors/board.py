"""The board: worker state that must outlive any one actor, readable from any thread.

This is Cortex's equivalent of an ETS table with an heir. Each part of a worker's state
has one writer: the registry actor writes configurations, each provider actor its own
:class:`~actors.workers.WorkerHealth`, and the data plane the
:class:`~actors.workers.AttemptCounts`, like a public ETS table updated with
``ets:update_counter``: an attempt counts itself here under the board's lock, with no
mailbox hop, so no report can be lost to a provider actor's restart and the counters
always add up. Readers (the pool, the HTTP status endpoints, a restarted provider actor)
get immutable :class:`~actors.workers.WorkerView` snapshots composed from the three parts,
without a mailbox round trip.
"""

from __future__ import annotations

import threading
from types import MappingProxyType

from actors.workers import (
    AttemptCounts,
    AttemptOutcome,
    WorkerConfig,
    WorkerHealth,
    WorkerView,
)


class Tally:
    """One worker's attempt counters, handed to each attempt when it starts.

    The attempt gives it back to :meth:`Board.attempt_ended`, so an attempt that
    straddles the removal of its worker ends on the counters it started on, never on
    those of a new worker that took the same name. Only the board changes it.
    """

    __slots__ = ("counts", "worker")

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.counts = AttemptCounts()

    def __repr__(self) -> str:
        return f"Tally({self.worker!r}, {self.counts!r})"


class Board:
    """Published worker configurations, health and attempt counts, keyed by worker name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._configs: MappingProxyType[str, WorkerConfig] = MappingProxyType({})
        self._health: dict[str, WorkerHealth] = {}
        self._tallies: dict[str, Tally] = {}
        # Recomposed on every write, so reads take no lock and cost nothing.
        self._views: MappingProxyType[str, WorkerView] = MappingProxyType({})

    def put_config(self, config: WorkerConfig) -> None:
        """Record a worker's configuration (registry only); its health and counts stay."""
        with self._lock:
            self._configs = MappingProxyType({**self._configs, config.name: config})
            self._tallies.setdefault(config.name, Tally(config.name))
            self._compose(config.name)

    def remove(self, name: str) -> None:
        """Forget a worker entirely (registry only)."""
        with self._lock:
            self._configs = MappingProxyType({k: v for k, v in self._configs.items() if k != name})
            self._views = MappingProxyType({k: v for k, v in self._views.items() if k != name})
            self._health.pop(name, None)
            self._tallies.pop(name, None)

    def publish_health(self, name: str, health: WorkerHealth) -> None:
        """Publish a worker's health (its provider actor only).

        Health for a worker the registry no longer knows is dropped, so a provider actor
        that is still draining after removal cannot resurrect it.
        """
        with self._lock:
            if name in self._configs:
                self._health[name] = health
                self._compose(name)

    def health(self, name: str) -> WorkerHealth | None:
        """The last health published for a worker, if any (a restarted actor starts from it)."""
        return self._health.get(name)

    def attempt_started(self, name: str) -> Tally | None:
        """Count an attempt on ``name`` as started and in flight (the data plane only).

        Returns:
            The tally to hand back to :meth:`attempt_ended`, or None for a worker the
            registry does not know (nothing is counted then).
        """
        with self._lock:
            tally = self._tallies.get(name)
            if tally is not None:
                tally.counts = tally.counts.started()
                self._compose(name)
            return tally

    def attempt_ended(
        self, tally: Tally, outcome: AttemptOutcome, first_token_ms: float | None = None
    ) -> None:
        """Count the end of an attempt on the tally it started on (the data plane only)."""
        with self._lock:
            tally.counts = tally.counts.ended(outcome, first_token_ms)
            if self._tallies.get(tally.worker) is tally:
                self._compose(tally.worker)

    def configs(self) -> tuple[WorkerConfig, ...]:
        """Every registered worker's configuration, in registration order."""
        return tuple(self._configs.values())

    def config(self, name: str) -> WorkerConfig | None:
        """One worker's configuration, if registered."""
        return self._configs.get(name)

    def views(self) -> tuple[WorkerView, ...]:
        """A view of every registered worker, in registration order."""
        configs, views = self._configs, self._views
        return tuple(views[name] for name in configs if name in views)

    def view(self, name: str) -> WorkerView | None:
        """One worker's view, if registered."""
        return self._views.get(name)

    def _compose(self, name: str) -> None:
        """Publish ``name``'s view from its three parts; call with the lock held."""
        view = WorkerView.compose(
            self._configs[name],
            self._health.get(name) or WorkerHealth(),
            self._tallies[name].counts,
        )
        self._views = MappingProxyType({**self._views, name: view})

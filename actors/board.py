"""The board: worker state that must outlive any one actor, readable from any thread.

This is Cortex's equivalent of an ETS table with an heir. The registry actor is the only
writer of worker configurations; each provider actor is the only writer of its own
:class:`~actors.workers.WorkerView`. Readers (the pool, the HTTP status endpoints, the
supervisor rebuilding the provider workers after a restart) get immutable snapshots
without a mailbox round trip, and nothing is lost when a writer crashes and restarts.
"""

from __future__ import annotations

import threading
from types import MappingProxyType

from actors.workers import WorkerConfig, WorkerView


class Board:
    """Published worker configurations and views, keyed by worker name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._configs: MappingProxyType[str, WorkerConfig] = MappingProxyType({})
        self._views: MappingProxyType[str, WorkerView] = MappingProxyType({})

    def put_config(self, config: WorkerConfig) -> None:
        """Record a worker's configuration (registry only)."""
        with self._lock:
            self._configs = MappingProxyType({**self._configs, config.name: config})

    def remove(self, name: str) -> None:
        """Forget a worker entirely (registry only)."""
        with self._lock:
            self._configs = MappingProxyType({k: v for k, v in self._configs.items() if k != name})
            self._views = MappingProxyType({k: v for k, v in self._views.items() if k != name})

    def publish(self, view: WorkerView) -> None:
        """Publish a worker's current view (its provider actor only).

        A view for a worker the registry no longer knows is dropped, so a provider actor
        that is still draining after removal cannot resurrect it.
        """
        with self._lock:
            if view.name in self._configs:
                self._views = MappingProxyType({**self._views, view.name: view})

    def configs(self) -> tuple[WorkerConfig, ...]:
        """Every registered worker's configuration, in registration order."""
        return tuple(self._configs.values())

    def config(self, name: str) -> WorkerConfig | None:
        """One worker's configuration, if registered."""
        return self._configs.get(name)

    def views(self) -> tuple[WorkerView, ...]:
        """A view of every registered worker, a default one where none was published yet."""
        configs, views = self._configs, self._views
        return tuple(views.get(name) or WorkerView(config=cfg) for name, cfg in configs.items())

    def view(self, name: str) -> WorkerView | None:
        """One worker's view, if registered."""
        config = self._configs.get(name)
        if config is None:
            return None
        return self._views.get(name) or WorkerView(config=config)

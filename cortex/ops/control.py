"""The operator behind the admin API and SIGHUP: blocking operations on a running gateway.

:class:`Control` implements :class:`cortex.http.admin.Operator`. Every operation asks actors or
supervisors and so blocks; the admin handlers run them on the control's own small thread
pool (:meth:`Control.run`), never on the event loop. Changes to the set of workers and
reloads are serialised by one lock, so two operators cannot interleave half-applied edits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from actors.cache import ClearCache
from actors.messages import DescribePool, RefreshModels, UnblockKey
from actors.pool import PoolSummary
from cortex.config.settings import ConfigError, Settings
from cortex.crossing import UNREACHABLE, ActorGone, Bridge, tell
from cortex.errors import (
    BadRequest,
    InvalidConfiguration,
    NotFound,
    ReloadNotApplied,
    WorkerNotStarted,
)
from cortex.observability.actor_tree import TreeSources, describe_tree
from cortex.ops.drills import FaultDrill
from cortex.ops.reload import apply_reload, plan_reload
from cortex.ops.undo import StepFailed
from cortex.ops.workers import WORKERS
from cortex.tree import PROVIDER_FLAGS, ROOT_FLAGS
from supervisors import Handle, StartError, SupFlags

if TYPE_CHECKING:
    from cortex.ops.gateway import Gateway

_T = TypeVar("_T")
Json = dict[str, Any]

ADMIN_THREADS = 4
ASK_TIMEOUT = 5.0
POOL_STATE_TIMEOUT = 2.0
SUPERVISOR_FLAGS: Mapping[str, SupFlags] = {"root": ROOT_FLAGS, WORKERS: PROVIDER_FLAGS}

log = structlog.get_logger("cortex.admin")


class Control:
    """Operations on one running gateway, for the admin API and signal handlers.

    Args:
        gateway: the running gateway.
        source: reads and validates the configuration again, for reloads; None when the
            gateway was started from settings alone (library use), which disables reload.
    """

    def __init__(self, gateway: Gateway, source: Callable[[], Settings] | None) -> None:
        self._gateway = gateway
        self._tree = gateway.tree
        self._source = source
        self._loaded = self._tree.runtime.settings
        self._lock = threading.Lock()
        self._bridge = Bridge(max_threads=ADMIN_THREADS, name="admin")

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run a blocking call on the control's threads and await its result."""
        return await self._bridge.run(call)

    def close(self) -> None:
        """Release the threads; calls already running finish first."""
        self._bridge.close()

    def actors(self) -> Json:
        """The live supervision tree (see :func:`cortex.observability.actor_tree.describe_tree`)."""
        tree = self._tree
        return describe_tree(
            TreeSources(
                root=tree.root,
                root_link=tree.root_link,
                started_at=tree.started_at,
                incarnations=tree.incarnations,
                flags=SUPERVISOR_FLAGS,
                board=tree.board,
                ledger=tree.ledger,
                pool_state=self._pool_state,
                cache=tree.cache_store,
                front_port=self._front_port,
            )
        )

    def add_worker(self, name: str, entry: Json) -> Json:
        """Add, start and health-check a worker from one ``CORTEX_PROVIDERS`` entry.

        Raises:
            InvalidConfiguration: the entry is invalid.
            BadRequest: a worker with that name exists.
            WorkerNotStarted: its actor did not start; nothing of it is left.
        """
        with self._lock:
            try:
                view = self._gateway.add_worker(name, entry)
            except ConfigError as exc:
                raise InvalidConfiguration(exc.problems) from exc
            except StartError as exc:
                log.warning("worker_not_added", worker=name, reason=str(exc.reason))
                raise WorkerNotStarted(exc.reason) from exc
        log.info("worker_added", worker=name, type=view.config.type)
        return {
            "name": view.name,
            "type": view.config.type,
            "priority": view.config.priority,
            "models": list(view.models),
            "embedding_models": list(view.embedding_models),
            "base_url": view.config.base_url,
            "status": view.status.value,
        }

    def remove_worker(self, name: str) -> int | None:
        """Stop routing to a worker and remove it; in-flight streams on it finish.

        Returns:
            How many attempts were in flight on it when it was removed (they drain on the
            event loop), or None if there was no such worker.
        """
        with self._lock:
            view = self._tree.board.view(name)
            existed = self._gateway.remove_worker(name)
        if not existed:
            return None
        draining = view.in_flight if view is not None else 0
        log.info("worker_removed", worker=name, draining=draining)
        return draining

    def reload(self) -> Json:
        """Re-read the configuration and apply the difference.

        All or nothing: when applying fails midway, every step taken is undone and the
        configuration loaded before stays the base of the next reload.

        Raises:
            InvalidConfiguration: the new configuration is invalid; nothing was changed.
            ReloadNotApplied: applying it failed; everything was rolled back.
            BadRequest: this gateway has no configuration source to re-read.
        """
        if self._source is None:
            raise BadRequest(
                "this gateway was started without a configuration source", code="no_config"
            )
        with self._lock:
            try:
                new = self._source()
            except ConfigError as exc:
                log.warning("reload_rejected", problems=exc.problems)
                raise InvalidConfiguration(exc.problems) from exc
            running = {config.name: config for config in self._tree.board.configs()}
            plan = plan_reload(self._loaded, new, running)
            try:
                report = apply_reload(plan, self._loaded, new, running, self._tree)
            except StepFailed as exc:
                log.exception("reload_rolled_back", undo_errors=exc.undo_errors)
                raise ReloadNotApplied(exc, exc.undo_errors) from exc
            self._loaded = new
        log.info("reloaded", **report)
        return report

    def unblock(self, worker: str, key_id: str) -> bool:
        """Lift a key's block; returns whether it was blocked.

        Raises:
            NotFound: no such worker or key id.
        """
        known = self._tree.ledger.snapshot().get(worker, ())
        if not any(view.key_id == key_id for view in known):
            raise NotFound(f"worker {worker!r} has no key {key_id!r}", code="unknown_key")
        was_blocked = bool(
            Handle(self._tree.directory, "keys").ask(UnblockKey(worker, key_id), ASK_TIMEOUT)
        )
        log.info("key_unblocked_by_admin", worker=worker, key_id=key_id, was_blocked=was_blocked)
        return was_blocked

    def crash(self, name: str) -> Json:
        """Make the actor registered as ``name`` raise :class:`FaultDrill` in its own thread.

        It goes through the normal crash path: the actor's own ``crash()`` runs in its
        thread and tells it a message whose handling raises, so Pykka calls ``on_failure``,
        the link reports ``Error`` and the supervisor applies its restart strategy.

        Raises:
            NotFound: nothing is registered under ``name`` (a core actor's name, else a
                worker's; ``providers/<worker>`` always means the worker).
        """
        ref = self._tree.lookup(name)
        if ref is None or not ref.is_alive():
            raise NotFound(f"no running actor named {name!r}", code="unknown_actor")
        drill = FaultDrill(f"fault drill: crash of {name!r} requested through the admin API")
        try:
            ref.proxy().crash(drill).get(timeout=ASK_TIMEOUT)
        except ActorGone as exc:
            raise NotFound(f"{name!r} stopped before the drill", code="unknown_actor") from exc
        log.warning("fault_drill", actor=name, incarnation=ref.actor_urn)
        return {"crashed": name, "incarnation": ref.actor_urn}

    def fail_next_start(self, worker: str) -> Json:
        """Arm a start drill: the next start of ``worker`` raises :class:`FaultDrill`.

        The worker need not exist yet, so a reload or ``POST /admin/workers`` that is about
        to add it can be made to fail for real. The drill fires once.
        """
        name = worker.removeprefix(f"{WORKERS}/")
        self._tree.drills.arm(name)
        log.warning("fault_drill_armed", worker=name, at="start")
        return {"armed": name, "at": "start"}

    def clear_cache(self) -> int:
        """Drop every cached answer through the cache actor; returns how many."""
        removed = int(Handle(self._tree.directory, "cache").ask(ClearCache(), ASK_TIMEOUT))
        log.info("cache_cleared_by_admin", entries=removed)
        return removed

    def refresh_models(self, worker: str) -> None:
        """Tell a worker's actor its upstream's models changed; a gone worker is ignored."""
        tell(self._tree.workers, worker, RefreshModels())

    def _front_port(self) -> int | None:
        engine = self._tree.slot.get(0.0)
        return None if engine is None else engine.port

    def _pool_state(self) -> Json | None:
        try:
            summary: PoolSummary = Handle(self._tree.directory, "pool", restart_wait=0.0).ask(
                DescribePool(), POOL_STATE_TIMEOUT
            )
        except UNREACHABLE:
            return None
        return {
            "strategy": summary.strategy.value,
            "recent_plans": [
                {"model": model, "workers": list(workers)} for model, workers in summary.recent
            ],
        }

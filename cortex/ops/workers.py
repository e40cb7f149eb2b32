"""One worker lifecycle: how a worker is added, removed, re-keyed or reconfigured.

Boot (:func:`seed`), reloads (:mod:`cortex.ops.reload`), the library API
(:meth:`~cortex.ops.gateway.Gateway.add_worker`) and the admin API (through the library
API) change workers only through this module, so a worker comes and goes the same way
whoever asks.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from actors.board import Board
from actors.keys import KeyLedger
from actors.messages import (
    ConfigureKeys,
    ForgetKeys,
    RegisterWorker,
    SetKeyRotation,
    SetRouting,
    UnregisterWorker,
    UpdateWorker,
)
from actors.workers import WorkerConfig
from cortex.config.settings import Settings
from cortex.ops.undo import UndoLog
from supervisors import ChildNotFound, Handle, SupervisorClient

if TYPE_CHECKING:
    from cortex.tree import Tree

ASK_TIMEOUT = 10.0
WORKERS = "providers"
"""The name space of the providers supervisor's children (worker names)."""


def seed(board: Board, ledger: KeyLedger, config: WorkerConfig) -> None:
    """Enter a configured worker in the shared tables before the tree starts.

    The same two writes the registry and the key manager make for a worker added later;
    at boot no actor runs yet, and the providers supervisor starts one actor per worker
    it finds on the board.
    """
    board.put_config(config)
    ledger.configure(config.name, config.api_keys)


class WorkerLifecycle:
    """Adding, removing, re-keying and reconfiguring a worker: the actor calls and their undos.

    Each change is a few bounded asks by name (the registry owns worker configurations,
    the key manager keys, the providers supervisor the provider actors), each logged in an
    :class:`~cortex.ops.undo.UndoLog` with its undo, so a change that fails part way is
    rolled back whole. Reloads, the library API and the admin API all change workers
    through here; at boot, :func:`seed` writes the same tables before any actor runs.

    Every undo is safe whether its step ran fully, partly or not at all (see
    :mod:`cortex.ops.undo`): stopping tolerates a child that is not there, registering
    tolerates a worker that still is.
    """

    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        directory = tree.directory
        self._registry = Handle(directory, "registry")
        self._keys = Handle(directory, "keys")
        self._pool = Handle(directory, "pool")
        self._providers = Handle(directory, WORKERS)

    def add(self, log: UndoLog, config: WorkerConfig, settings: Settings) -> None:
        """Register the worker, configure its keys and start its provider actor."""
        name = config.name
        log.run(name, partial(self._register, config), partial(self._unregister, name))
        log.run(name, partial(self._set_keys, config), partial(self._forget_keys, name))
        log.run(name, partial(self._start, config, settings), partial(self._stop, name))

    def remove(self, log: UndoLog, config: WorkerConfig, settings: Settings) -> None:
        """Stop the worker's actor, forget its keys and unregister it, with its history."""
        name = config.name
        log.run(name, partial(self._stop, name), partial(self._restart, config, settings))
        log.run(name, partial(self._forget_keys, name), partial(self._set_keys, config))
        log.run(name, partial(self._unregister, name), partial(self._register, config))
        self._tree.workers.forget(name)

    def rekey(self, log: UndoLog, config: WorkerConfig, before: WorkerConfig) -> None:
        """Give a running worker new keys; its actor keeps running."""
        name = config.name
        log.run(name, partial(self._set_keys, config), partial(self._set_keys, before))
        log.run(name, partial(self._update, config), partial(self._update, before))

    def reconfigure(
        self,
        log: UndoLog,
        config: WorkerConfig,
        before: WorkerConfig,
        settings: Settings,
        old_settings: Settings,
    ) -> None:
        """Apply a changed configuration: new keys, then a fresh actor."""
        self.rekey(log, config, before)
        log.run(
            config.name,
            partial(self._restart, config, settings, fresh=True),
            partial(self._restart, before, old_settings),
        )

    def routing(self, settings: Settings) -> None:
        """Hand the pool a new default strategy and routes."""
        self._pool.ask(SetRouting(settings.strategy, settings.routes), timeout=ASK_TIMEOUT)

    def rotation(self, settings: Settings) -> None:
        """Hand the key manager a new rotation strategy."""
        self._keys.ask(SetKeyRotation(settings.key_rotation), timeout=ASK_TIMEOUT)

    def _register(self, config: WorkerConfig) -> None:
        if self._tree.board.config(config.name) is None:
            self._registry.ask(RegisterWorker(config), timeout=ASK_TIMEOUT)

    def _unregister(self, name: str) -> None:
        self._registry.ask(UnregisterWorker(name), timeout=ASK_TIMEOUT)

    def _update(self, config: WorkerConfig) -> None:
        self._registry.ask(UpdateWorker(config), timeout=ASK_TIMEOUT)

    def _set_keys(self, config: WorkerConfig) -> None:
        self._keys.ask(ConfigureKeys(config.name, config.api_keys), timeout=ASK_TIMEOUT)

    def _forget_keys(self, name: str) -> None:
        self._keys.ask(ForgetKeys(name), timeout=ASK_TIMEOUT)

    def _supervisor(self) -> SupervisorClient:
        return SupervisorClient(self._providers.ref(), ASK_TIMEOUT)

    def _start(self, config: WorkerConfig, settings: Settings) -> None:
        self._supervisor().start_child(self._tree.worker_spec(config, settings))

    def _restart(self, config: WorkerConfig, settings: Settings, *, fresh: bool = False) -> None:
        """Stop the worker's actor if it runs and start it with ``config``.

        ``fresh`` forgets its start history first: a reconfigured worker counts its
        restarts from zero.
        """
        self._stop(config.name)
        if fresh:
            self._tree.workers.forget(config.name)
        self._start(config, settings)

    def _stop(self, name: str) -> None:
        supervisor = self._supervisor()
        try:
            supervisor.terminate_child(name)
            supervisor.delete_child(name)
        except ChildNotFound:
            return

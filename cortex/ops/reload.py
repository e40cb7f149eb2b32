"""Hot reload: compare the running configuration with a freshly read one and apply the diff.

:func:`plan_reload` is pure: from the previous settings, the new settings and the workers
running now, it decides which workers to add, remove, re-key or restart with a new
configuration, whether the routing or key-rotation strategy changed, and which changed
settings can only take effect after a restart. :func:`apply_reload` then performs the
plan through the actors, exactly as the admin API would: the registry owns worker
configurations, the key manager owns keys, the providers supervisor starts and stops
provider actors, and the pool owns routing.

Applying is all or nothing: each step is logged with its undo (:mod:`cortex.ops.undo`), and
when one fails (a worker that does not start, an actor that does not answer) every step
already taken is undone, so the configuration in force stays the one loaded before and
the next reload starts again from it.

Reading the new configuration happens before any of this, and a configuration that fails
validation is rejected whole (:class:`~cortex.config.settings.ConfigError`), leaving the running
one untouched. In-flight streams are never cut: they run on the front's event loop and
need no provider actor, and a removed or reconfigured worker's actor is replaced, not the
streams it was serving.

Workers added or removed through the admin API since the last load are left alone unless
the new configuration names them: a reload applies what changed *in the configuration*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

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
from cortex.config.table import live_fields
from cortex.ops.undo import UndoLog
from cortex.tree import WORKERS, Tree
from supervisors import ChildNotFound, Handle, SupervisorClient

ASK_TIMEOUT = 10.0

LIVE_FIELDS = live_fields()
"""Settings a reload applies at once (the table's live rows); any other waits for a restart."""


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a reload will change.

    Attributes:
        add: workers to register and start.
        remove: workers to stop and forget.
        rekey: workers whose only change is their key list (no actor restart needed).
        reconfigure: workers whose configuration changed otherwise (their actor restarts;
            statistics stay on the board).
        routing_changed: the default strategy or the model routes changed.
        rotation_changed: the key rotation strategy changed.
        live: names of other settings that change at once (secrets shown by name only).
        needs_restart: names of changed settings that take effect after a restart.
    """

    add: tuple[WorkerConfig, ...] = ()
    remove: tuple[str, ...] = ()
    rekey: tuple[WorkerConfig, ...] = ()
    reconfigure: tuple[WorkerConfig, ...] = ()
    routing_changed: bool = False
    rotation_changed: bool = False
    live: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()


def plan_reload(old: Settings, new: Settings, running: Mapping[str, WorkerConfig]) -> ReloadPlan:
    """Decide what to change; pure.

    Args:
        old: the settings last loaded (or the start-up ones).
        new: the settings just read and validated.
        running: the configuration of every worker registered now, by name.
    """
    add: list[WorkerConfig] = []
    rekey: list[WorkerConfig] = []
    reconfigure: list[WorkerConfig] = []
    for config in new.workers:
        current = running.get(config.name)
        if current is None:
            add.append(config)
        elif current != config:
            same_but_keys = dataclasses.replace(current, api_keys=config.api_keys) == config
            (rekey if same_but_keys else reconfigure).append(config)
    wanted = {config.name for config in new.workers}
    remove = tuple(
        config.name
        for config in old.workers
        if config.name not in wanted and config.name in running
    )
    changed = [
        f.name for f in dataclasses.fields(Settings) if getattr(old, f.name) != getattr(new, f.name)
    ]
    live_other = {"workers", "strategy", "routes", "key_rotation"}
    return ReloadPlan(
        add=tuple(add),
        remove=remove,
        rekey=tuple(rekey),
        reconfigure=tuple(reconfigure),
        routing_changed="strategy" in changed or "routes" in changed,
        rotation_changed="key_rotation" in changed,
        live=tuple(n for n in changed if n in LIVE_FIELDS and n not in live_other),
        needs_restart=tuple(n for n in changed if n not in LIVE_FIELDS),
    )


def apply_reload(
    plan: ReloadPlan,
    old: Settings,
    new: Settings,
    running: Mapping[str, WorkerConfig],
    tree: Tree,
) -> dict[str, Any]:
    """Carry out ``plan`` through the actors, all or nothing; blocks, so call it off the loop.

    The new settings are put in force first (for the limits, keys and tokens read per
    request, and for a pool that restarts meanwhile). Then workers are added and
    reconfigured (the steps that start actors, so the likeliest to fail), re-keyed, the
    routing and rotation change, and removals come last, so that a failure seldom has a
    removal to undo (an undone removal brings the worker back with fresh counters).

    Args:
        plan: what :func:`plan_reload` decided.
        old: the settings in force until now.
        new: the settings to put in force.
        running: every worker's configuration before the reload (what undoing restores).
        tree: the running tree.

    Returns:
        The report the admin API shows: what changed, by name.

    Raises:
        StepFailed: a step failed; every step before it was undone, so the configuration
            in force is ``old`` again (``undo_errors`` lists undos that failed too).
    """
    steps, log = _Steps(tree), UndoLog()
    log.run(
        "settings",
        partial(tree.runtime.use_settings, new),
        partial(tree.runtime.use_settings, old),
    )
    for config in plan.add:
        steps.add(log, config, new)
    for config in plan.reconfigure:
        steps.reconfigure(log, config, running[config.name], new, old)
    for config in plan.rekey:
        steps.rekey(log, config, running[config.name])
    if plan.routing_changed:
        log.run("pool", partial(steps.routing, new), partial(steps.routing, old))
    if plan.rotation_changed:
        log.run("keys", partial(steps.rotation, new), partial(steps.rotation, old))
    for name in plan.remove:
        steps.remove(log, running[name], old)
    return {
        "applied": True,
        "added": [c.name for c in plan.add],
        "removed": list(plan.remove),
        "rekeyed": [c.name for c in plan.rekey],
        "reconfigured": [c.name for c in plan.reconfigure],
        "strategy": new.strategy.value if plan.routing_changed else None,
        "key_rotation": new.key_rotation.value if plan.rotation_changed else None,
        "settings_applied": list(plan.live),
        "requires_restart": list(plan.needs_restart),
    }


class _Steps:
    """The actor calls a reload makes, each a bounded ask by name, and their undos.

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
        name = config.name
        log.run(name, partial(self._register, config), partial(self._unregister, name))
        log.run(name, partial(self._set_keys, config), partial(self._forget_keys, name))
        log.run(name, partial(self._start, config, settings), partial(self._stop, name))

    def remove(self, log: UndoLog, config: WorkerConfig, settings: Settings) -> None:
        name = config.name
        log.run(name, partial(self._stop, name), partial(self._restart, config, settings))
        log.run(name, partial(self._forget_keys, name), partial(self._set_keys, config))
        log.run(name, partial(self._unregister, name), partial(self._register, config))
        self._tree.workers.forget(name)

    def rekey(self, log: UndoLog, config: WorkerConfig, before: WorkerConfig) -> None:
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
        self.rekey(log, config, before)
        log.run(
            config.name,
            partial(self._restart, config, settings, fresh=True),
            partial(self._restart, before, old_settings),
        )

    def routing(self, settings: Settings) -> None:
        self._pool.ask(SetRouting(settings.strategy, settings.routes), timeout=ASK_TIMEOUT)

    def rotation(self, settings: Settings) -> None:
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

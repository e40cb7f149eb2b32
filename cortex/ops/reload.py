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

from actors.workers import WorkerConfig
from cortex.config.settings import Settings
from cortex.config.table import live_fields
from cortex.ops.undo import UndoLog
from cortex.ops.workers import WorkerLifecycle
from cortex.tree import Tree

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
    steps, log = WorkerLifecycle(tree), UndoLog()
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

"""Hot reload: compare the running configuration with a freshly read one and apply the diff.

:func:`plan_reload` is pure: from the previous settings, the new settings and the workers
running now, it decides which workers to add, remove, re-key or restart with a new
configuration, whether the routing or key-rotation strategy changed, and which changed
settings can only take effect after a restart. :func:`apply_reload` then performs the
plan through the actors, exactly as the admin API would: the registry owns worker
configurations, the key manager owns keys, the providers supervisor starts and stops
provider actors, and the pool owns routing.

Reading the new configuration happens before any of this, and a configuration that fails
validation is rejected whole (:class:`~cortex.settings.ConfigError`), leaving the running
one untouched. In-flight streams are never cut: they run on the front's event loop and
need no provider actor, and a removed or reconfigured worker's actor is replaced, not the
streams it was serving.

Workers added or removed through the admin API since the last load are left alone unless
the new configuration names them: a reload applies what changed *in the configuration*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
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
from cortex.settings import Settings
from cortex.tree import Tree, provider_spec
from supervisors import ChildNotFound, Handle, SupervisorClient

ASK_TIMEOUT = 10.0

LIVE_FIELDS = frozenset(
    {
        "workers",
        "strategy",
        "routes",
        "key_rotation",
        "admin_token",
        "api_keys",
        "protect_monitoring",
        "fault_drills",
        "max_messages",
        "max_connections_per_client",
    }
)
"""Settings a reload applies at once; any other changed setting waits for a restart."""


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


def apply_reload(plan: ReloadPlan, new: Settings, tree: Tree) -> dict[str, Any]:
    """Carry out ``plan`` through the actors; blocks, so call it off the event loop.

    The new settings are put in force (for the limits, keys and tokens read per request)
    before workers change, so a worker started now uses the new probe settings. A failure
    on one worker is reported and does not stop the others.

    Returns:
        The report the admin API shows: what changed, by name, and any per-worker error.
    """
    tree.runtime.use_settings(new)
    errors: list[str] = []
    handle = _Handles(tree)
    for name in plan.remove:
        _guard(errors, name, partial(handle.remove, name))
    for config in plan.add:
        _guard(errors, config.name, partial(handle.add, config, new))
    for config in plan.rekey:
        _guard(errors, config.name, partial(handle.rekey, config))
    for config in plan.reconfigure:
        _guard(errors, config.name, partial(handle.reconfigure, config, new))
    if plan.routing_changed:
        _guard(errors, "pool", partial(handle.routing, new))
    if plan.rotation_changed:
        _guard(errors, "keys", partial(handle.rotation, new))
    return {
        "applied": not errors,
        "added": [c.name for c in plan.add],
        "removed": list(plan.remove),
        "rekeyed": [c.name for c in plan.rekey],
        "reconfigured": [c.name for c in plan.reconfigure],
        "strategy": new.strategy.value if plan.routing_changed else None,
        "key_rotation": new.key_rotation.value if plan.rotation_changed else None,
        "settings_applied": list(plan.live),
        "requires_restart": list(plan.needs_restart),
        "errors": errors,
    }


def _guard(errors: list[str], name: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - one worker's failure must not stop the rest
        errors.append(f"{name}: {type(exc).__name__}: {exc}")


class _Handles:
    """The actor calls a reload makes, each a bounded ask by name."""

    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        directory = tree.directory
        self._registry = Handle(directory, "registry")
        self._keys = Handle(directory, "keys")
        self._pool = Handle(directory, "pool")
        self._providers = Handle(directory, "providers")

    def _supervisor(self) -> SupervisorClient:
        return SupervisorClient(self._providers.ref(), ASK_TIMEOUT)

    def add(self, config: WorkerConfig, settings: Settings) -> None:
        self._registry.ask(RegisterWorker(config), timeout=ASK_TIMEOUT)
        self._keys.ask(ConfigureKeys(config.name, config.api_keys), timeout=ASK_TIMEOUT)
        self._start(config, settings)

    def remove(self, name: str) -> None:
        self._stop(name)
        self._keys.ask(ForgetKeys(name), timeout=ASK_TIMEOUT)
        self._registry.ask(UnregisterWorker(name), timeout=ASK_TIMEOUT)
        self._tree.incarnations.forget(name)

    def rekey(self, config: WorkerConfig) -> None:
        self._keys.ask(ConfigureKeys(config.name, config.api_keys), timeout=ASK_TIMEOUT)
        self._registry.ask(UpdateWorker(config), timeout=ASK_TIMEOUT)

    def reconfigure(self, config: WorkerConfig, settings: Settings) -> None:
        self.rekey(config)
        self._stop(config.name)
        self._tree.incarnations.forget(config.name)
        self._start(config, settings)

    def routing(self, settings: Settings) -> None:
        self._pool.ask(SetRouting(settings.strategy, settings.routes), timeout=ASK_TIMEOUT)

    def rotation(self, settings: Settings) -> None:
        self._keys.ask(SetKeyRotation(settings.key_rotation), timeout=ASK_TIMEOUT)

    def _start(self, config: WorkerConfig, settings: Settings) -> None:
        tree = self._tree
        spec = provider_spec(config, settings, tree.board, tree.ledger)
        self._supervisor().start_child(tree.incarnations.track(spec))

    def _stop(self, name: str) -> None:
        supervisor = self._supervisor()
        try:
            supervisor.terminate_child(name)
            supervisor.delete_child(name)
        except ChildNotFound:
            return

"""Admin changes that reach every instance: a reload, a worker added or removed.

An operator speaks to one instance's admin API; when the change succeeded there, that
instance publishes it on ``<prefix>:admin`` and every other instance applies it through
its own operator, as if it had been asked:

- ``reload``: each instance re-reads its own configuration source (the shared file), so
  they all end on the same configuration version, whatever version they ran before;
- ``add_worker``: the same ``CORTEX_PROVIDERS`` entry, secrets included, is added on each
  instance (so Redis must be trusted like the configuration file; the entry is never
  logged);
- ``remove_worker``: the worker is removed on each instance.

A worker change is applied only by instances that run the sender's configuration version:
an instance configured otherwise (a rolling deploy half done, a deliberate difference)
logs ``fleet_change_ignored`` and keeps its workers, since a worker added to one
configuration may already exist, differently, in another. A reload is applied by all, as
it carries no configuration of its own.

Loops cannot happen: a change is published only by the admin API's handlers, never by the
path that applies a received one, and each instance ignores what it sent itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from cortex.errors import GatewayError
from cortex.fleet.wire import read_object

if TYPE_CHECKING:
    from cortex.fleet.store import SharedStore
    from cortex.http.admin import Operator

log = structlog.get_logger("cortex.fleet")

CHANNEL = "admin"
ACTIONS = frozenset({"reload", "add_worker", "remove_worker"})


@dataclass(frozen=True, slots=True)
class AdminChange:
    """One change made through an admin API.

    Attributes:
        action: ``reload``, ``add_worker`` or ``remove_worker``.
        worker: the worker's name (worker changes only).
        entry: the worker's ``CORTEX_PROVIDERS`` entry (``add_worker`` only; has secrets).
    """

    action: str
    worker: str | None = None
    entry: dict[str, Any] | None = field(default=None, repr=False)


def encode_change(change: AdminChange, sender: str, version: str) -> bytes:
    """A change as published, with its sender and the sender's configuration version."""
    return orjson.dumps(
        {
            "from": sender,
            "config_version": version,
            "action": change.action,
            "worker": change.worker,
            "entry": change.entry,
        }
    )


def decode_change(raw: bytes) -> tuple[str, str, AdminChange] | None:
    """``(sender, version, change)`` of a published change; None if it is not one."""
    body = read_object(raw)
    if body is None:
        return None
    sender, version, action = body.get("from"), body.get("config_version"), body.get("action")
    worker, entry = body.get("worker"), body.get("entry")
    if not isinstance(sender, str) or not isinstance(version, str) or action not in ACTIONS:
        return None
    if action != "reload" and not isinstance(worker, str):
        return None
    if action == "add_worker" and not isinstance(entry, dict):
        return None
    return sender, version, AdminChange(action, worker, entry if action == "add_worker" else None)


def should_apply(change: AdminChange, sender_version: str, own_version: str) -> bool:
    """Whether an instance running ``own_version`` applies ``change`` (see the module)."""
    return change.action == "reload" or sender_version == own_version


class AdminRelay:
    """Publishes this instance's admin changes and applies the other instances' ones.

    Args:
        store: the shared store.
        instance: this instance's id.
        version: the configuration version in force now.
        operator: the operator in force now (None while the gateway is starting).
    """

    def __init__(
        self,
        store: SharedStore,
        instance: str,
        *,
        version: Callable[[], str],
        operator: Callable[[], Operator | None],
    ) -> None:
        self._store = store
        self._instance = instance
        self._version = version
        self._operator = operator
        self._tasks: set[asyncio.Task[None]] = set()
        store.subscribe(CHANNEL, self._received)

    def publish(self, change: AdminChange) -> None:
        """Tell the other instances about a change that succeeded here."""
        payload = encode_change(change, self._instance, self._version())
        if not self._store.publish(CHANNEL, payload):
            log.warning("fleet_change_not_shared", action=change.action, worker=change.worker)

    def _received(self, raw: bytes) -> None:
        decoded = decode_change(raw)
        if decoded is None:
            log.warning("fleet_change_ignored", reason="unreadable")
            return
        sender, version, change = decoded
        if sender == self._instance:
            return
        own = self._version()
        if not should_apply(change, version, own):
            log.warning(
                "fleet_change_ignored",
                action=change.action,
                worker=change.worker,
                sender=sender,
                reason="configuration_differs",
                sender_config_version=version,
                config_version=own,
            )
            return
        task = asyncio.ensure_future(self._apply(change, sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, change: AdminChange, sender: str) -> None:
        """Apply ``change`` through this instance's operator, off the loop."""
        operator = self._operator()
        if operator is None:
            log.warning("fleet_change_ignored", action=change.action, reason="no_operator")
            return
        call = _call(operator, change)
        try:
            await operator.run(call)
        except GatewayError as exc:
            log.warning(
                "fleet_change_failed",
                action=change.action,
                worker=change.worker,
                sender=sender,
                code=exc.code,
            )
            return
        log.info("fleet_change_applied", action=change.action, worker=change.worker, sender=sender)


def _call(operator: Operator, change: AdminChange) -> Callable[[], object]:
    """The operator's blocking call that applies ``change``."""
    worker = change.worker or ""
    if change.action == "add_worker":
        entry = dict(change.entry or {})
        return lambda: operator.add_worker(worker, entry)
    if change.action == "remove_worker":
        return lambda: operator.remove_worker(worker)
    return operator.reload

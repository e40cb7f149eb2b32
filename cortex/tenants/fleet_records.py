"""Gateway key records fleet-wide: a change through any instance reaches every database.

Instances on one machine share one database file, and each sees the others' changes
within :data:`~cortex.tenants.store.FRESHNESS` seconds. Instances on several machines each
have a file of their own, so with a shared store :class:`FleetRecords` carries every
change made through an admin API (create, update, revoke, rotate) to the others:

* the instance that made it writes the record (its digest, never its secret) to the hash
  ``<prefix>:tenants:records`` and publishes it on ``<prefix>:tenant_keys``, in one
  pipeline of writes; every other instance takes it into its own database at once, so a
  key revoked through one instance is refused by all within a round trip;
* on every (re)connection an instance first sends the changes made here while Redis was
  unreachable, then takes in every record of the hash (what it missed), then sends its
  records the hash lacks (keys made before the fleet shared them).

A received record replaces the local one of the same id, except that a revocation is never
undone (:meth:`~cortex.tenants.store.KeyStore.apply`): revoking wins over any concurrent
change. A received record equal to the local one changes nothing, so instances sharing a
file apply it once. Redis holds key digests: it must be trusted like the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from cortex.fleet.wire import read_object
from cortex.tenants.fleet_counters import finish

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

    from cortex.fleet.store import SharedStore
    from cortex.tenants.store import KeyStore

log = structlog.get_logger("cortex.tenants")

CHANNEL = "tenant_keys"
"""The pub/sub channel (under the prefix) key record changes are announced on."""
CLOSE_WAIT = 2.0
"""Seconds the records being applied get to finish when the relay closes."""
CATCH_UP = 1.5
"""Seconds after start of a second resync: a channel subscribed while the store runs is
listened to within the store's ``LISTEN_POLL`` (0.5 s), and a change published before that
would be missed."""


class FleetRecords:
    """Shares one instance's gateway key records with the fleet through its store.

    Args:
        store: the instance's shared store.
        keys: the instance's key records.
        run: runs a blocking database call off the loop.
        instance: this instance's id (its own announcements are ignored when they return).
    """

    def __init__(
        self,
        store: SharedStore,
        keys: KeyStore,
        run: Callable[[Callable[[], Any]], Awaitable[Any]],
        instance: str,
    ) -> None:
        self._store = store
        self._keys = keys
        self._run = run
        self._instance = instance
        self._records = store.key("tenants", "records")
        self._channel = store.key(CHANNEL)
        self._offline: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._catching_up: asyncio.Future[None] | None = None

    def attach(self) -> None:
        """Listen to the fleet's changes, and resync on every reconnection."""
        self._store.subscribe(CHANNEL, self._received)
        self._store.on_connected(self.resync)

    async def start(self) -> None:
        """Take the fleet's records now, and again once the subscription surely holds."""
        await self.resync()
        self._catching_up = asyncio.ensure_future(self._catch_up())

    async def _catch_up(self) -> None:
        await asyncio.sleep(CATCH_UP)
        await self.resync()

    def changed(self, exported: dict[str, Any]) -> None:
        """Send a record changed through this instance's admin API to the fleet."""
        key_id = str(exported["id"])
        if not self._store.available:
            self._offline.add(key_id)
        body = orjson.dumps(exported).decode()
        message = orjson.dumps({"from": self._instance, "record": exported})
        records, channel = self._records, self._channel
        if not self._store.submit(
            lambda pipe: _send(pipe, (records, channel), key_id, body, message)
        ):
            self._offline.add(key_id)

    def _received(self, raw: bytes) -> None:
        message = read_object(raw)
        if message is None or message.get("from") == self._instance:
            return
        record = message.get("record")
        if not isinstance(record, dict):
            log.warning("fleet_message_ignored", channel=CHANNEL)
            return
        task = asyncio.ensure_future(self._take(record, "message"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take(self, record: dict[str, Any], source: str) -> None:
        """Apply one received record to this database (off the loop), logging a change."""
        try:
            changed = await self._run(lambda: self._keys.apply(record))
        except ValueError:
            log.warning("fleet_message_ignored", channel=CHANNEL, reason="not a gateway key")
            return
        if changed:
            status = "revoked" if record.get("revoked_at") is not None else "active"
            log.info(
                "gateway_key_applied_from_fleet", key_id=record["id"], status=status, via=source
            )

    async def resync(self) -> None:
        """After a (re)connection: send offline changes, take the fleet's, send what it lacks."""
        offline, self._offline = self._offline, set()
        mine: list[dict[str, Any]] = await self._run(self._keys.export_all)
        for exported in mine:
            if exported["id"] in offline:
                self.changed(exported)
        stored = await self._store.run(lambda client: _read_records(client, self._records))
        if stored is None:
            self._offline |= offline
            return
        known = {_text(key_id) for key_id in stored}
        for key_id, raw in stored.items():
            record = read_object(raw)
            # A change made here offline is newer than the hash's copy, which it replaces.
            if record is not None and _text(key_id) not in offline:
                await self._take(record, "resync")
        for exported in mine:
            if exported["id"] not in known and exported["id"] not in offline:
                self.changed(exported)

    async def close(self) -> None:
        """Let the records being applied finish (within :data:`CLOSE_WAIT`)."""
        if self._catching_up is not None:
            self._catching_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catching_up
        await finish(self._tasks, CLOSE_WAIT)


def _send(pipe: Pipeline, names: tuple[str, str], key_id: str, body: str, message: bytes) -> None:
    """Queue a record's write to the hash and its announcement (hash and channel names)."""
    records, channel = names
    pipe.hset(records, key_id, body)
    pipe.publish(channel, message)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def _read_records(client: Redis, records: str) -> dict[bytes, bytes]:
    stored: dict[bytes, bytes] = await client.hgetall(records)  # type: ignore[misc] # redis-py types it as sync or async
    return stored

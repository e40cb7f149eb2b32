"""The fleet as the front sees it: this instance, its heartbeat, and its live peers.

:func:`open_fleet` builds a :class:`Fleet` from the settings. Without ``CORTEX_REDIS_URL``
it is the embedded fleet of one: no store, no task, no redis import, and
``GET /api/fleet`` lists this instance alone. With it, the fleet owns the instance's
:class:`~cortex.fleet.store.SharedStore` and beats once a second (see
:mod:`cortex.fleet.instances` for the keys), and shares the key ledger's rests and counts
(:mod:`cortex.fleet.keys`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from actors.keys import KeyLedger
from cortex.config.settings import Settings
from cortex.config.store_url import shown_store_url
from cortex.fleet.admin import AdminChange
from cortex.fleet.health import StoreHealth
from cortex.fleet.instances import (
    HEARTBEAT_INTERVAL,
    INDEX_KEEP,
    RECORD_TTL,
    Identity,
    Load,
    decode,
    encode,
    instance_record,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from cortex.fleet.admin import AdminRelay
    from cortex.fleet.keys import FleetKeys
    from cortex.fleet.store import SharedStore

log = structlog.get_logger("cortex.fleet")

INSTANCE = "instance"
INDEX = "instances"


class Fleet:
    """This instance and, with a shared store, every live instance of the fleet.

    Args:
        identity: this process's identity.
        load: how busy this instance is now.
        version: the configuration version in force now.
        store: the shared store; None for the embedded fleet of one.
        keys: the key ledger's link to the fleet (with a store only).
    """

    def __init__(
        self,
        identity: Identity,
        *,
        load: Callable[[], Load],
        version: Callable[[], str],
        store: SharedStore | None = None,
        keys: FleetKeys | None = None,
    ) -> None:
        self.identity = identity
        self.store = store
        self._keys = keys
        self.listen = ""
        self._load = load
        self._version = version
        self._heartbeat: asyncio.Task[None] | None = None
        self.relay: AdminRelay | None = None

    @property
    def shared(self) -> bool:
        """Whether this instance shares state through Redis."""
        return self.store is not None

    def share(self, change: AdminChange) -> None:
        """Send an admin change that succeeded here to every other instance (if shared)."""
        if self.relay is not None:
            self.relay.publish(change)

    def health(self) -> StoreHealth | None:
        """The shared store's counters; None for the embedded fleet."""
        return self.store.health if self.store is not None else None

    def record(self) -> dict[str, object]:
        """This instance's record, as of now."""
        return instance_record(
            self.identity, self._load(), self._version(), self.listen, time.time()
        )

    async def start(self) -> None:
        """Connect the store (an unreachable one is not an error) and resync from it."""
        if self.store is not None:
            if self._keys is not None:
                self._keys.attach()
            await self.store.start()
            if self._keys is not None:
                self._keys.start()

    def announce(self, listen: str) -> None:
        """Join the fleet's list, as listening on ``listen``: beat from now on (loop only)."""
        self.listen = listen
        if self.store is not None and self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat_forever())

    async def close(self) -> None:
        """Stop beating, leave the fleet at once (not after the TTL), disconnect."""
        store = self.store
        if store is None:
            return
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._keys is not None:
            await self._keys.close()
        member = self.identity.id
        await store.run(lambda client: _leave(client, store, member))
        await store.close()

    async def instances(self) -> list[dict[str, object]]:
        """Every live instance, this one first; this one alone while Redis is unreachable."""
        own = self.record()
        store = self.store
        if store is None:
            return [own]
        index = store.key(INDEX)
        members = await store.run(
            lambda client: client.zrangebyscore(index, time.time() - INDEX_KEEP, "+inf")
        )
        others = [m.decode() for m in members or () if m.decode() != self.identity.id]
        if not others:
            return [own]
        keys = [store.key(INSTANCE, member) for member in others]
        raws = await store.run(lambda client: client.mget(keys))
        records = [r for r in map(decode, raws or ()) if r is not None]
        records.sort(key=lambda r: str(r.get("started")))
        return [own, *records]

    async def dashboard_view(self) -> list[dict[str, object]]:
        """Every live instance as the dashboard lists it (only fields that change slowly)."""
        return [
            {
                "id": record.get("id"),
                "this": record.get("id") == self.identity.id,
                "host": record.get("host"),
                "listen": record.get("listen"),
                "version": record.get("version"),
                "config_version": record.get("config_version"),
                "started": record.get("started"),
                "load": record.get("load"),
            }
            for record in await self.instances()
        ]

    def status(self) -> dict[str, object]:
        """How this instance shares state: ``embedded``, or the store's health."""
        store = self.store
        if store is None:
            return {"mode": "embedded"}
        return {"mode": "redis", "prefix": store.prefix, **store.health.as_json()}

    async def _beat_forever(self) -> None:
        store = self.store
        assert store is not None  # started only with a store
        while True:
            beat = functools.partial(
                _beat, store=store, member=self.identity.id, body=encode(self.record())
            )
            await store.run(beat)
            await asyncio.sleep(HEARTBEAT_INTERVAL)


async def _beat(client: Redis, *, store: SharedStore, member: str, body: bytes) -> None:
    """Write this instance's record with its TTL and refresh (and trim) the index."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.set(store.key(INSTANCE, member), body, ex=RECORD_TTL)
    pipe.zadd(store.key(INDEX), {member: now})
    pipe.zremrangebyscore(store.key(INDEX), "-inf", now - INDEX_KEEP)
    await pipe.execute()


async def _leave(client: Redis, store: SharedStore, member: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.delete(store.key(INSTANCE, member))
    pipe.zrem(store.key(INDEX), member)
    await pipe.execute()


def open_fleet(
    settings: Settings,
    identity: Identity,
    *,
    load: Callable[[], Load],
    version: Callable[[], str],
    ledger: KeyLedger,
) -> Fleet:
    """The fleet for ``settings``: shared through Redis when a URL is set, else embedded.

    With Redis, ``ledger``'s rests and counts are shared with the fleet.
    """
    if not settings.redis_url:
        return Fleet(identity, load=load, version=version)
    # Imported here so an instance without Redis never pays for importing redis.
    from cortex.fleet.keys import FleetKeys  # noqa: PLC0415 - see above
    from cortex.fleet.store import SharedStore  # noqa: PLC0415 - see above

    store = SharedStore(
        settings.redis_url,
        prefix=settings.redis_prefix,
        budget=settings.redis_budget,
        shown_url=shown_store_url(settings.redis_url),
    )
    keys = FleetKeys(store, ledger, identity.id)
    return Fleet(identity, load=load, version=version, store=store, keys=keys)

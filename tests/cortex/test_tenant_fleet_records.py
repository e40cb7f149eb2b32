"""Gateway key records carried between databases by FleetRecords, on a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio

from cortex.fleet.store import SharedStore
from cortex.tenants.fleet_records import FleetRecords
from cortex.tenants.store import KeyStore

WAIT = 10.0


def database(path: Path) -> KeyStore:
    store = KeyStore(path)
    store.open()
    return store


async def off_loop(call: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(call)


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():
            await asyncio.sleep(0.02)


async def listening(url: str, prefix: str, count: int) -> None:
    """Until ``count`` instances subscribe to the records' channel (within LISTEN_POLL)."""
    channel = f"{prefix}:tenant_keys"
    async with redis.asyncio.Redis.from_url(url) as client:
        async with asyncio.timeout(WAIT):
            while (await client.pubsub_numsub(channel))[0][1] < count:
                await asyncio.sleep(0.02)


class Instance:
    """One instance's side: its database, its store and its relay."""

    def __init__(self, url: str, prefix: str, keys: KeyStore, name: str) -> None:
        self.keys = keys
        self.store = SharedStore(url, prefix=prefix, budget=1.0, shown_url="redis")
        self.relay = FleetRecords(self.store, keys, off_loop, name)

    async def __aenter__(self) -> Instance:
        await self.store.start()
        self.relay.attach()
        await self.relay.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.relay.close()
        await self.store.close()


async def stored(url: str, prefix: str, count: int) -> None:
    """Until the records' hash holds ``count`` records (a store's close may cut a write)."""
    async with redis.asyncio.Redis.from_url(url) as client:
        async with asyncio.timeout(WAIT):
            while await client.hlen(f"{prefix}:tenants:records") < count:  # type: ignore[misc]
                await asyncio.sleep(0.02)


def test_a_revocation_through_one_instance_reaches_the_other_database(
    redis_server, redis_prefix, tmp_path
):
    here, there = database(tmp_path / "here.db"), database(tmp_path / "there.db")

    key, secret = here.create({"name": "app"})

    async def revoke() -> None:
        async with (
            Instance(redis_server.url, redis_prefix, here, "a") as a,
            Instance(redis_server.url, redis_prefix, there, "b"),
        ):
            await listening(redis_server.url, redis_prefix, 2)
            a.relay.changed(here.export(key.id))
            await until(lambda: there.find(secret) is not None)
            here.revoke(key.id)
            a.relay.changed(here.export(key.id))
            await until(lambda: not there.find(secret).usable(0.0))  # type: ignore[union-attr]

    asyncio.run(revoke())
    found = there.find(secret)
    assert found is not None
    assert not found.usable(0.0)


def test_an_instance_that_was_away_takes_in_what_it_missed_when_it_starts(
    redis_server, redis_prefix, tmp_path
):
    here, there = database(tmp_path / "here.db"), database(tmp_path / "there.db")
    secret = here.create({"name": "app", "tpm": 500})[1]
    before = there.create({"name": "older"})[1]

    async def one_then_the_other() -> None:
        async with Instance(redis_server.url, redis_prefix, here, "a"):
            await stored(redis_server.url, redis_prefix, 1)
        async with Instance(redis_server.url, redis_prefix, there, "b"):
            await stored(redis_server.url, redis_prefix, 2)
        async with Instance(redis_server.url, redis_prefix, here, "a"):
            pass

    asyncio.run(one_then_the_other())

    found = there.find(secret)
    assert found is not None
    assert found.limits.tpm == 500
    # and what only the second database had reached the first when it came back
    assert here.find(before) is not None


def test_a_malformed_record_from_the_fleet_is_ignored(redis_server, redis_prefix, tmp_path):
    here, there = database(tmp_path / "here.db"), database(tmp_path / "there.db")
    key, secret = here.create({"name": "app"})

    async def listen() -> None:
        async with Instance(redis_server.url, redis_prefix, there, "b") as b:
            await listening(redis_server.url, redis_prefix, 1)
            for bad in (b"nope", b'{"from": "a", "record": 3}', b'{"from": "a", "record": {}}'):
                b.store.publish("tenant_keys", bad)
            good = orjson.dumps({"from": "a", "record": here.export(key.id)})
            b.store.publish("tenant_keys", good)
            # Messages arrive in order: once the good one is in, the bad ones were read.
            await until(lambda: there.find(secret) is not None)

    asyncio.run(listen())

    assert [k.id for k in there.list()] == [key.id]

"""The fleet's key state: field names, stored values, and the two scripts on a real Redis."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis

from actors.keys import KeyCounts, KeyLedger, KeyRest, key_id
from actors.outcomes import ErrorKind
from cortex.fleet.keys import (
    COUNTS_SCRIPT,
    INVALID_KEEP,
    REST_SCRIPT,
    FleetKeys,
    count_fields,
    fleet_totals,
    parse_counts,
    parse_rest,
    rest_field,
    rest_message,
    stored_until,
    totals_by_key,
)
from cortex.fleet.store import SharedStore

NOW = 1_700_000_000.0


@pytest.mark.parametrize("worker", ["groq", "ollama:gpu-1", "a/b:c"])
def test_a_rest_read_back_names_the_same_key_whatever_the_worker_name(worker):
    rest = KeyRest(worker, "k0123456789", ErrorKind.QUOTA_EXHAUSTED, NOW + 5)

    value = f"{stored_until(rest, NOW)!r}|{rest.reason.value}"

    assert parse_rest(rest_field(worker, "k0123456789"), value.encode()) == rest


@pytest.mark.parametrize(
    ("field", "value"),
    [("k1:groq", b"soon|rate_limited"), ("k1:groq", b"12.0|no_such_reason"), ("k1", b"")],
)
def test_an_unreadable_rest_is_ignored(field, value):
    assert parse_rest(field, value) is None


def test_an_invalid_mark_is_kept_a_day_in_redis():
    rest = KeyRest("groq", "k1", ErrorKind.INVALID_KEY, math.inf)

    assert stored_until(rest, NOW) == NOW + INVALID_KEEP


def test_a_rest_message_carries_what_a_peer_needs():
    rest = KeyRest("groq", "k1", ErrorKind.RATE_LIMITED, NOW + 9)

    assert orjson.loads(rest_message(rest, NOW + 9, "me")) == {
        "op": "rest",
        "from": "me",
        "worker": "groq",
        "key": "k1",
        "reason": "rate_limited",
        "until": NOW + 9,
    }


def test_counts_round_trip_through_fields_per_worker_and_key():
    batch = {("groq", "k1"): KeyCounts(3, 2, 1), ("ollama:1", "k2"): KeyCounts(1, 0, 0)}
    args = count_fields(batch)
    flat = [str(a).encode() for a in args]

    assert args == ["k1:r:groq", 3, "k1:s:groq", 2, "k1:f:groq", 1, "k2:r:ollama:1", 1]
    assert totals_by_key(parse_counts(flat)) == {
        ("groq", "k1"): KeyCounts(3, 2, 1),
        ("ollama:1", "k2"): KeyCounts(1, 0, 0),
    }


def test_unknown_fields_and_values_in_the_counts_hash_are_ignored():
    fields = parse_counts([b"k1:r:groq", b"4", b"k1:x:groq", b"9", b"k1:s:groq", b"many"])

    assert totals_by_key(fields) == {("groq", "k1"): KeyCounts(requests=4)}


# -- the scripts, on a real redis-server ---------------------------------------------------


@pytest.fixture
def client(redis_server: Any, redis_prefix: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_server.url) as connection:
        yield connection
        for name in connection.scan_iter(f"{redis_prefix}*"):
            connection.delete(name)


def rest(client: redis.Redis, key: str, field: str, until: float, now: float = NOW) -> int:
    return int(
        client.eval(REST_SCRIPT, 1, key, field, repr(until), "rate_limited", repr(now), "ch", "m")
    )


class Instance:
    """One instance's side of the counts script: its batch numbers and the life it knows."""

    def __init__(self, client: redis.Redis, prefix: str, name: str) -> None:
        self.client = client
        self.prefix = prefix
        self.name = name
        self.life = ""

    def add(
        self, number: int, *deltas: str | int, seen: dict[str, int] | None = None
    ) -> dict[str, int]:
        """Send a batch (and the totals seen, as after a failure); the fleet's totals."""
        restore = [part for name, total in (seen or {}).items() for part in (name, total)]
        keys = [
            f"{self.prefix}:c",
            f"{self.prefix}:base",
            f"{self.prefix}:b:{self.name}",
            f"{self.prefix}:life",
        ]
        args = [
            60,
            number,
            f"life-{self.name}-{number}",
            self.life,
            len(restore) // 2,
            *restore,
            *deltas,
        ]
        life, counts, base = self.client.eval(COUNTS_SCRIPT, len(keys), *keys, *args)
        self.life = life.decode()
        return fleet_totals(parse_counts(counts), parse_counts(base))


@pytest.fixture
def one(client, redis_prefix) -> Instance:
    return Instance(client, redis_prefix, "one")


@pytest.fixture
def two(client, redis_prefix) -> Instance:
    return Instance(client, redis_prefix, "two")


def test_a_batch_is_added_once_even_when_sent_again(one):
    one.add(1, "k1:r:groq", 5)
    one.add(1, "k1:r:groq", 5)  # its answer was lost: sent again

    assert one.add(2, "k1:r:groq", 1) == {"k1:r:groq": 6}


def test_two_instances_batches_add_up(one, two):
    one.add(1, "k1:r:groq", 5)

    assert two.add(1, "k1:r:groq", 2) == {"k1:r:groq": 7}


def test_totals_seen_in_the_same_life_are_not_added_again(one, two):
    one.add(1, "k1:r:groq", 5)
    seen = two.add(1, "k1:r:groq", 2)

    assert one.add(2, "k1:r:groq", 1, seen=seen) == {"k1:r:groq": 8}


def test_after_redis_lost_its_data_the_highest_totals_seen_come_back_once(
    client, redis_prefix, one, two
):
    one.add(1, "k1:r:groq", 5)
    seen_by_one = one.add(2)  # 5
    seen_by_two = two.add(1, "k1:r:groq", 2)  # 7: the latest
    for name in client.scan_iter(f"{redis_prefix}*"):  # Redis restarts empty
        client.delete(name)

    one.add(3, "k1:r:groq", 10, seen=seen_by_one)  # the stale snapshot arrives first
    after = two.add(2, "k1:r:groq", 1, seen=seen_by_two)

    assert after == {"k1:r:groq": 7 + 10 + 1}


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [(NOW + 10, NOW + 20, NOW + 20), (NOW + 20, NOW + 10, NOW + 20)],
)
def test_the_rest_script_never_shortens_a_rest(client, redis_prefix, first, second, kept):
    key = f"{redis_prefix}:rests"
    rest(client, key, "k1:groq", first)
    rest(client, key, "k1:groq", second)

    assert float(client.hget(key, "k1:groq").split(b"|")[0]) == kept


def test_the_rest_script_drops_rests_that_are_over(client, redis_prefix):
    key = f"{redis_prefix}:rests"
    rest(client, key, "k1:groq", NOW + 5)
    rest(client, key, "k2:groq", NOW + 50, now=NOW + 10)

    assert set(client.hkeys(key)) == {b"k2:groq"}


# -- FleetKeys itself, on a real redis-server -------------------------------------------


def test_a_restarted_front_of_the_same_instance_gets_its_batches_counted(
    redis_server, redis_prefix
):
    """A new FleetKeys under the same instance id numbers its batches from 1 again."""
    ledger = KeyLedger()
    ledger.configure("groq", ["sk-alpha-0123456789"])

    async def one_front() -> None:
        store = SharedStore(redis_server.url, prefix=redis_prefix, budget=1.0, shown_url="redis")
        keys = FleetKeys(store, ledger, "same-instance")
        keys.attach()
        await store.start()
        for _ in range(3):
            ledger.checkout("groq")
            await keys.sync_counts()
        await keys.close()
        await store.close()

    asyncio.run(one_front())
    asyncio.run(one_front())

    with redis.Redis.from_url(redis_server.url) as client:
        stored = client.hgetall(f"{redis_prefix}:keys:counts")
    assert stored == {f"{key_id('sk-alpha-0123456789')}:r:groq".encode(): b"6"}


def test_a_malformed_announcement_is_ignored_and_the_next_one_still_applies(
    redis_server, redis_prefix
):
    ledger = KeyLedger()
    ledger.configure("groq", ["sk-alpha-0123456789"])
    kid = key_id("sk-alpha-0123456789")
    until = time.time() + 60
    good = rest_message(KeyRest("groq", kid, ErrorKind.RATE_LIMITED, until), until, "peer")
    bad = (b"not json", b"[1]", b'{"op": "rest", "from": "peer"}', b'{"op": "rest", "key": 1}')

    async def listen() -> bool:
        store = SharedStore(redis_server.url, prefix=redis_prefix, budget=1.0, shown_url="redis")
        keys = FleetKeys(store, ledger, "here")
        keys.attach()
        await store.start()
        try:
            async with asyncio.timeout(10.0):
                while True:
                    for message in (*bad, good):
                        store.publish("keys", message)
                    await asyncio.sleep(0.1)
                    if ledger.available("groq") == 0:
                        return True
        finally:
            await keys.close()
            await store.close()

    assert asyncio.run(listen())

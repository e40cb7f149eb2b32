"""Keys fleet-wide: rests, invalid marks and counts shared through Redis.

:class:`FleetKeys` is the key ledger's :class:`~actors.keys.KeyObserver` on an instance
with a shared store. Requests never wait on it: a checkout reads the local ledger only.

* **Rests** (a 429, an exhausted quota, an invalid key) live in the hash
  ``<prefix>:keys:rests``, one field ``<key id>:<worker>`` holding ``<until>|<reason>``
  (wall-clock seconds). A rest seen here is written by a server-side script that never
  shortens a longer rest, prunes rests that are over and publishes the rest on
  ``<prefix>:keys``, all at once; it leaves with the next pipeline of writes, so the other
  instances rest the key within a round trip or two. An invalid key is kept for
  :data:`INVALID_KEEP` seconds in Redis (each instance keeps it until a reload).
* **Unblocks** by an operator (or a reload that clears an invalid mark) delete the field
  and publish; every instance lifts the rest on its own ledger, without re-publishing.
* **Counts** (requests, successes, failures per key) live in the hash
  ``<prefix>:keys:counts``, fields ``<key id>:<r|s|f>:<worker>``. The ledger counts locally;
  every :data:`COUNTS_INTERVAL` seconds one script call adds what this instance counted
  since (a batch, numbered so a batch resent after a lost answer is added once) and
  answers the fleet's totals, which the ledger then shows (and ``least_used`` picks by).
  That is one Redis call per interval per instance, however many requests it serves.

On every (re)connection the store runs :meth:`FleetKeys.resync`: unblocks made while Redis
was unreachable are sent, this instance's current rests are written (and published when
they are news), and the fleet's rests are applied here. Counts survive a Redis that
restarted empty through its *life* (``<prefix>:life``, see ``SharedStore.life_key``):
after any failure, a batch carries the totals this instance last saw and the life it saw
them in; in a new life they raise ``<prefix>:keys:base`` (the totals from before it
began) to their maximum, and the fleet's totals are the base plus the new life's
counts. Every batch is counted once, but for the two rare cases of at most one batch each
that docs/scaling.md spells out.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson
import structlog

from actors.keys import KeyCounts, KeyLedger, KeyRest
from actors.outcomes import ErrorKind
from cortex.fleet.wire import read_object

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

    from cortex.fleet.store import SharedStore

log = structlog.get_logger("cortex.keys")

CHANNEL = "keys"
"""The pub/sub channel (under the prefix) rests and unblocks are announced on."""
COUNTS_INTERVAL = 0.2
"""Seconds between two count batches: how stale the fleet's counts may be here."""
INVALID_KEEP = 86_400.0
"""Seconds an invalid key's mark is kept in Redis (each instance keeps it until a reload)."""
BATCH_KEEP = 86_400
"""Seconds Redis remembers an instance's last batch number (to add a resent batch once)."""
COUNTERS = (("r", "requests"), ("s", "successes"), ("f", "failures"))
"""Each counter's letter in a field name, and its name in :class:`KeyCounts`."""

# Rest one key for the fleet: never shorten a longer rest; drop rests that are over; tell
# every instance. KEYS: the rests hash. ARGV: field, until, reason, now, channel, message.
REST_SCRIPT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(string.match(current, '^[^|]+')) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(string.match(all[i + 1], '^[^|]+')) < tonumber(ARGV[4]) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

# Add one instance's count batch and answer the fleet's totals.
# KEYS: the counts added during this Redis's life, the totals from before it began (its
# base), the instance's last batch number, the life's id.
# ARGV: batch number ttl, batch number, an id for a new life, the life this instance's
# totals were seen in ('' if none), n, then n (field, total) pairs this instance saw, then
# (field, delta) pairs to add.
# A Redis without a life id lost its data (or is new): it starts a life. Totals seen in an
# earlier life raise the base to at least them (a maximum: each instance's are a snapshot
# of the same counters, so they must not be added up); totals seen in this life are
# already in it. A batch whose number is not above the last one added is skipped.
COUNTS_SCRIPT = """
local life = redis.call('GET', KEYS[4])
if not life then
  life = ARGV[3]
  redis.call('SET', KEYS[4], life)
end
local n = tonumber(ARGV[5])
local i = 6
if ARGV[4] ~= '' and ARGV[4] ~= life then
  for _ = 1, n do
    local have = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
    if have < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
    i = i + 2
  end
else
  i = i + 2 * n
end
if i <= #ARGV and tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[2]) then
  while i <= #ARGV do
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[1])
end
return {life, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""


# -- the pure pieces: names, values and messages ---------------------------------------


def rest_field(worker: str, key_id: str) -> str:
    """A key's field in the rests hash (a key id never holds ``:``, a worker name may)."""
    return f"{key_id}:{worker}"


def stored_until(rest: KeyRest, now: float) -> float:
    """A rest's end as Redis keeps it: an invalid key's lasts :data:`INVALID_KEEP` there."""
    return now + INVALID_KEEP if math.isinf(rest.until) else rest.until


def parse_rest(field: bytes | str, value: bytes | str) -> KeyRest | None:
    """A rest read back from the rests hash; None for anything unreadable."""
    name = field.decode() if isinstance(field, bytes) else field
    text = value.decode() if isinstance(value, bytes) else value
    key_id, _, worker = name.partition(":")
    until, _, reason = text.partition("|")
    try:
        return KeyRest(worker, key_id, ErrorKind(reason), float(until))
    except ValueError:
        return None


def rest_message(rest: KeyRest, until: float, sender: str) -> bytes:
    """The announcement of a rest on the channel."""
    return orjson.dumps(
        {
            "op": "rest",
            "from": sender,
            "worker": rest.worker,
            "key": rest.key_id,
            "reason": rest.reason.value,
            "until": until,
        }
    )


def unblock_message(worker: str, key_id: str, sender: str) -> bytes:
    """The announcement of an unblock on the channel."""
    return orjson.dumps({"op": "unblock", "from": sender, "worker": worker, "key": key_id})


def count_fields(batch: dict[tuple[str, str], KeyCounts]) -> list[str | int]:
    """A batch as the counts script's ``(field, delta)`` arguments, zero deltas left out."""
    args: list[str | int] = []
    for (worker, key_id), counts in batch.items():
        for letter, name in COUNTERS:
            delta = getattr(counts, name)
            if delta:
                args += [f"{key_id}:{letter}:{worker}", delta]
    return args


def parse_counts(flat: Sequence[bytes | str]) -> dict[str, int]:
    """The counts hash as the script answers it (field, value, field, value...)."""
    fields: dict[str, int] = {}
    for i in range(0, len(flat) - 1, 2):
        name, value = flat[i], flat[i + 1]
        with contextlib.suppress(ValueError):
            fields[name.decode() if isinstance(name, bytes) else name] = int(value)
    return fields


def fleet_totals(counts: dict[str, int], base: dict[str, int]) -> dict[str, int]:
    """The fleet's totals per field: this Redis life's counts plus the base from before it."""
    return {name: counts.get(name, 0) + base.get(name, 0) for name in counts.keys() | base}


def totals_by_key(fields: dict[str, int]) -> dict[tuple[str, str], KeyCounts]:
    """The counts hash's fields gathered per ``(worker, key_id)``; unknown letters ignored."""
    names = dict(COUNTERS)
    gathered: dict[tuple[str, str], dict[str, int]] = {}
    for name, value in fields.items():
        key_id, _, rest = name.partition(":")
        letter, _, worker = rest.partition(":")
        if letter in names:
            gathered.setdefault((worker, key_id), {})[names[letter]] = value
    return {key: KeyCounts(**counts) for key, counts in gathered.items()}


# -- the observer ------------------------------------------------------------------------


class FleetKeys:
    """Shares one instance's key ledger with the fleet through its store.

    Args:
        store: the instance's shared store.
        ledger: the key ledger (it outlives this object: a restarted front makes another).
        instance: this instance's id (its own announcements are ignored when they return).
    """

    def __init__(self, store: SharedStore, ledger: KeyLedger, instance: str) -> None:
        self._store = store
        self._ledger = ledger
        self._instance = instance
        self._rests = store.key("keys", "rests")
        self._counts = store.key("keys", "counts")
        self._base = store.key("keys", "base")
        self._life_key = store.life_key
        self._life = ""
        # Numbered per object, not per instance: a restarted front (same instance id) starts
        # again from 1, and Redis must not take its batches for ones it already added.
        self._batch_key = store.key("keys", "batch", instance, secrets.token_hex(4))
        self._channel = store.key(CHANNEL)
        self._counts_script = store.script(COUNTS_SCRIPT)
        self._batch: tuple[int, dict[tuple[str, str], KeyCounts]] | None = None
        self._number = 0
        self._seen: dict[str, int] = {}
        self._restore = False
        self._unblocked_offline: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        """Listen to the fleet and tell it of this ledger's changes (before the store starts)."""
        self._store.subscribe(CHANNEL, self._on_message)
        self._store.on_connected(self.resync)
        self._ledger.observe(self)

    def start(self) -> None:
        """Start sending count batches (loop only)."""
        if self._task is None:
            self._task = asyncio.create_task(self._sync_forever())

    async def close(self) -> None:
        """Stop observing, and send the last batch (within the store's budget)."""
        self._ledger.observe(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sync_counts()

    # -- KeyObserver ---------------------------------------------------------------------

    def rested(self, rest: KeyRest) -> None:
        """Write and announce a rest taken here (from any thread; never blocks)."""
        now = time.time()
        until = stored_until(rest, now)
        args = (
            rest_field(rest.worker, rest.key_id),
            repr(until),
            rest.reason.value,
            repr(now),
            self._channel,
            rest_message(rest, until, self._instance).decode(),
        )
        self._store.submit(lambda pipe: _eval_rest(pipe, self._rests, args))

    def unblocked(self, worker: str, key_id: str) -> None:
        """Lift a rest fleet-wide; remembered while Redis is unreachable, sent on resync."""
        if not self._store.available:
            self._unblocked_offline.add((worker, key_id))
        message = unblock_message(worker, key_id, self._instance)
        field = rest_field(worker, key_id)
        self._store.submit(lambda pipe: _unblock(pipe, self._rests, field, self._channel, message))

    # -- what the fleet says -------------------------------------------------------------

    def _on_message(self, payload: bytes) -> None:
        message = read_object(payload)
        if message is None or message.get("from") == self._instance:
            return
        try:
            worker, key_id = str(message["worker"]), str(message["key"])
            if message["op"] == "unblock":
                if self._ledger.apply_remote_unblock(worker, key_id):
                    log.info("key_unblocked_by_fleet", worker=worker, key_id=key_id)
                return
            reason, until = ErrorKind(message["reason"]), float(message["until"])
        except (KeyError, TypeError, ValueError):
            log.warning("fleet_message_ignored", channel="keys")
            return
        rest = KeyRest(worker, key_id, reason, until)
        if self._ledger.apply_remote_rest(rest):
            log.info("key_blocked_by_fleet", worker=worker, key_id=key_id, reason=rest.reason.value)

    async def resync(self) -> None:
        """Merge with Redis after a (re)connection: unblocks, then rests both ways, then counts."""
        # Set before the first await: no count batch may reach a Redis that restarted
        # empty before the totals are put back, or the batch would be taken for them.
        self._restore = True
        offline, self._unblocked_offline = self._unblocked_offline, set()
        for worker, key_id in offline:
            self.unblocked(worker, key_id)
        for rest in self._ledger.rests():
            self.rested(rest)
        stored = await self._store.run(lambda client: _read_rests(client, self._rests))
        now = time.time()
        for field, value in (stored or {}).items():
            found = parse_rest(field, value)
            if found is not None and found.until > now:
                self._ledger.apply_remote_rest(found)

    # -- counts --------------------------------------------------------------------------

    async def _sync_forever(self) -> None:
        while True:
            await self.sync_counts()
            await asyncio.sleep(COUNTS_INTERVAL)

    async def sync_counts(self) -> None:
        """Send what was counted here since the last batch and show the fleet's totals.

        A batch whose answer did not come back is kept and sent again, under its number,
        before anything newer: Redis adds it once whether or not the first try arrived.
        """
        if self._batch is None:
            taken = self._ledger.take_unsent()
            if taken:
                self._number += 1
                self._batch = (self._number, taken)
        number, batch = self._batch if self._batch is not None else (self._number, {})
        restore: list[str | int] = []
        if self._restore:
            for name, value in self._seen.items():
                restore += [name, value]
        head: list[str | int] = [
            BATCH_KEEP,
            number,
            secrets.token_hex(8),
            self._life,
            len(restore) // 2,
        ]
        args = [*head, *restore, *count_fields(batch)]
        keys = [self._counts, self._base, self._batch_key, self._life_key]
        answer = await self._store.run(lambda _: self._counts_script(keys=keys, args=args))
        if answer is None:
            # Redis may come back empty: the next batch that reaches it puts totals back.
            self._restore = True
            return
        self._batch = None
        self._restore = False
        life, counts, base = answer
        self._life = life.decode() if isinstance(life, bytes) else str(life)
        self._seen = fleet_totals(parse_counts(counts), parse_counts(base))
        self._ledger.merge_fleet_counts(totals_by_key(self._seen))


def _eval_rest(pipe: Pipeline, rests: str, args: tuple[str, ...]) -> None:
    # EVAL, not EVALSHA: redis-py checks a pipeline's registered scripts with an extra
    # round trip on every send; the script text is small and Redis caches it compiled.
    pipe.eval(REST_SCRIPT, 1, rests, *args)


def _unblock(pipe: Pipeline, rests: str, field: str, channel: str, message: bytes) -> None:
    pipe.hdel(rests, field)
    pipe.publish(channel, message)


async def _read_rests(client: Redis, rests: str) -> dict[bytes, bytes]:
    stored: dict[bytes, bytes] = await client.hgetall(rests)  # type: ignore[misc] # redis-py types it as sync or async
    return stored

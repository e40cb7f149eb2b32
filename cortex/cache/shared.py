"""The fleet's response cache in Redis: answers stored once, bounds and counters kept there.

With ``CORTEX_REDIS_URL`` every instance reads and writes one cache, under the
deployment's prefix:

* ``cache:a:<key>``: an answer (:mod:`cortex.cache.codec`), expiring with the TTL;
* ``cache:index``: every stored key, scored by when it was stored (microseconds, Redis's
  clock, so instances with skewed clocks agree);
* ``cache:sizes``: each key's size as counted against ``max_bytes``
  (:func:`~actors.response_store.answer_size`, as in process);
* ``cache:stats``: the fleet's counters (hits, misses, coalesced, evictions, expirations)
  and the bytes held.

Storing is one Lua script, so the bounds hold whatever the instances do at once: it drops
expired keys, stores the answer, then evicts the oldest stored until the count and bytes
fit. The oldest *stored*, not the least recently used: tracking use would cost a write on
every hit. Per cacheable request the hot path makes one budgeted ``GET``; counting is a
pipelined ``HINCRBY`` that never waits; a stored answer is one script call.

Redis unreachable or slower than the budget: a lookup is a miss, and this process's
embedded store stands in (answers stored meanwhile are this instance's alone). When Redis
answers again the stand-in is dropped, so nothing it holds outlives a clear made
elsewhere during the outage, and the lookups it counted are added to the fleet's counts
(once: what was added is remembered). A clear deletes the fleet's entries and is published, so
every instance drops its stand-in too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from actors.response_store import CacheLimits, CacheStats, answer_size
from cortex.cache.answers import LocalAnswers
from cortex.cache.codec import decode, encode
from cortex.chat import CachedAnswer
from cortex.errors import NothingAvailable

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline
    from redis.commands.core import AsyncScript

    from cortex.fleet.store import SharedStore

log = structlog.get_logger("cortex.cache")

ENTRY = "cache:a"
INDEX = "cache:index"
SIZES = "cache:sizes"
COUNTERS = "cache:stats"
CLEARED = "cache.cleared"
"""The channel a clear is announced on."""
STATS_INTERVAL = 1.0
"""Seconds between two reads of the fleet's counters (what ``/metrics`` exports)."""
COUNTED = ("hits", "misses", "coalesced", "evictions", "expirations", "bytes")

_DROP = """
local index, sizes, stats, entries = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local function drop(name)
  local held = tonumber(redis.call('HGET', sizes, name) or '0')
  redis.call('HDEL', sizes, name)
  redis.call('ZREM', index, name)
  redis.call('DEL', entries .. name)
  return held
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function purge(now, ttl_ms)
  local expired = redis.call('ZRANGEBYSCORE', index, '-inf', now - ttl_ms * 1000)
  local freed = 0
  for _, name in ipairs(expired) do freed = freed + drop(name) end
  if #expired > 0 then
    redis.call('HINCRBY', stats, 'expirations', #expired)
    redis.call('HINCRBY', stats, 'bytes', -freed)
  end
end
"""

PUT = (
    _DROP
    + """
local member, payload, size = ARGV[2], ARGV[3], tonumber(ARGV[4])
local ttl_ms, max_entries, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_us()
purge(now, ttl_ms)
local bytes = redis.call('HINCRBY', stats, 'bytes', size - drop(member))
redis.call('SET', entries .. member, payload, 'PX', ttl_ms)
redis.call('ZADD', index, now, member)
redis.call('HSET', sizes, member, size)
local evicted = 0
while redis.call('ZCARD', index) > max_entries or bytes > max_bytes do
  local oldest = redis.call('ZRANGE', index, 0, 0)[1]
  if oldest == member then break end
  bytes = redis.call('HINCRBY', stats, 'bytes', -drop(oldest))
  evicted = evicted + 1
end
if evicted > 0 then redis.call('HINCRBY', stats, 'evictions', evicted) end
return evicted
"""
)
"""Store one answer within the bounds; returns how many older answers it evicted."""

REPORT = (
    _DROP
    + """
purge(now_us(), tonumber(ARGV[2]))
local counts = redis.call('HMGET', stats, 'hits', 'misses', 'coalesced', 'evictions',
  'expirations', 'bytes')
local report = {}
for i, value in ipairs(counts) do report[i] = tonumber(value or '0') end
report[#counts + 1] = redis.call('ZCARD', index)
return report
"""
)
"""Drop expired answers, then report the counters (in :data:`COUNTED` order) and the count."""

CLEAR = (
    _DROP
    + """
purge(now_us(), tonumber(ARGV[2]))
local names = redis.call('ZRANGE', index, 0, -1)
for _, name in ipairs(names) do redis.call('DEL', entries .. name) end
redis.call('DEL', index, sizes)
redis.call('HSET', stats, 'bytes', 0)
return #names
"""
)
"""Delete every answer (the counters stay); returns how many there were."""


class SharedAnswers:
    """The fleet's cache in Redis, with this process's store standing in during an outage.

    Args:
        store: this instance's shared store.
        local: the embedded cache, used while Redis is unreachable.
        limits: the TTL and the bounds, enforced in Redis.
    """

    scope = "fleet"

    def __init__(self, store: SharedStore, local: LocalAnswers, limits: CacheLimits) -> None:
        self._store = store
        self._local = local
        self._limits = limits
        self._keys = [store.key(INDEX), store.key(SIZES), store.key(COUNTERS)]
        self._entries = store.key(ENTRY) + ":"
        self._put = store.script(PUT)
        self._report = store.script(REPORT)
        self._clear = store.script(CLEAR)
        self._snapshot = CacheStats()
        # What of the stand-in's lookup counts the fleet's counters already include.
        self._merged = local.stats()
        self._refresher: asyncio.Task[None] | None = None
        store.on_connected(self._connected)
        store.subscribe(CLEARED, self._cleared_elsewhere)

    def start(self) -> None:
        """Start reading the fleet's counters every :data:`STATS_INTERVAL` (loop only)."""
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever())

    async def close(self) -> None:
        """Stop reading the counters."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    async def get(self, key: str) -> CachedAnswer | None:
        """The fleet's answer under ``key``: one ``GET`` within the budget, else a miss."""
        if not self._store.available:
            return await self._local.get(key)
        name = self._entries + key
        raw = await self._store.run(lambda client: client.get(name))
        if raw is None:
            return None
        answer = decode(raw)
        if answer is None:
            log.warning("cache_entry_unreadable", size=len(raw))
        return answer

    def record_lookup(self, key: str, *, hit: bool) -> None:
        """Count a lookup in the fleet's counters (pipelined, never waits)."""
        self._count("hits" if hit else "misses", lambda: self._local.record_lookup(key, hit=hit))

    def record_coalesced(self) -> None:
        """Count a join in the fleet's counters (pipelined, never waits)."""
        self._count("coalesced", self._local.record_coalesced)

    async def keep(self, key: str, answer: CachedAnswer) -> None:
        """Store a finished answer for the fleet, within the bounds (one script call).

        An empty answer, or one larger than ``max_bytes`` on its own, is not stored.
        While Redis is unreachable the answer goes to this process's stand-in.
        """
        size = answer_size(key, answer)
        limits = self._limits
        if not answer.payload_bytes or size > limits.max_bytes:
            if answer.payload_bytes:
                log.info("cache_entry_too_large", worker=answer.worker, limit=limits.max_bytes)
            return
        if self._store.available:
            evicted = await self._call(
                self._put,
                key,
                encode(answer),
                size,
                self._ttl_ms,
                limits.max_entries,
                limits.max_bytes,
            )
            if evicted is not None:
                if evicted:
                    log.debug("cache_evicted", entries=evicted)
                return
        await self._local.keep(key, answer)

    async def clear(self) -> int:
        """Delete the fleet's answers and tell every instance to drop its stand-in.

        Raises:
            NothingAvailable: Redis is unreachable, so the fleet's answers stay.
        """
        self._local.forget()
        removed = await self._call(self._clear, self._ttl_ms)
        if removed is None:
            raise NothingAvailable(
                "the fleet's cache could not be cleared: the shared store is unreachable "
                "(this instance's own copy was dropped); try again when it answers",
                code="shared_state_unavailable",
            )
        self._store.publish(CLEARED, b"")
        log.info("cache_cleared", entries=removed, scope="fleet")
        return int(removed)

    async def refresh(self) -> None:
        """Read the fleet's counters and size (one script call within the budget)."""
        report = await self._call(self._report, self._ttl_ms)
        if report is not None:
            values = dict(zip(COUNTED, map(int, report), strict=False))
            self._snapshot = CacheStats(**values, entries=int(report[len(COUNTED)]))

    def stats(self) -> CacheStats:
        """The fleet's counters and size as last read (at most a second old)."""
        return self._snapshot

    @property
    def _ttl_ms(self) -> int:
        return round(self._limits.ttl * 1000)

    async def _call(self, script: AsyncScript, *args: str | bytes | int) -> Any:  # noqa: ANN401 - a script's reply is untyped
        """Run one of the scripts within the budget; None if Redis did not answer."""
        return await self._store.run(
            lambda client: script(keys=self._keys, args=[self._entries, *args], client=client)
        )

    def _count(self, field: str, locally: Callable[[], None]) -> None:
        if self._store.available:
            self._store.submit(functools.partial(_add, self._keys[2], field, 1))
        else:
            locally()

    async def _connected(self) -> None:
        """On (re)connection drop the stand-in, and add its lookups to the fleet's counts."""
        self._local.forget()
        counted, merged = self._local.stats(), self._merged
        self._merged = counted
        name = self._keys[2]
        for field, more in (
            ("hits", counted.hits - merged.hits),
            ("misses", counted.misses - merged.misses),
            ("coalesced", counted.coalesced - merged.coalesced),
        ):
            if more > 0:
                self._store.submit(functools.partial(_add, name, field, more))
        await self.refresh()

    def _cleared_elsewhere(self, _: bytes) -> None:
        self._local.forget()

    async def _refresh_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(STATS_INTERVAL)


def _add(name: str, field: str, amount: int, pipe: Pipeline) -> None:
    """Queue one counter increment on the writer's pipeline."""
    pipe.hincrby(name, field, amount)

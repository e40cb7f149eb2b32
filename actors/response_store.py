"""The response cache's table: whole answers by request key, bounded by age, count and bytes.

Like the key ledger, the store lives outside the actor that owns it, the way OTP keeps an
ETS table with an heir: the cache actor (:mod:`actors.cache`) is the only writer of its
entries, and a crash of that actor loses neither entries nor counters, because the
restarted incarnation is handed the same store. Request tasks read it directly with
:meth:`ResponseStore.get`, so a hit costs no mailbox round trip, and count their lookups in
it directly too, as attempts count in the key ledger: a counter is then right the moment
the response that reports it (``X-Cortex-Cache: hit``) is sent, with no message to lag
behind it. Every method takes the store's lock, which is held only for dictionary
operations.

Bounds:

* age: an entry older than ``ttl`` seconds is invisible to :meth:`~ResponseStore.get` at
  once, and removed by :meth:`~ResponseStore.purge_expired` (the actor's timer) or when a
  new entry needs room;
* count and bytes: storing past ``max_entries`` or ``max_bytes`` evicts the least recently
  used entries first. An entry is used when stored and on every recorded hit.

An entry's size is the UTF-8 length of its text, key, worker and model names: the payload
a client would receive, not Python's heap overhead, so ``max_bytes`` is an estimate of
memory, not an exact cap.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class StoredAnswer(Protocol):
    """What the store needs of an answer: who wrote it and its text, piece by piece."""

    @property
    def worker(self) -> str:
        """The worker that produced the answer."""
        ...

    @property
    def model(self) -> str:
        """The upstream model that produced the answer."""
        ...

    @property
    def pieces(self) -> tuple[str, ...]:
        """The text deltas in order."""
        ...

    @property
    def payload_bytes(self) -> int:
        """The UTF-8 bytes of everything the answer replays: text, tool calls, reasoning."""
        ...


A = TypeVar("A", bound=StoredAnswer)


@dataclass(frozen=True, slots=True)
class CacheLimits:
    """How long and how much the store keeps.

    Attributes:
        ttl: seconds an entry stays valid after it was stored.
        max_entries: most entries kept at once.
        max_bytes: most bytes (see the module docstring) kept at once.
    """

    ttl: float = 300.0
    max_entries: int = 1000
    max_bytes: int = 33_554_432

    def __post_init__(self) -> None:
        if self.ttl <= 0 or self.max_entries < 1 or self.max_bytes < 1:
            raise ValueError(f"cache limits must all be positive, got {self}")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """The store's counters at one moment, safe to export (no keys, no content).

    Attributes:
        hits: lookups served from the cache.
        misses: lookups that found nothing and went upstream.
        coalesced: requests that joined an identical request already in flight.
        evictions: entries dropped to respect ``max_entries`` or ``max_bytes``.
        expirations: entries dropped because they outlived the TTL.
        entries: entries held now.
        bytes: bytes held now.
    """

    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    evictions: int = 0
    expirations: int = 0
    entries: int = 0
    bytes: int = 0

    @property
    def hit_ratio(self) -> float:
        """Hits over hits plus misses; 0.0 before any lookup."""
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else 0.0


@dataclass(frozen=True, slots=True)
class _Entry(Generic[A]):
    answer: A
    size: int
    stored_at: float


def answer_size(key: str, answer: StoredAnswer) -> int:
    """The bytes an entry counts against ``max_bytes``."""
    names = len(key) + len(answer.worker.encode()) + len(answer.model.encode())
    return names + answer.payload_bytes


class ResponseStore(Generic[A]):
    """Cached answers by key, with TTL and LRU bounds, readable from any thread.

    Args:
        limits: the TTL and the count and byte bounds.
        clock: monotonic seconds; tests inject a fake one.
    """

    def __init__(self, limits: CacheLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        # Least recently used first: eviction pops from the front.
        self._entries: OrderedDict[str, _Entry[A]] = OrderedDict()
        # Oldest first: every entry has the same TTL, so expiry pops from the front.
        self._ages: OrderedDict[str, float] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._coalesced = 0
        self._evictions = self._expirations = 0

    def get(self, key: str) -> A | None:
        """The live answer stored under ``key``, or None; changes nothing (any thread)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(entry, self._clock()):
                return None
            return entry.answer

    def put(self, key: str, answer: A) -> bool:
        """Store ``answer``, evicting least recently used entries to make room (owner only).

        Returns:
            Whether it was stored: an answer larger than ``max_bytes`` on its own is not.
        """
        size = answer_size(key, answer)
        if size > self.limits.max_bytes:
            return False
        with self._lock:
            now = self._clock()
            self._drop(key)
            self._entries[key] = _Entry(answer, size, now)
            self._ages[key] = now
            self._bytes += size
            self._purge(now)
            while (
                len(self._entries) > self.limits.max_entries or self._bytes > self.limits.max_bytes
            ):
                oldest = next(iter(self._entries))
                self._drop(oldest)
                self._evictions += 1
            return True

    def record_lookup(self, key: str, *, hit: bool) -> None:
        """Count a lookup; a hit also makes its entry the most recently used (any thread)."""
        with self._lock:
            if not hit:
                self._misses += 1
                return
            self._hits += 1
            if key in self._entries:
                self._entries.move_to_end(key)

    def record_coalesced(self) -> None:
        """Count a request that joined an identical one in flight (any thread)."""
        with self._lock:
            self._coalesced += 1

    def purge_expired(self) -> int:
        """Drop every entry older than the TTL (owner only).

        Returns:
            How many entries were dropped.
        """
        with self._lock:
            return self._purge(self._clock())

    def clear(self) -> int:
        """Drop every entry; counters are kept (owner only).

        Returns:
            How many entries were dropped.
        """
        with self._lock:
            removed = len(self._entries)
            self._entries.clear()
            self._ages.clear()
            self._bytes = 0
            return removed

    def stats(self) -> CacheStats:
        """The counters and current size (any thread)."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                coalesced=self._coalesced,
                evictions=self._evictions,
                expirations=self._expirations,
                entries=len(self._entries),
                bytes=self._bytes,
            )

    def _expired(self, entry: _Entry[A], now: float) -> bool:
        return now - entry.stored_at >= self.limits.ttl

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            del self._ages[key]
            self._bytes -= entry.size

    def _purge(self, now: float) -> int:
        removed = 0
        while self._ages:
            key, stored_at = next(iter(self._ages.items()))
            if now - stored_at < self.limits.ttl:
                break
            self._drop(key)
            removed += 1
        self._expirations += removed
        return removed

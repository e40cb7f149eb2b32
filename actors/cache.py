"""The cache actor: the one writer of the response cache's entries.

Request tasks read the :class:`~actors.response_store.ResponseStore` directly (a hit costs
no mailbox round trip) and count their lookups and joins in it directly, so the counters
are right by the time a response reports a hit. Storing a finished answer, clearing the
cache and purging expired entries are this actor's decisions, made one message at a time,
so the store never needs more than its short internal lock.

Crash survival: the store is created next to the board and the key ledger and handed to
every incarnation, so a crash of this actor keeps both the entries and the counters.
Entries are kept on purpose: each is an immutable answer that was validated when it was
stored, so a crash of its owner says nothing against it, and dropping them would turn a
restart into a burst of upstream traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from actors.response_store import ResponseStore, StoredAnswer
from actors.ticker import Ticker
from supervisors import Link, SupervisedActor

log = structlog.get_logger("cortex.cache")

MAX_PURGE_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class StoreAnswer:
    """Ask (or tell) the cache to keep a successfully finished answer. Replies whether it did."""

    key: str
    answer: StoredAnswer


@dataclass(frozen=True, slots=True)
class ClearCache:
    """Ask the cache to drop every entry (counters are kept). Replies how many it dropped."""


@dataclass(frozen=True, slots=True)
class PurgeExpired:
    """Tell the cache (from its own timer) to drop entries older than the TTL."""


def purge_interval(ttl: float) -> float:
    """Seconds between purges: half the TTL, so memory is returned promptly, capped."""
    return min(MAX_PURGE_INTERVAL, ttl / 2.0)


class CacheActor(SupervisedActor):
    """Owns the response cache's entries: stores answers, clears and purges.

    Args:
        link: the link to the supervisor.
        store: the shared store, which outlives this actor.
        sweep_interval: seconds between purges of expired entries; defaults to
            :func:`purge_interval` of the store's TTL.
    """

    def __init__(
        self, link: Link, store: ResponseStore[Any], *, sweep_interval: float | None = None
    ) -> None:
        super().__init__(link)
        self._store = store
        interval = sweep_interval or purge_interval(store.limits.ttl)
        self._ticker = Ticker(self.actor_ref, interval, PurgeExpired)

    def on_start(self) -> None:
        """Start the periodic purge."""
        self._ticker.start()

    def on_stop(self) -> None:
        """Stop the timer with the actor."""
        self._ticker.stop()

    def on_failure(self, *_: object) -> None:
        """Stop the timer when the actor crashes, so the next incarnation owns the only one."""
        self._ticker.stop()

    def on_receive(self, message: object) -> object:
        """Store, clear and purge."""
        match message:
            case StoreAnswer(key=key, answer=answer):
                return self._store_answer(key, answer)
            case ClearCache():
                removed = self._store.clear()
                log.info("cache_cleared", entries=removed)
                return removed
            case PurgeExpired():
                removed = self._store.purge_expired()
                if removed:
                    log.debug("cache_purged", entries=removed)
            case _:
                return super().on_receive(message)
        return None

    def _store_answer(self, key: str, answer: StoredAnswer) -> bool:
        """Keep an answer unless it is empty or too large for the cache on its own."""
        if not answer.payload_bytes:
            return False
        evictions = self._store.stats().evictions
        stored = self._store.put(key, answer)
        if not stored:
            log.info(
                "cache_entry_too_large", worker=answer.worker, limit=self._store.limits.max_bytes
            )
        elif (evicted := self._store.stats().evictions - evictions) > 0:
            log.debug("cache_evicted", entries=evicted)
        return stored

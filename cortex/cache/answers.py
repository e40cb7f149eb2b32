"""Where the response cache keeps answers: this process's store, or the fleet's.

:class:`Answers` is what :class:`~cortex.cache.response_cache.ResponseCache` needs of a
place to keep answers: read one, count lookups, keep a finished one, report the counters.
:class:`LocalAnswers` is the embedded cache (the in-process
:class:`~actors.response_store.ResponseStore`, written by the cache actor);
:class:`~cortex.cache.shared.SharedAnswers` is the fleet's, in Redis, with this process's
store as its stand-in while Redis is unreachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import structlog

from actors.cache import ClearCache, StoreAnswer
from actors.response_store import CacheStats, ResponseStore
from cortex.chat import CachedAnswer
from cortex.crossing import UNREACHABLE, Bridge
from supervisors import Handle

if TYPE_CHECKING:
    from actors.response_store import CacheLimits
    from cortex.cache.shared import SharedAnswers
    from cortex.fleet.store import SharedStore

log = structlog.get_logger("cortex.cache")

STORE_TIMEOUT = 5.0


class Answers(Protocol):
    """A place to keep cached answers, as the data plane uses it (on the front's loop)."""

    scope: str
    """Whose figures :meth:`stats` reports: ``instance`` or ``fleet``."""

    async def get(self, key: str) -> CachedAnswer | None:
        """The live answer stored under ``key``, or None (a miss)."""
        ...

    def record_lookup(self, key: str, *, hit: bool) -> None:
        """Count a lookup as a hit or a miss."""
        ...

    def record_coalesced(self) -> None:
        """Count a request that joined an identical one in flight."""
        ...

    async def keep(self, key: str, answer: CachedAnswer) -> None:
        """Store a finished answer, and return once it is stored (or given up on)."""
        ...

    async def refresh(self) -> None:
        """Bring :meth:`stats` up to date (a read of the shared counters, if any)."""
        ...

    async def clear(self) -> int | None:
        """Drop the answers kept beyond this process; None if there are none such.

        This process's own store is cleared by the cache actor (the admin operator's
        ``clear_cache``), whichever the place.
        """
        ...

    def stats(self) -> CacheStats:
        """The counters and size as last known (any thread)."""
        ...


class LocalAnswers:
    """The embedded cache: this process's store, whose one writer is the cache actor.

    Args:
        store: the cache's table, read directly.
        actor: the cache actor, asked to store and clear answers.
        bridge: the crossing used to ask the actor.
    """

    scope = "instance"

    def __init__(self, store: ResponseStore[CachedAnswer], actor: Handle, bridge: Bridge) -> None:
        self.store = store
        self._actor = actor
        self._bridge = bridge

    async def get(self, key: str) -> CachedAnswer | None:
        """The live answer under ``key`` in this process's store (no mailbox round trip)."""
        return self.store.get(key)

    def record_lookup(self, key: str, *, hit: bool) -> None:
        """Count a lookup in the store (a hit makes its entry the most recently used)."""
        self.store.record_lookup(key, hit=hit)

    def record_coalesced(self) -> None:
        """Count a join in the store."""
        self.store.record_coalesced()

    async def keep(self, key: str, answer: CachedAnswer) -> None:
        """Have the cache actor store a finished answer, and wait until it has."""
        try:
            await self._bridge.ask(self._actor, StoreAnswer(key, answer), timeout=STORE_TIMEOUT)
        except UNREACHABLE:
            log.warning("cache_store_lost", worker=answer.worker)

    def forget(self) -> None:
        """Have the cache actor drop every entry, without waiting (loop only)."""
        try:
            self._actor.tell(ClearCache())
        except UNREACHABLE:
            # A restarting actor keeps the entries; the next clear or restore drops them.
            log.warning("cache_forget_lost")

    async def refresh(self) -> None:
        """Nothing to read: the store's counters are always current."""

    async def clear(self) -> None:
        """Nothing beyond this process to clear."""

    def stats(self) -> CacheStats:
        """The store's counters and size."""
        return self.store.stats()


def open_answers(
    local: LocalAnswers, store: SharedStore | None, limits: CacheLimits
) -> tuple[Answers, SharedAnswers | None]:
    """The answers a gateway keeps: the fleet's with a shared store, else ``local``.

    Returns the answers, and the shared ones again (None without a store) for closing.
    """
    if store is None:
        return local, None
    # Imported here so an instance without Redis never imports the shared cache.
    from cortex.cache.shared import SharedAnswers  # noqa: PLC0415 - see above

    shared = SharedAnswers(store, local, limits)
    shared.start()
    return shared, shared

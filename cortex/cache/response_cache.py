"""The response cache on the data plane: serve a chat call from the cache, a flight or upstream.

For a cacheable request the order is: look the key up in the store (a read, no mailbox
round trip) and replay a hit; else join an identical request's answer if one is in
flight; else go upstream in a new flight, whose answer the cache actor stores if it
finishes successfully (with its provider's end signal, written by one worker: see
:attr:`~cortex.cache.flights.Flight.succeeded`). Whatever the path, the handler gets a
:class:`Served` answer with the same events a live answer has, so a hit renders exactly
like a live answer. Lookups are counted in the store before the answer is served, so a
response that says ``hit`` is already counted; a finished answer is handed over with an
ask, and its flight stays joinable until the actor has stored it, so no identical request
slips between the two and goes upstream again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import pykka
import structlog

from actors.cache import StoreAnswer
from actors.outcomes import UpstreamFailure
from actors.response_store import ResponseStore
from cortex.cache.flights import Flight, Flights, Opener
from cortex.cache.terms import HEADER, CacheControls, CacheSettings, CacheStatus, CacheTerms
from cortex.chat import CachedAnswer, Finished, StreamEvent, TextDelta, Usage
from cortex.dataplane.bridge import Bridge
from cortex.dataplane.dispatch import Answer, Completed, Dispatcher
from cortex.errors import AllUpstreamsFailed, Attempt
from cortex.http.schemas import ChatCall
from cortex.providers.stream import gather_completion
from supervisors import Handle, NotRunning

log = structlog.get_logger("cortex.cache")

STORE_TIMEOUT = 5.0


@dataclass(slots=True)
class Served:
    """An answer ready to render, whether live, shared with a flight or replayed.

    Attributes:
        worker: the worker that produced the answer (``X-Cortex-Worker``).
        model: the upstream model that produced it.
        cache: how the cache took part, or None when the cache is off.
    """

    worker: str
    model: str
    cache: CacheStatus | None
    _events: AsyncGenerator[StreamEvent, None] = field(repr=False)

    def events(self) -> AsyncGenerator[StreamEvent, None]:
        """The answer's events: text deltas, then finish reason and usage, or a failure."""
        return self._events

    def headers(self) -> dict[str, str]:
        """The cache's response header, if the cache is on."""
        return {} if self.cache is None else {HEADER: self.cache.value}


@dataclass(frozen=True, slots=True)
class Whole:
    """A whole answer for a non-streaming client."""

    worker: str
    model: str
    text: str
    finish_reason: str
    usage: Usage | None
    cache: CacheStatus | None

    def headers(self) -> dict[str, str]:
        """The cache's response header, if the cache is on."""
        return {} if self.cache is None else {HEADER: self.cache.value}


async def replay(answer: CachedAnswer) -> AsyncGenerator[StreamEvent, None]:
    """A cached answer as the events of a live one, as fast as the client reads them."""
    for piece in answer.pieces:
        yield TextDelta(piece)
    yield Finished(answer.finish_reason)
    if answer.usage is not None:
        yield answer.usage


async def gather(served: Served) -> Whole | UpstreamFailure:
    """Read a whole answer from its events, or the failure that ended it."""
    result = await gather_completion(served.events())
    if isinstance(result, UpstreamFailure):
        return result
    return Whole(
        served.worker, served.model, result.text, result.finish_reason, result.usage, served.cache
    )


class ResponseCache:
    """Serves chat calls through the cache; one per front incarnation, on its loop.

    Args:
        dispatcher: goes upstream on a miss.
        store: the cache's table, read directly.
        actor: the cache actor, asked to store answers.
        bridge: the crossing used to ask the actor.
        settings: the cache's configuration.
        request_timeout: the longest a request waits for a shared answer.
    """

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        store: ResponseStore[CachedAnswer],
        actor: Handle,
        bridge: Bridge,
        settings: CacheSettings,
        request_timeout: float,
    ) -> None:
        self._dispatcher = dispatcher
        self._store = store
        self._actor = actor
        self._bridge = bridge
        self.settings = settings
        self._timeout = request_timeout
        self._flights = Flights(idle_timeout=request_timeout)

    def stats_json(self) -> dict[str, object]:
        """The cache's counters for ``/api/stats``."""
        stats = self._store.stats()
        return {
            "enabled": self.settings.enabled,
            "hits": stats.hits,
            "misses": stats.misses,
            "coalesced": stats.coalesced,
            "hit_ratio": round(stats.hit_ratio, 4),
            "evictions": stats.evictions,
            "expirations": stats.expirations,
            "entries": stats.entries,
            "bytes": stats.bytes,
            "in_flight": self._flights.in_flight(),
        }

    async def open(self, call: ChatCall, terms: CacheTerms) -> Served:
        """Serve a streaming call.

        Raises:
            GatewayError: no upstream could answer (a shared flight shares its error).
        """
        if not self._cacheable(call, terms.controls):
            answer = await self._open(call)
            return Served(answer.worker, answer.model, self._uncached, answer.events())
        if terms.controls.lookup and (served := await self._cached(terms.key, call)) is not None:
            return served
        flight = self._launch(terms.key, terms.controls, lambda: self._open(call))
        return await self._follow(flight, CacheStatus.MISS, call)

    async def complete(self, call: ChatCall, terms: CacheTerms) -> Whole:
        """Serve a non-streaming call: the same paths, gathered into one answer.

        A miss goes upstream through the dispatcher's ``complete``, so a failure in the
        middle of an answer still fails over as it does without the cache. A shared
        answer that breaks off is retried the same way.

        Raises:
            GatewayError: no upstream could answer.
        """
        if not self._cacheable(call, terms.controls):
            done = await self._complete(call)
            return Whole(
                done.worker, done.model, done.text, done.finish_reason, done.usage, self._uncached
            )
        if terms.controls.lookup and (served := await self._cached(terms.key, call)) is not None:
            whole = await gather(served)
            if isinstance(whole, Whole):
                return whole
            done = await self._complete(call)
            return Whole(
                done.worker, done.model, done.text, done.finish_reason, done.usage, CacheStatus.MISS
            )
        flight = self._launch(terms.key, terms.controls, lambda: self._completed(call))
        served = await self._follow(flight, CacheStatus.MISS, call)
        whole = await gather(served)
        if isinstance(whole, Whole):
            return whole
        raise AllUpstreamsFailed([Attempt(served.worker, None, whole.kind.value, whole.message)])

    @property
    def _uncached(self) -> CacheStatus | None:
        """The status of an answer the cache took no part in: no header when it is off."""
        return CacheStatus.BYPASS if self.settings.enabled else None

    def _cacheable(self, call: ChatCall, controls: CacheControls) -> bool:
        return self.settings.caches(call.request) and not controls.bypass

    async def _cached(self, key: str, call: ChatCall) -> Served | None:
        """A cached answer, or one shared with an identical request; counts the lookup."""
        cached = self._store.get(key)
        if cached is not None:
            self._store.record_lookup(key, hit=True)
            return Served(cached.worker, cached.model, CacheStatus.HIT, replay(cached))
        flight = self._flights.joinable(key)
        # Without coalescing only a finished answer is shared: the client that asked for
        # it already has it, and the next identical request must not go upstream merely
        # because the cache actor has not stored it yet.
        if flight is not None and not (self.settings.coalesce or flight.succeeded):
            flight = None
        if flight is None:
            self._store.record_lookup(key, hit=False)
            return None
        if flight.succeeded:
            # It finished a moment ago and the cache actor is storing it: a hit.
            self._store.record_lookup(key, hit=True)
            return await self._follow(flight, CacheStatus.HIT, call)
        self._store.record_coalesced()
        return await self._follow(flight, CacheStatus.COALESCED, call)

    def _launch(self, key: str, controls: CacheControls, opener: Opener) -> Flight:
        # A no-cache request did not look for a flight to join, so it must not take the
        # key's place in the table either: an identical flight may already hold it.
        return self._flights.launch(
            key,
            opener,
            share=controls.lookup,
            keep=self._keep if controls.store else None,
        )

    async def _open(self, call: ChatCall) -> Answer:
        return await self._dispatcher.open(
            call.request, strategy=call.strategy, timeout=call.timeout
        )

    async def _complete(self, call: ChatCall) -> Completed:
        return await self._dispatcher.complete(
            call.request, strategy=call.strategy, timeout=call.timeout
        )

    async def _completed(self, call: ChatCall) -> Served:
        """A whole non-streamed answer, as the events of a flight."""
        done = await self._complete(call)
        pieces = (done.text,) if done.text else ()
        answer = CachedAnswer(done.worker, done.model, pieces, done.finish_reason, done.usage)
        return Served(done.worker, done.model, None, replay(answer))

    async def _follow(self, flight: Flight, status: CacheStatus, call: ChatCall) -> Served:
        flight.attach()
        try:
            head = await flight.head(call.timeout or self._timeout)
        except BaseException:
            flight.detach()
            raise
        return Served(head.worker, head.model, status, flight.follow())

    async def _keep(self, key: str, answer: CachedAnswer) -> None:
        """Have the cache actor store a finished answer, and wait until it has."""
        try:
            await self._bridge.ask(self._actor, StoreAnswer(key, answer), timeout=STORE_TIMEOUT)
        except (pykka.Timeout, pykka.ActorDeadError, NotRunning):
            log.warning("cache_store_lost", worker=answer.worker)

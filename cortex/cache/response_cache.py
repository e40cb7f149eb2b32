"""The response cache on the data plane: serve a chat call from the cache, a flight or upstream.

For a cacheable request the order is: look the key up where answers are kept (this
process's store, a read with no mailbox round trip; or the fleet's, one budgeted Redis
``GET``: see :mod:`cortex.cache.answers`) and replay a hit; else join an identical
request's answer if one is in flight; else go upstream in a new flight, whose answer is
stored if it finishes successfully (with its provider's end signal, written by one
worker: see :attr:`~cortex.cache.flights.Flight.succeeded`). Coalescing is per instance:
identical requests on two instances of a fleet each go upstream once, and the later
answer replaces the earlier. Whatever the path, the handler gets a
:class:`~cortex.chat.LiveAnswer` carrying the cache's header, so a hit renders exactly
like a live answer. Lookups are counted before the answer is served (in process, a
response that says ``hit`` is already counted; in a fleet the count is pipelined); a
finished answer is stored before its flight ends, so no identical request of this
instance slips between the two and goes upstream again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator

from cortex.cache.answers import Answers
from cortex.cache.flights import Flight, Flights, Opener
from cortex.cache.terms import HEADER, CacheControls, CacheSettings, CacheStatus, CacheTerms
from cortex.chat import (
    Embeddings,
    Finished,
    LiveAnswer,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    WholeAnswer,
    gather,
)
from cortex.dataplane.dispatch import Dispatcher
from cortex.dataplane.substitution import substitution_headers
from cortex.errors import AllUpstreamsFailed, Attempt
from cortex.http.embedding_schema import EmbeddingCall
from cortex.http.schemas import ChatCall
from cortex.providers.capabilities import dropped_headers


def replay(answer: WholeAnswer, headers: dict[str, str]) -> LiveAnswer:
    """A whole answer as a live one, its events as fast as the client reads them."""
    headers = {
        **dropped_headers(answer.dropped),
        **substitution_headers(answer.substituted_for),
        **headers,
    }
    return LiveAnswer(answer.worker, answer.model, _replayed(answer), headers)


async def _replayed(answer: WholeAnswer) -> AsyncGenerator[StreamEvent, None]:
    for choice, part in enumerate((answer, *answer.alternatives)):
        if part.reasoning or part.reasoning_signature:
            yield ReasoningDelta(part.reasoning, choice, part.reasoning_signature or None)
        for piece in part.pieces:
            yield TextDelta(piece, choice)
        for index, call in enumerate(part.tool_calls):
            yield ToolCallDelta(index, call.id, call.name, call.arguments, choice)
        yield Finished(part.finish_reason, choice)
    if answer.usage is not None:
        yield answer.usage


def status_headers(status: CacheStatus | None) -> dict[str, str]:
    """The cache's response header for ``status``; none when the cache is off."""
    return {} if status is None else {HEADER: status.value}


class ResponseCache:
    """Serves chat calls through the cache; one per front incarnation, on its loop.

    Args:
        dispatcher: goes upstream on a miss.
        answers: where answers are kept (this process, or the fleet).
        settings: the cache's configuration.
        request_timeout: the longest a request waits for a shared answer.
    """

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        answers: Answers,
        settings: CacheSettings,
        request_timeout: float,
    ) -> None:
        self._dispatcher = dispatcher
        self.answers = answers
        self.settings = settings
        self._timeout = request_timeout
        self._flights = Flights(idle_timeout=request_timeout)

    def stats_json(self) -> dict[str, object]:
        """The cache's counters for ``/api/stats``: the fleet's when it shares one."""
        stats = self.answers.stats()
        return {
            "enabled": self.settings.enabled,
            "scope": self.answers.scope,
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

    async def open(self, call: ChatCall, terms: CacheTerms) -> LiveAnswer:
        """Serve a streaming call.

        Raises:
            GatewayError: no upstream could answer (a shared flight shares its error).
        """
        if not self._cacheable(call, terms.controls):
            answer = await self._open(call)
            headers = {**answer.headers, **status_headers(self._uncached)}
            return dataclasses.replace(answer, headers=headers)
        if terms.controls.lookup and (served := await self._cached(terms.key, call)) is not None:
            return served
        flight = self._launch(terms.key, terms.controls, lambda: self._open(call))
        return await self._follow(flight, CacheStatus.MISS, call)

    async def complete(
        self, call: ChatCall, terms: CacheTerms
    ) -> tuple[WholeAnswer, dict[str, str]]:
        """Serve a non-streaming call: the same paths, gathered into one answer.

        A miss goes upstream through the dispatcher's ``complete``, so a failure in the
        middle of an answer still fails over as it does without the cache. A shared
        answer that breaks off is retried the same way.

        Returns:
            The answer, and the cache's response header.

        Raises:
            GatewayError: no upstream could answer.
        """
        if not self._cacheable(call, terms.controls):
            return await self._complete(call), status_headers(self._uncached)
        if terms.controls.lookup and (served := await self._cached(terms.key, call)) is not None:
            whole = await gather(served)
            if isinstance(whole, WholeAnswer):
                return whole, dict(served.headers)
            return await self._complete(call), status_headers(CacheStatus.MISS)
        flight = self._launch(terms.key, terms.controls, lambda: self._completed(call))
        served = await self._follow(flight, CacheStatus.MISS, call)
        whole = await gather(served)
        if isinstance(whole, WholeAnswer):
            return whole, dict(served.headers)
        raise AllUpstreamsFailed([Attempt(served.worker, None, whole.kind.value, whole.message)])

    async def embed(
        self, call: EmbeddingCall, terms: CacheTerms
    ) -> tuple[Embeddings, dict[str, str]]:
        """Serve an embeddings call from the cache, else upstream, storing what comes back.

        Embeddings are not coalesced: an identical request in flight goes upstream too
        (they are short, and their answers are plain data the first one stores).

        Returns:
            The vectors, and the cache's response header.

        Raises:
            GatewayError: no upstream could answer.
        """
        if not self.settings.enabled or terms.controls.bypass:
            return await self._embed(call), status_headers(self._uncached)
        if terms.controls.lookup:
            cached = await self.answers.get(terms.key)
            self.answers.record_lookup(terms.key, hit=isinstance(cached, Embeddings))
            if isinstance(cached, Embeddings):
                return cached, status_headers(CacheStatus.HIT)
        answer = await self._embed(call)
        if terms.controls.store:
            await self.answers.keep(terms.key, answer)
        return answer, status_headers(CacheStatus.MISS)

    async def _embed(self, call: EmbeddingCall) -> Embeddings:
        return await self._dispatcher.embed(
            call.request, strategy=call.strategy, timeout=call.timeout
        )

    @property
    def _uncached(self) -> CacheStatus | None:
        """The status of an answer the cache took no part in: no header when it is off."""
        return CacheStatus.BYPASS if self.settings.enabled else None

    def _cacheable(self, call: ChatCall, controls: CacheControls) -> bool:
        return self.settings.caches(call.request) and not controls.bypass

    async def _cached(self, key: str, call: ChatCall) -> LiveAnswer | None:
        """A cached answer, or one shared with an identical request; counts the lookup."""
        cached = await self.answers.get(key)
        if isinstance(cached, WholeAnswer):
            self.answers.record_lookup(key, hit=True)
            return replay(cached, status_headers(CacheStatus.HIT))
        flight = self._flights.joinable(key)
        # Without coalescing only a finished answer is shared: the client that asked for
        # it already has it, and the next identical request must not go upstream merely
        # because the cache actor has not stored it yet.
        if flight is not None and not (self.settings.coalesce or flight.succeeded):
            flight = None
        if flight is None:
            self.answers.record_lookup(key, hit=False)
            return None
        if flight.succeeded:
            # It finished a moment ago and the cache actor is storing it: a hit.
            self.answers.record_lookup(key, hit=True)
            return await self._follow(flight, CacheStatus.HIT, call)
        self.answers.record_coalesced()
        return await self._follow(flight, CacheStatus.COALESCED, call)

    def _launch(self, key: str, controls: CacheControls, opener: Opener) -> Flight:
        # A no-cache request did not look for a flight to join, so it must not take the
        # key's place in the table either: an identical flight may already hold it.
        return self._flights.launch(
            key,
            opener,
            share=controls.lookup,
            keep=self.answers.keep if controls.store else None,
        )

    async def _open(self, call: ChatCall) -> LiveAnswer:
        return await self._dispatcher.open(
            call.request, strategy=call.strategy, timeout=call.timeout
        )

    async def _complete(self, call: ChatCall) -> WholeAnswer:
        return await self._dispatcher.complete(
            call.request, strategy=call.strategy, timeout=call.timeout
        )

    async def _completed(self, call: ChatCall) -> LiveAnswer:
        """A whole non-streamed answer, as the events of a flight."""
        return replay(await self._complete(call), {})

    async def _follow(self, flight: Flight, status: CacheStatus, call: ChatCall) -> LiveAnswer:
        flight.attach()
        try:
            return await flight.join(call.timeout or self._timeout, status_headers(status))
        except BaseException:
            flight.detach()
            raise

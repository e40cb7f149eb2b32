"""One upstream attempt: open it until its first token, then relay the rest.

An attempt whose answer is whole JSON rather than a stream (embeddings) is made by
:meth:`Attempts.fetch`, with the same classification, scrubbing and reports.

An attempt is one worker, one key, one HTTP request. Before its first token every way it
can fail is classified into an :class:`~actors.outcomes.UpstreamFailure` so the
plan walk can move on; after it, failures arrive in the relayed events. Whatever happens,
exactly one outcome is counted on the board (the worker's counters) and in the key ledger,
both under their own locks with no mailbox hop: success, failure, a client error, or
cancelled (the client went away, which says nothing about the upstream, and is not
counted against the key). Only the outcomes that say something about the worker (a
success, a failure of the worker or its key) are told to its provider actor, which
decides its health and breaker from them.

Every failure is scrubbed (:func:`~actors.redaction.scrub`) before it is reported, returned
or yielded, so no configured secret an upstream echoes goes further than this module; a
redirect is an upstream error, never followed (see
:func:`~actors.outcomes.redirect_failure`).

Deadlines: connecting is bounded by the connect timeout; the first token by the worker's
time-to-first-token limit and the request's deadline; every later chunk by the worker's
idle timeout (a stalled stream), so no attempt can hang.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import aiohttp

from actors.board import Tally
from actors.keys import KeyLease
from actors.memory_budget import LoadingCandidate
from actors.messages import RefreshModels
from actors.outcomes import ErrorKind, UpstreamFailure, is_redirect, redirect_failure
from actors.planning import Candidate
from actors.wire import HttpCall
from cortex.chat import (
    ChatRequest,
    Malformed,
    ReasoningDelta,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    is_incomplete,
)
from cortex.dataplane.reports import AttemptReports, describe, encode_call
from cortex.dataplane.unloading import unload_models
from cortex.providers.base import StreamDecoder, Target
from cortex.providers.catalog import adapter_for

MAX_ERROR_BODY = 65_536
R = TypeVar("R")


@dataclass(slots=True)
class OpenAttempt:
    """An attempt whose first token arrived; the stream is still open."""

    candidate: Candidate
    lease: KeyLease | None
    tally: Tally | None
    response: aiohttp.ClientResponse
    decoder: StreamDecoder
    buffered: list[StreamEvent]
    first_token_ms: float
    reported: bool = field(default=False)

    @property
    def key(self) -> str | None:
        """The masked key this attempt used, if any."""
        return self.lease.masked if self.lease else None


@dataclass(frozen=True, slots=True)
class Fetched(Generic[R]):
    """A whole-answer attempt that succeeded: what its answer said, and how long it took."""

    candidate: Candidate
    lease: KeyLease | None
    result: R
    elapsed_ms: float


class Attempts(AttemptReports):
    """Makes attempts with the shared connection pool and reports their outcomes."""

    async def open(
        self, candidate: Candidate, lease: KeyLease | None, request: ChatRequest, deadline: float
    ) -> OpenAttempt | UpstreamFailure:
        """Try one candidate with one key until its first token, or classify its failure.

        A candidate whose model is not loaded first makes room for it within its memory
        budget (:mod:`cortex.dataplane.unloading`); its worker's actor is then asked to
        read the instance's models again, so the next plan counts the model as loaded.
        """
        if not isinstance(candidate, LoadingCandidate):
            return await self._open(candidate, lease, request, deadline)
        if candidate.unload:
            await unload_models(self._session, candidate, lease.secret if lease else None, deadline)
        try:
            return await self._open(candidate, lease, request, deadline)
        finally:
            self._tell(candidate.worker, RefreshModels())

    async def _open(
        self, candidate: Candidate, lease: KeyLease | None, request: ChatRequest, deadline: float
    ) -> OpenAttempt | UpstreamFailure:
        adapter = adapter_for(candidate.type)
        target = Target(candidate.base_url, candidate.model, lease.secret if lease else None)
        if request.max_tokens is None and candidate.max_tokens is not None:
            request = dataclasses.replace(request, max_tokens=candidate.max_tokens)
        call = adapter.chat_call(target, request, stream=True)
        remaining, timeout = self._timeouts(candidate, deadline)
        first_token_limit = min(candidate.first_token_timeout, remaining)
        tally = self._board.attempt_started(candidate.worker)
        started = time.monotonic()
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(first_token_limit):
                response = await self._send(call, timeout)
                refused = await _refusal(response, call.url, adapter.classify)
                if refused is not None:
                    return self._failed(candidate, lease, tally, refused, response)
                return await self._first_token(
                    candidate, lease, tally, response, decoder=adapter.decoder(), started=started
                )
        except TimeoutError as exc:
            failure = self._timed_out(candidate, exc, remaining)
            return self._failed(candidate, lease, tally, failure, response)
        except aiohttp.ClientError as exc:
            failure = UpstreamFailure(ErrorKind.CONNECT_ERROR, describe(exc))
            return self._failed(candidate, lease, tally, failure, response)
        except asyncio.CancelledError:
            if response is not None:
                response.close()
            self._report(candidate, lease, tally, None, cancelled=True)
            raise

    async def fetch(
        self,
        candidate: Candidate,
        lease: KeyLease | None,
        calls: Sequence[HttpCall],
        read: Callable[[Sequence[bytes]], R],
        deadline: float,
    ) -> Fetched[R] | UpstreamFailure:
        """Make one attempt whose answer is whole JSON bodies (embeddings), not a stream.

        The calls go to the same worker with the same key, one after another, and count as
        one attempt: the whole of it is bounded by the worker's time-to-first-token limit
        (a whole answer is its first token) and the request's deadline. ``read`` turns
        the bodies into the result; bodies it refuses (``ValueError``) are the upstream's
        failure, so the walk moves on as for any other.
        """
        adapter = adapter_for(candidate.type)
        remaining, timeout = self._timeouts(candidate, deadline)
        tally = self._board.attempt_started(candidate.worker)
        started = time.monotonic()
        bodies: list[bytes] = []
        try:
            async with asyncio.timeout(min(candidate.first_token_timeout, remaining)):
                for call in calls:
                    got = await self._whole_body(call, timeout, adapter.classify)
                    if isinstance(got, UpstreamFailure):
                        return self._failed(candidate, lease, tally, got, None)
                    bodies.append(got)
        except TimeoutError as exc:
            failure = self._timed_out(candidate, exc, remaining, whole=True)
            return self._failed(candidate, lease, tally, failure, None)
        except aiohttp.ClientError as exc:
            failure = UpstreamFailure(ErrorKind.CONNECT_ERROR, describe(exc))
            return self._failed(candidate, lease, tally, failure, None)
        except asyncio.CancelledError:
            self._report(candidate, lease, tally, None, cancelled=True)
            raise
        try:
            result = read(bodies)
        except ValueError as exc:
            message = f"{candidate.worker} sent an unreadable answer: {exc}"[:300]
            failure = UpstreamFailure(ErrorKind.UPSTREAM_ERROR, message)
            return self._failed(candidate, lease, tally, failure, None)
        elapsed_ms = (time.monotonic() - started) * 1000.0
        self._report(candidate, lease, tally, None, elapsed_ms)
        return Fetched(candidate, lease, result, elapsed_ms)

    async def _whole_body(
        self,
        call: HttpCall,
        timeout: aiohttp.ClientTimeout,
        classify: Callable[[int, dict[str, str], bytes], UpstreamFailure],
    ) -> bytes | UpstreamFailure:
        """One call's whole body, or why it failed; the response is closed either way."""
        response = await self._send(call, timeout)
        try:
            refused = await _refusal(response, call.url, classify)
            return refused if refused is not None else await response.read()
        finally:
            response.close()

    async def _send(self, call: HttpCall, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientResponse:
        """Send one upstream call; redirects are never followed (they are refusals)."""
        headers, body = encode_call(call)
        return await self._session.request(
            call.method,
            call.url,
            headers=headers,
            data=body,
            timeout=timeout,
            allow_redirects=False,
        )

    async def _first_token(
        self,
        candidate: Candidate,
        lease: KeyLease | None,
        tally: Tally | None,
        response: aiohttp.ClientResponse,
        *,
        decoder: StreamDecoder,
        started: float,
    ) -> OpenAttempt | UpstreamFailure:
        """Read an accepted response until its answer begins, keeping what came before it."""
        buffered: list[StreamEvent] = []
        async for chunk in response.content.iter_any():
            for event in decoder.feed(chunk):
                if isinstance(event, StreamFailed):
                    failure = _unopened(candidate, buffered, event.failure)
                    return self._failed(candidate, lease, tally, failure, response)
                if isinstance(event, Malformed):
                    self._malformed(candidate, event)
                    continue
                buffered.append(event)
            if _has_text(buffered):
                ttft = (time.monotonic() - started) * 1000.0
                return OpenAttempt(candidate, lease, tally, response, decoder, buffered, ttft)
        failure = _empty(candidate)
        for event in decoder.close():
            if isinstance(event, StreamFailed):
                failure = _unopened(candidate, buffered, event.failure)
                break
            buffered.append(event)
        return self._failed(candidate, lease, tally, failure, response)

    async def relay(self, opened: OpenAttempt) -> AsyncGenerator[StreamEvent, None]:
        """Yield an opened attempt's events to the end; the last is a ``StreamFailed`` if it broke.

        Reports the outcome however the relay ends: completed, failed, or cancelled when
        the consumer stops early (the client disconnected).
        """
        candidate, response = opened.candidate, opened.response
        failure: UpstreamFailure | None = None
        finished = False
        try:
            for event in opened.buffered:
                yield event
            try:
                async for chunk in response.content.iter_any():
                    for raw in opened.decoder.feed(chunk):
                        if isinstance(raw, Malformed):
                            self._malformed(candidate, raw)
                            continue
                        event = self._scrubbed(raw, opened.lease)
                        if isinstance(event, StreamFailed):
                            failure = event.failure
                            finished = True
                        yield event
                        if failure is not None:
                            return
                finished = True
                for raw in opened.decoder.close():
                    event = self._scrubbed(raw, opened.lease)
                    if isinstance(event, StreamFailed):
                        failure = event.failure
                    yield event
            except TimeoutError:
                failure = UpstreamFailure(
                    ErrorKind.TIMEOUT, f"{candidate.worker} stalled mid-stream"
                )
                finished = True
                yield StreamFailed(failure)
            except aiohttp.ClientError as exc:
                failure = UpstreamFailure(
                    ErrorKind.CONNECT_ERROR,
                    f"{candidate.worker} dropped the stream: {self._redact(describe(exc))}",
                )
                finished = True
                yield StreamFailed(failure)
        finally:
            response.close()
            if not opened.reported:
                opened.reported = True
                self._report(
                    candidate,
                    opened.lease,
                    opened.tally,
                    failure,
                    opened.first_token_ms,
                    cancelled=not finished,
                )


async def _refusal(
    response: aiohttp.ClientResponse,
    url: str,
    classify: Callable[[int, dict[str, str], bytes], UpstreamFailure],
) -> UpstreamFailure | None:
    """Why the upstream refused the call (a redirect, or an error status), or None."""
    if is_redirect(response.status):
        return redirect_failure(response.status, response.headers.get("Location"), url)
    if response.status >= 400:
        body = await response.content.read(MAX_ERROR_BODY)
        return classify(response.status, dict(response.headers), body)
    return None


def _has_text(events: list[StreamEvent]) -> bool:
    """Whether the answer has begun: text, reasoning or a tool call reached the client."""
    return any(
        (isinstance(e, TextDelta | ReasoningDelta) and e.text) or isinstance(e, ToolCallDelta)
        for e in events
    )


def _empty(candidate: Candidate) -> UpstreamFailure:
    return UpstreamFailure(ErrorKind.EMPTY_RESPONSE, f"{candidate.worker} answered with no content")


def _unopened(
    candidate: Candidate, buffered: list[StreamEvent], failure: UpstreamFailure
) -> UpstreamFailure:
    """Why an attempt ended before it could be committed to.

    A body that ends with no text and no end signal is empty rather than incomplete: the
    decoder's verdict only matters once text was promised to someone.
    """
    if is_incomplete(failure) and not _has_text(buffered):
        return _empty(candidate)
    return failure


__all__ = ["Attempts", "Fetched", "OpenAttempt", "describe", "encode_call"]

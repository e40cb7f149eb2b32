"""One upstream attempt: open it until its first token, then relay the rest.

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
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import aiohttp
import orjson
import structlog

from actors.board import Board, Tally
from actors.keys import KeyLease, KeyLedger
from actors.messages import AttemptEnded
from actors.outcomes import ErrorKind, UpstreamFailure, is_redirect, redirect_failure
from actors.planning import Candidate
from actors.redaction import scrub
from actors.wire import HttpCall
from actors.workers import AttemptOutcome
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
from cortex.crossing import tell
from cortex.observability.observe import DispatchObserver
from cortex.providers.base import StreamDecoder, Target
from cortex.providers.catalog import adapter_for
from supervisors import Directory

log = structlog.get_logger("cortex.attempt")
keys_log = structlog.get_logger("cortex.keys")

MAX_ERROR_BODY = 65_536


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


class Attempts:
    """Makes attempts with the shared connection pool and reports their outcomes."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        workers: Directory,
        board: Board,
        ledger: KeyLedger,
        observer: DispatchObserver,
        connect_timeout: float,
    ) -> None:
        self._session = session
        self._workers = workers
        self._board = board
        self._ledger = ledger
        self._observer = observer
        self._connect_timeout = connect_timeout

    async def open(
        self, candidate: Candidate, lease: KeyLease | None, request: ChatRequest, deadline: float
    ) -> OpenAttempt | UpstreamFailure:
        """Try one candidate with one key until its first token, or classify its failure."""
        adapter = adapter_for(candidate.type)
        target = Target(candidate.base_url, candidate.model, lease.secret if lease else None)
        if request.max_tokens is None and candidate.max_tokens is not None:
            request = dataclasses.replace(request, max_tokens=candidate.max_tokens)
        call = adapter.chat_call(target, request, stream=True)
        headers, body = encode_call(call)
        remaining = max(0.001, deadline - time.monotonic())
        first_token_limit = min(candidate.first_token_timeout, remaining)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=min(self._connect_timeout, remaining),
            sock_read=min(candidate.timeout, remaining),
        )
        tally = self._board.attempt_started(candidate.worker)
        started = time.monotonic()
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(first_token_limit):
                response = await self._session.request(
                    call.method,
                    call.url,
                    headers=headers,
                    data=body,
                    timeout=timeout,
                    allow_redirects=False,
                )
                if is_redirect(response.status):
                    location = response.headers.get("Location")
                    failure = redirect_failure(response.status, location, call.url)
                    return self._failed(candidate, lease, tally, failure, response)
                if response.status >= 400:
                    body = await response.content.read(MAX_ERROR_BODY)
                    failure = adapter.classify(response.status, dict(response.headers), body)
                    return self._failed(candidate, lease, tally, failure, response)
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

    def _timed_out(
        self, candidate: Candidate, exc: TimeoutError, remaining: float
    ) -> UpstreamFailure:
        """Classify a timeout before the first token, saying whether the deadline was its limit.

        Every timer of an attempt is its own limit capped by the request's remaining time,
        so the timer that fired tells whether the worker or the request ran out of time.
        """
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            own = self._connect_timeout
        elif isinstance(exc, aiohttp.SocketTimeoutError):
            own = candidate.timeout
        else:
            own = candidate.first_token_timeout
        return UpstreamFailure(
            ErrorKind.TIMEOUT,
            f"{candidate.worker} sent no first token within {min(own, remaining):.1f}s",
            cut_by_deadline=remaining <= own,
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

    def _failed(
        self,
        candidate: Candidate,
        lease: KeyLease | None,
        tally: Tally | None,
        failure: UpstreamFailure,
        response: aiohttp.ClientResponse | None,
    ) -> UpstreamFailure:
        if response is not None:
            response.close()
        failure = self._scrub(failure, lease)
        self._report(candidate, lease, tally, failure)
        return failure

    def _scrub(self, failure: UpstreamFailure, lease: KeyLease | None) -> UpstreamFailure:
        """The failure with every configured secret redacted (see :func:`scrub`)."""
        return scrub(failure, self._ledger.redactor, lease.masked if lease else None)

    def _scrubbed(self, event: StreamEvent, lease: KeyLease | None) -> StreamEvent:
        """An in-stream failure scrubbed like any other; every other event as it is."""
        if isinstance(event, StreamFailed):
            return StreamFailed(self._scrub(event.failure, lease))
        return event

    def _redact(self, text: str) -> str:
        return self._ledger.redactor.redact(text)

    def _malformed(self, candidate: Candidate, event: Malformed) -> None:
        """Log a skipped chunk; its excerpt is upstream text, so it is redacted first."""
        log.warning("malformed_chunk", worker=candidate.worker, detail=self._redact(event.detail))

    def _report(
        self,
        candidate: Candidate,
        lease: KeyLease | None,
        tally: Tally | None,
        failure: UpstreamFailure | None,
        first_token_ms: float | None = None,
        *,
        cancelled: bool = False,
    ) -> None:
        if lease is not None and not cancelled:
            self._report_key(candidate.worker, lease, failure)
        outcome = AttemptOutcome.of(failure, cancelled=cancelled)
        if tally is not None:
            self._board.attempt_ended(tally, outcome, first_token_ms)
        if outcome in (AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED):
            self._tell(candidate.worker, AttemptEnded(failure))
        if cancelled:
            log.info("attempt_cancelled", worker=candidate.worker)
        self._observer.attempt_ended(candidate.worker, lease.masked if lease else None, failure)

    def _report_key(self, worker: str, lease: KeyLease, failure: UpstreamFailure | None) -> None:
        """Count the attempt against its key in the ledger, blocking the key if it is to blame.

        Written straight to the ledger (the key manager's crash-proof table, which applies
        its own rules under its own lock), not through the key manager's mailbox: that
        spares a message and a thread wake-up per request, and the block is in place before
        the provider actor hears of the failure and before the next key checkout, so
        neither can see a rate-limited key as usable.
        """
        if failure is None:
            self._ledger.report_success(worker, lease.key_id)
            return
        self._ledger.report_failure(worker, lease.key_id, failure)
        if failure.blocks_key:
            keys_log.warning(
                "key_blocked",
                worker=worker,
                key_id=lease.key_id,
                reason=failure.kind.value,
                retry_after=failure.retry_after,
            )

    def _tell(self, name: str, message: object) -> None:
        """Report to a worker's actor without waiting; a report lost to a restart is acceptable.

        ``name`` is looked up among the workers only, so a worker named like a core actor
        (``cache``, ``pool``) gets its own reports, never that actor.
        """
        tell(self._workers, name, message)


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


def encode_call(call: HttpCall) -> tuple[dict[str, str], bytes | None]:
    """The call's headers and JSON body as bytes, encoded with orjson.

    orjson is several times faster than the standard library that aiohttp's ``json=``
    uses; the rare body it cannot encode (an integer beyond 64 bits that a client passed
    through) is encoded the standard library's way.
    """
    headers = dict(call.headers)
    if call.json is None:
        return headers, None
    try:
        body = orjson.dumps(call.json)
    except orjson.JSONEncodeError:
        body = json.dumps(call.json, separators=(",", ":")).encode()
    headers["Content-Type"] = "application/json"
    return headers, body


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a client-side network error."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


__all__ = ["Attempts", "OpenAttempt", "describe"]

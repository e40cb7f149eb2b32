"""How an attempt's outcome is classified, scrubbed and reported, whatever its kind.

:class:`AttemptReports` is the base of :class:`~cortex.dataplane.attempts.Attempts`: it
holds what every attempt needs (the shared session, the board, the key ledger, the
workers' directory, the observer) and the one way an outcome is counted. Exactly one
outcome per attempt is counted on the board and in the key ledger, both under their own
locks with no mailbox hop; only the outcomes that say something about the worker are told
to its provider actor, successes in batches while the worker is steady
(:mod:`cortex.dataplane.success_reports`). Every failure is scrubbed
(:func:`~actors.redaction.scrub`) before it goes anywhere.
"""

from __future__ import annotations

import json
import time

import aiohttp
import orjson
import structlog

from actors.board import Board, Tally
from actors.keys import KeyLease, KeyLedger
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate
from actors.redaction import scrub
from actors.wire import HttpCall
from actors.workers import AttemptOutcome
from cortex.chat import Malformed, StreamEvent, StreamFailed
from cortex.crossing import tell
from cortex.dataplane.success_reports import SuccessReports
from cortex.observability.observe import DispatchObserver
from supervisors import Directory

log = structlog.get_logger("cortex.attempt")
keys_log = structlog.get_logger("cortex.keys")


class AttemptReports:
    """What attempts share: the connection pool, and how their outcomes are reported."""

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
        self._successes = SuccessReports(board, self._tell)

    def _timeouts(
        self, candidate: Candidate, deadline: float
    ) -> tuple[float, aiohttp.ClientTimeout]:
        """Seconds left before ``deadline``, and the socket timeouts of an attempt capped by it."""
        remaining = max(0.001, deadline - time.monotonic())
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=min(self._connect_timeout, remaining),
            sock_read=min(candidate.timeout, remaining),
        )
        return remaining, timeout

    def _timed_out(
        self, candidate: Candidate, exc: TimeoutError, remaining: float, *, whole: bool = False
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
        what = "whole answer" if whole else "first token"
        return UpstreamFailure(
            ErrorKind.TIMEOUT,
            f"{candidate.worker} sent no {what} within {min(own, remaining):.1f}s",
            cut_by_deadline=remaining <= own,
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
        if outcome is AttemptOutcome.SUCCEEDED:
            self._successes.succeeded(candidate.worker)
        elif outcome is AttemptOutcome.FAILED and failure is not None:
            self._successes.failed(candidate.worker, failure)
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


__all__ = ["AttemptReports", "describe", "encode_call"]

"""What the data plane tells observers, and the per-request record the access log reads.

The dispatcher decides nothing here: at five points of a request's walk down its plan it
tells a :class:`DispatchObserver` what happened (an attempt started, an attempt ended, an
answer's first token arrived, another worker continued the answer, a worker's part of the
answer finished). Metrics, the dashboard and the access log are observers;
:class:`FanOut` hands each report to all of them.

Per-request fields (worker, model, attempts, time to first token, tokens) cannot travel
in the dispatcher's return values without changing every handler, so the request's
middleware opens a :class:`RequestRecord` with :func:`tracking`, and
:class:`RequestTracker` writes into whichever record is current. The record lives in a
context variable: every request runs in its own asyncio task with its own context, so
records never mix, and library calls (no middleware) simply have none.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from aiohttp import web

from actors.outcomes import UpstreamFailure
from cortex.chat import StreamEvent, StreamFailed, Usage
from cortex.dataplane.contributions import Contribution, shares
from cortex.dataplane.substitution import read_substituted
from cortex.errors import Attempt
from cortex.providers.capabilities import read_dropped


class AnswerOutcome(StrEnum):
    """How a committed answer ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DispatchObserver(Protocol):
    """Told by the dispatcher what happens to each request; must never block or raise.

    Every method runs on the front's event loop, on the request's own task.
    """

    def attempt_started(self, worker: str, earlier: Sequence[Attempt]) -> None:
        """An upstream attempt on ``worker`` began; ``earlier`` are this request's failures."""

    def attempt_ended(self, worker: str, key: str | None, failure: UpstreamFailure | None) -> None:
        """An attempt ended, before or after its first token (``failure`` None: no failure).

        ``key`` is the masked key the attempt used, if any.
        """

    def answer_started(self, worker: str, model: str, ttft_ms: float) -> None:
        """The first token arrived after ``ttft_ms``: the answer is committed to ``worker``."""

    def answer_continued(self, worker: str, model: str, ttft_ms: float) -> None:
        """The answer's worker broke off; ``worker`` continues it, first token after ``ttft_ms``."""

    def answer_finished(
        self, worker: str, model: str, usage: Usage | None, outcome: AnswerOutcome
    ) -> None:
        """``worker``'s part of a committed answer ended, with its share of the usage, if known.

        Once per worker that wrote part of the answer, in order: a continued answer is
        reported as the part that broke off (``FAILED``), then the part that continued it.
        """


class NullObserver:
    """Observes nothing: the dispatcher's default when nobody is listening."""

    def attempt_started(self, worker: str, earlier: Sequence[Attempt]) -> None:
        """Ignore the report."""

    def attempt_ended(self, worker: str, key: str | None, failure: UpstreamFailure | None) -> None:
        """Ignore the report."""

    def answer_started(self, worker: str, model: str, ttft_ms: float) -> None:
        """Ignore the report."""

    def answer_continued(self, worker: str, model: str, ttft_ms: float) -> None:
        """Ignore the report."""

    def answer_finished(
        self, worker: str, model: str, usage: Usage | None, outcome: AnswerOutcome
    ) -> None:
        """Ignore the report."""


class FanOut:
    """Hands every report to each of several observers, in order."""

    def __init__(self, observers: Sequence[DispatchObserver]) -> None:
        self._observers = tuple(observers)

    def attempt_started(self, worker: str, earlier: Sequence[Attempt]) -> None:
        """Report to every observer."""
        for observer in self._observers:
            observer.attempt_started(worker, earlier)

    def attempt_ended(self, worker: str, key: str | None, failure: UpstreamFailure | None) -> None:
        """Report to every observer."""
        for observer in self._observers:
            observer.attempt_ended(worker, key, failure)

    def answer_started(self, worker: str, model: str, ttft_ms: float) -> None:
        """Report to every observer."""
        for observer in self._observers:
            observer.answer_started(worker, model, ttft_ms)

    def answer_continued(self, worker: str, model: str, ttft_ms: float) -> None:
        """Report to every observer."""
        for observer in self._observers:
            observer.answer_continued(worker, model, ttft_ms)

    def answer_finished(
        self, worker: str, model: str, usage: Usage | None, outcome: AnswerOutcome
    ) -> None:
        """Report to every observer."""
        for observer in self._observers:
            observer.answer_finished(worker, model, usage, outcome)


@dataclass(slots=True)
class RequestRecord:
    """What one HTTP request's access line reports beyond method, path and status.

    Mutable on purpose: it is filled in while the request runs, on the request's own task.

    Attributes:
        attempts: upstream attempts made (each key tried counts once).
        failures: each failed attempt as ``(worker, masked key, reason)``.
        worker: the worker that answered, once an answer started (``X-Cortex-Worker``).
        workers: every worker that wrote part of the answer, in order.
        model: the model that answered.
        ttft_ms: time from the answering attempt's start to its first token.
        usage: the answer's token counts: prompt once, everything delivered as completion.
        outcome: how the answer ended, once it did.
        route_rule: the content rule that routed the request (``X-Cortex-Route``), if any.
    """

    attempts: int = 0
    failures: list[tuple[str, str | None, str]] = field(default_factory=list)
    worker: str | None = None
    workers: list[str] = field(default_factory=list)
    model: str | None = None
    ttft_ms: float | None = None
    usage: Usage | None = None
    outcome: AnswerOutcome | None = None
    route_rule: str | None = None

    def log_fields(self) -> dict[str, object]:
        """The record as access-log fields (masked keys only, never a secret)."""
        return {
            "worker": self.worker,
            "workers": list(self.workers),
            "model": self.model,
            "attempts": self.attempts,
            "failures": [
                {"worker": worker, "key": key, "reason": reason}
                for worker, key, reason in self.failures
            ],
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 1),
            "tokens_in": None if self.usage is None else self.usage.prompt_tokens,
            "tokens_out": None if self.usage is None else self.usage.completion_tokens,
            "outcome": None if self.outcome is None else self.outcome.value,
            **({"route_rule": self.route_rule} if self.route_rule else {}),
        }


_CURRENT: ContextVar[RequestRecord | None] = ContextVar("cortex_request_record", default=None)


class _Tracking:
    """The context of :func:`tracking` (a class: cheaper per request than a generator)."""

    __slots__ = ("_record", "_token")

    def __init__(self, record: RequestRecord) -> None:
        self._record = record

    def __enter__(self) -> RequestRecord:
        self._token = _CURRENT.set(self._record)
        return self._record

    def __exit__(self, *_: object) -> None:
        _CURRENT.reset(self._token)


def tracking(record: RequestRecord) -> AbstractContextManager[RequestRecord]:
    """Make ``record`` the current task's request record for the duration of the block."""
    return _Tracking(record)


RECORD_KEY: web.RequestKey[RequestRecord] = web.RequestKey("cortex.record")
"""Where the request's door (:mod:`cortex.http.door`) keeps its record on the aiohttp request."""


def access_fields(request: web.Request, response: web.StreamResponse) -> dict[str, object]:
    """The access line's fields beyond method, path and status.

    ``worker`` falls back to the ``X-Cortex-Worker`` header for answers that did not come
    through the dispatcher (a cached response, for instance); ``dropped_params`` lists the
    request fields the answering worker left out (``X-Cortex-Dropped-Params``).
    """
    record = request.get(RECORD_KEY)
    fields = record.log_fields() if isinstance(record, RequestRecord) else {}
    worker = fields.get("worker") or response.headers.get("X-Cortex-Worker")
    fields["worker"] = worker
    fields["workers"] = fields.get("workers") or ([worker] if worker else [])
    dropped = read_dropped(response.headers)
    if dropped:
        fields["dropped_params"] = list(dropped)
    asked = read_substituted(response.headers)
    if asked:
        fields["model_substituted"] = asked
    return fields


def current_record() -> RequestRecord | None:
    """The request record of the running task, if a middleware opened one."""
    return _CURRENT.get()


class RequestTracker:
    """Writes dispatcher reports into the current request's record, if there is one."""

    def attempt_started(self, worker: str, earlier: Sequence[Attempt]) -> None:  # noqa: ARG002 - protocol signature
        """Count the attempt."""
        if (record := _CURRENT.get()) is not None:
            record.attempts += 1

    def attempt_ended(self, worker: str, key: str | None, failure: UpstreamFailure | None) -> None:
        """Note a failed attempt with its reason."""
        if failure is not None and (record := _CURRENT.get()) is not None:
            record.failures.append((worker, key, failure.kind.value))

    def answer_started(self, worker: str, model: str, ttft_ms: float) -> None:
        """Note who answered and how fast; an answer started anew forgets an abandoned one."""
        if (record := _CURRENT.get()) is not None:
            record.worker, record.model, record.ttft_ms = worker, model, ttft_ms
            record.workers = [worker]
            record.usage = record.outcome = None

    def answer_continued(self, worker: str, model: str, ttft_ms: float) -> None:  # noqa: ARG002 - protocol signature
        """Note the worker that continues the answer."""
        if (record := _CURRENT.get()) is not None:
            record.workers.append(worker)

    def answer_finished(
        self,
        worker: str,  # noqa: ARG002 - protocol signature
        model: str,  # noqa: ARG002 - protocol signature
        usage: Usage | None,
        outcome: AnswerOutcome,
    ) -> None:
        """Add the part's usage to the answer's, and note how the answer ended."""
        if (record := _CURRENT.get()) is not None:
            record.usage, record.outcome = _added(record.usage, usage), outcome


def _added(total: Usage | None, part: Usage | None) -> Usage | None:
    if total is None or part is None:
        return total or part
    return Usage(
        total.prompt_tokens + part.prompt_tokens, total.completion_tokens + part.completion_tokens
    )


def report_parts(
    observer: DispatchObserver, parts: Sequence[Contribution], outcome: AnswerOutcome
) -> None:
    """Report how each worker's part of a streamed answer ended, with its share of the usage.

    A part that broke off failed; the last part ended the way the answer did.
    """
    for part, share in zip(parts, shares(parts), strict=True):
        ended = AnswerOutcome.FAILED if part.broke else outcome
        observer.answer_finished(part.worker, part.model, share, ended)


async def observed(
    observer: DispatchObserver,
    worker: str,
    model: str,
    events: AsyncGenerator[StreamEvent, None],
) -> AsyncGenerator[StreamEvent, None]:
    """Relay a committed answer's events and report how it finished, however it finishes.

    Closing this generator early (the client went away) closes ``events`` too and reports
    :attr:`AnswerOutcome.CANCELLED`.
    """
    usage: Usage | None = None
    outcome = AnswerOutcome.CANCELLED
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, Usage):
                    usage = event
                elif isinstance(event, StreamFailed):
                    outcome = AnswerOutcome.FAILED
                yield event
        if outcome is not AnswerOutcome.FAILED:
            outcome = AnswerOutcome.COMPLETED
    finally:
        observer.answer_finished(worker, model, usage, outcome)


__all__ = [
    "RECORD_KEY",
    "AnswerOutcome",
    "DispatchObserver",
    "FanOut",
    "NullObserver",
    "RequestRecord",
    "RequestTracker",
    "access_fields",
    "current_record",
    "observed",
    "report_parts",
    "tracking",
]

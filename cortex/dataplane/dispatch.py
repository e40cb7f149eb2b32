"""The data plane: serve one chat request on the front's event loop.

For each request the dispatcher asks the pool for a plan and walks it
(:mod:`cortex.dataplane.walk`) until an attempt produces its first token; everything before that is
invisible to the client. Once the first token exists the answer is committed:

- for a streaming client, a later upstream failure is continued on another worker that
  can take a partial assistant message (``supports_prefill``), so the client still gets
  one whole answer (a :class:`~cortex.chat.Continued` event names the worker
  that takes over, and the usage counts the prompt once and every delivered token, see
  :mod:`cortex.dataplane.contributions`); when no such worker is left the stream ends with an error
  event naming the real cause, never as a silently truncated success;
- for a non-streaming client nothing has been sent yet, so any failure, mid-stream
  included, simply fails over to the next candidate.

An upstream whose body ends without its end signal has failed mid-stream like one that
dropped the connection (the adapters' decoders say so), so it is continued, failed over
or reported in the same ways, and counted against its worker.

The dispatcher decides nothing about health or keys itself: attempts count themselves on
the board and tell the provider actors what happened, and the actors decide; keys are
leased from and reported to the key ledger, whose own rules decide rotation and blocks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

import aiohttp

from actors.board import Board
from actors.keys import KeyLease, KeyLedger
from actors.messages import PlanRoute
from actors.outcomes import UpstreamFailure
from actors.planning import (
    NO_MODELS,
    Candidate,
    NoRouteForModel,
    NoWorkerAvailable,
    Plan,
    PlanError,
    RoutingStrategy,
)
from actors.workers import PlanKind
from cortex.chat import (
    ChatRequest,
    Continued,
    EmbeddingRequest,
    Embeddings,
    LiveAnswer,
    Message,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    Usage,
    WholeAnswer,
    gather,
)
from cortex.crossing import UNREACHABLE, Bridge
from cortex.dataplane.attempts import Attempts, Fetched, OpenAttempt
from cortex.dataplane.auto_pull import AutoPuller
from cortex.dataplane.contributions import Contribution, answer_usage
from cortex.dataplane.fitting import embeddable, fitted, worker_fit
from cortex.dataplane.slots import Slots
from cortex.dataplane.substitution import substitution_headers
from cortex.dataplane.walk import PlanWalk, RetryPolicy
from cortex.errors import AllUpstreamsFailed, BadRequest, GatewayError, NotFound, NothingAvailable
from cortex.observability.observe import (
    AnswerOutcome,
    DispatchObserver,
    NullObserver,
    observed,
    report_parts,
)
from cortex.providers.base import Target
from cortex.providers.capabilities import dropped_headers
from cortex.providers.embeddings import embedding_wire, embeddings_of
from supervisors import Directory, Handle

MAX_REQUEST_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """Deadlines and retry behaviour of the data plane."""

    request_timeout: float = 60.0
    connect_timeout: float = 10.0
    ask_timeout: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    continuation: bool = True
    strict_params: bool = False
    auto_pull: bool = False  # pull a model no Ollama instance has (cortex.dataplane.auto_pull)


class Dispatcher:
    """Serves chat requests by failing over across the pool's plan."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        bridge: Bridge,
        directory: Directory,
        workers: Directory,
        board: Board,
        ledger: KeyLedger,
        settings: DispatchSettings,
        observer: DispatchObserver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._bridge = bridge
        self._ledger = ledger
        self._settings = settings
        self._pool = Handle(directory, "pool")
        self._observer = observer or NullObserver()
        self._rng = rng or random.Random()
        self._slots = Slots()
        self._puller = AutoPuller(session, board, workers) if settings.auto_pull else None
        self._attempts = Attempts(
            session=session,
            workers=workers,
            board=board,
            ledger=ledger,
            observer=self._observer,
            connect_timeout=settings.connect_timeout,
        )

    async def open(
        self,
        request: ChatRequest,
        *,
        strategy: RoutingStrategy | None = None,
        timeout: float | None = None,
    ) -> LiveAnswer:
        """Fail over until an upstream produces its first token.

        Args:
            request: the validated request.
            strategy: routing strategy for this request, else the configured one.
            timeout: this request's deadline in seconds, else the configured one.

        Raises:
            GatewayError: a client-facing error when no upstream could answer.
        """
        walk = await self._walk(request, strategy, timeout)
        opened = await walk.next_opened(request)
        candidate = opened.candidate
        self._observer.answer_started(candidate.worker, candidate.model, opened.first_token_ms)
        dropped = self._dropped(candidate.type, request)
        return LiveAnswer(
            candidate.worker,
            candidate.model,
            self._stream(walk, opened, request),
            headers={**dropped_headers(dropped), **substitution_headers(candidate.substituted_for)},
            key=opened.key,
        )

    async def complete(
        self,
        request: ChatRequest,
        *,
        strategy: RoutingStrategy | None = None,
        timeout: float | None = None,
    ) -> WholeAnswer:
        """Serve a non-streaming request: any failure, mid-stream included, fails over.

        Raises:
            GatewayError: as :meth:`open`.
        """
        walk = await self._walk(request, strategy, timeout)
        while True:
            opened = await walk.next_opened(request)
            candidate = opened.candidate
            self._observer.answer_started(candidate.worker, candidate.model, opened.first_token_ms)
            worker, model = candidate.worker, candidate.model
            events = observed(self._observer, worker, model, self._relay(opened))
            result = await gather(LiveAnswer(worker, model, events, key=opened.key))
            if isinstance(result, WholeAnswer):
                dropped = self._dropped(candidate.type, request)
                asked = candidate.substituted_for
                return dataclasses.replace(result, dropped=dropped, substituted_for=asked)
            walk.note_failure(candidate.worker, opened.key, result)
            walk.exclude(candidate.worker)

    async def embed(
        self,
        request: EmbeddingRequest,
        *,
        strategy: RoutingStrategy | None = None,
        timeout: float | None = None,
    ) -> Embeddings:
        """Embed ``request``'s inputs on the first embeddings worker of the plan that answers.

        The plan is the pool's, from the workers' embedding models; the walk, its keys,
        failover and reports are those of chat, each attempt a whole JSON answer
        (:meth:`~cortex.dataplane.attempts.Attempts.fetch`).

        Raises:
            GatewayError: as :meth:`open`; a plan of workers whose API has no embeddings
                endpoint is a 400.
        """
        route = PlanRoute(request.model, strategy, request.pin, PlanKind.EMBEDDINGS)
        walk = self._walk_plan(embeddable(await self._plan(route)), timeout)

        async def attempt(
            candidate: Candidate, lease: KeyLease | None, deadline: float
        ) -> Fetched[Embeddings] | UpstreamFailure:
            wire = embedding_wire(candidate.type)
            target = Target(candidate.base_url, candidate.model, lease.secret if lease else None)

            def read(bodies: Sequence[bytes]) -> Embeddings:
                return embeddings_of(wire, bodies, request, candidate.worker, candidate.model)

            calls = wire.calls(target, request)
            return await self._attempts.fetch(candidate, lease, calls, read, deadline)

        fetched = await walk.next_result(attempt)
        worker, model = fetched.candidate.worker, fetched.candidate.model
        self._slots.release(worker)
        usage = Usage(fetched.result.prompt_tokens, 0)
        self._observer.answer_started(worker, model, fetched.elapsed_ms)
        self._observer.answer_finished(worker, model, usage, AnswerOutcome.COMPLETED)
        return fetched.result

    async def _walk(
        self, request: ChatRequest, strategy: RoutingStrategy | None, timeout: float | None
    ) -> PlanWalk:
        if self._puller is None:
            return self._walk_plan(await self.plan(request, strategy), timeout)
        seconds = min(timeout or self._settings.request_timeout, MAX_REQUEST_TIMEOUT)
        started = time.monotonic()
        plan = await self._puller.plan(request, seconds, lambda r: self.plan(r, strategy))
        return self._walk_plan(plan, max(0.001, seconds - (time.monotonic() - started)))

    def _walk_plan(self, plan: Plan, timeout: float | None) -> PlanWalk:
        seconds = min(timeout or self._settings.request_timeout, MAX_REQUEST_TIMEOUT)
        deadline = time.monotonic() + seconds
        return PlanWalk(
            plan=plan,
            deadline=deadline,
            attempts=self._attempts,
            checkout=self._checkout,
            ledger=self._ledger,
            slots=self._slots,
            policy=self._settings.retry,
            observer=self._observer,
            rng=self._rng,
        )

    async def plan(self, request: ChatRequest, strategy: RoutingStrategy | None) -> Plan:
        """The workers that would be tried for ``request``, in order, without trying any.

        Raises:
            GatewayError: as :meth:`open`, when no plan can be made.
        """
        plan = await self._plan(PlanRoute(request.model, strategy, request.pin))
        return fitted(plan, request, strict=self._settings.strict_params)

    def _dropped(self, provider_type: str, request: ChatRequest) -> tuple[str, ...]:
        """The request fields the answering worker's wire left out."""
        return worker_fit(provider_type, request, strict=self._settings.strict_params).dropped

    async def _relay(self, opened: OpenAttempt) -> AsyncGenerator[StreamEvent, None]:
        """One attempt's events, releasing its concurrency slot when it ends."""
        try:
            async with contextlib.aclosing(self._attempts.relay(opened)) as events:
                async for event in events:
                    yield event
        finally:
            self._slots.release(opened.candidate.worker)

    async def _stream(
        self, walk: PlanWalk, opened: OpenAttempt, request: ChatRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """Relay a committed answer, continuing it on another worker if its upstream breaks.

        Usage events are held back: the one usage at the end is the whole answer's (see
        :mod:`cortex.dataplane.contributions`). However the stream ends, each worker's part is
        reported to the observer with its share of the usage.
        """
        delivered: list[str] = []
        # Half a tool call cannot be spliced onto another worker's, nor several choices.
        called = request.n > 1
        parts: list[Contribution] = []
        outcome = AnswerOutcome.CANCELLED
        current = opened
        try:
            while True:
                part = Contribution(current.candidate.worker, current.candidate.model)
                parts.append(part)
                failure: UpstreamFailure | None = None
                async with contextlib.aclosing(self._relay(current)) as events:
                    async for event in events:
                        if isinstance(event, StreamFailed):
                            failure = event.failure
                            break
                        if isinstance(event, Usage):
                            part.usage = event
                            continue
                        if isinstance(event, TextDelta) and not event.choice:
                            delivered.append(event.text)
                            part.chunks += 1
                        elif isinstance(event, ToolCallDelta):
                            called = True
                            part.chunks += 1
                        yield event
                if failure is None:
                    if (usage := answer_usage(parts)) is not None:
                        yield usage
                    outcome = AnswerOutcome.COMPLETED
                    return
                part.broke = True
                walk.note_failure(current.candidate.worker, current.key, failure)
                walk.exclude(current.candidate.worker)
                continued = (
                    None if called else await self._continuation(walk, request, "".join(delivered))
                )
                if continued is None:
                    outcome = AnswerOutcome.FAILED
                    yield StreamFailed(failure)
                    return
                current = continued
                worker, model = current.candidate.worker, current.candidate.model
                self._observer.answer_continued(worker, model, current.first_token_ms)
                yield Continued(worker, model)
        finally:
            report_parts(self._observer, parts, outcome)

    async def _continuation(
        self, walk: PlanWalk, request: ChatRequest, delivered: str
    ) -> OpenAttempt | None:
        """Ask a prefill-capable worker to continue the partial answer, if any can."""
        wanted = walk.plan.continuation
        if not (self._settings.continuation if wanted is None else wanted) or not delivered:
            return None
        # The prefill changes the conversation, so a client's native body no longer says it.
        prefill = dataclasses.replace(
            request, messages=(*request.messages, Message("assistant", delivered)), native=None
        )
        try:
            return await walk.next_opened(prefill, prefill_only=True)
        except GatewayError:
            return None

    async def _plan(self, route: PlanRoute) -> Plan:
        try:
            plan: Plan = await self._bridge.ask(
                self._pool, route, timeout=self._settings.ask_timeout
            )
        except NoRouteForModel as exc:
            raise NotFound(str(exc), code="model_not_found") from exc
        except NoWorkerAvailable as exc:
            if route.kind is PlanKind.EMBEDDINGS and _none_embeds(exc):
                raise NotFound(
                    f"no worker serves embeddings ({exc}); list its models in embedding_models",
                    code="model_not_found",
                ) from exc
            raise NothingAvailable(
                str(exc), code="no_worker_available", retry_after=exc.retry_after
            ) from exc
        except PlanError as exc:
            raise BadRequest(str(exc), code="invalid_model") from exc
        except UNREACHABLE as exc:
            raise NothingAvailable(
                "the router is restarting; retry shortly", code="router_unavailable"
            ) from exc
        return plan

    async def _checkout(self, worker: str, exclude: frozenset[str]) -> KeyLease | None:
        """Lease the worker's next key straight from the ledger, on the loop.

        The ledger is the key manager's crash-proof table (an ETS table with an heir) and
        decides the lease itself, under its own lock, in microseconds. Leasing here saves
        a thread-pool and mailbox round trip per attempt (measured: see bench/RESULTS.md),
        and keeps keys leasable while the key manager restarts. Attempts count their outcomes in
        the same ledger (:mod:`cortex.dataplane.attempts`); the key manager keeps the timer that
        releases expired blocks, and the administration of keys.
        """
        return self._ledger.checkout(worker, exclude=exclude)


def _none_embeds(exc: NoWorkerAvailable) -> bool:
    """Whether every worker was skipped for listing no embedding model: a setup, not a lapse."""
    return bool(exc.reasons) and all(reason == NO_MODELS for reason in exc.reasons.values())


__all__ = [
    "AllUpstreamsFailed",
    "DispatchSettings",
    "Dispatcher",
    "GatewayError",
]

"""The data plane: one request's walk down its failover plan, on the front's event loop.

For each request the dispatcher asks the pool for a plan, then tries candidates in order.
A keyed worker is tried with each of its usable keys while the failure is the key's
(rate limit, quota); any other failure moves on to the next worker. Everything before the
first token is invisible to the client: connect errors, timeouts, error statuses, in-stream
errors and streams that end empty all fail over. Once the first token exists the answer is
committed to that worker, and a later failure ends the stream with an error event.

The dispatcher decides nothing about health or keys itself: it tells the provider and key
manager actors what happened and lets them decide.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import aiohttp
import pykka

from actors.keys import KeyLease, KeyLedger
from actors.messages import AttemptEnded, AttemptStarted, CheckoutKey, KeyUsed, PlanRoute
from actors.planning import (
    Candidate,
    NoRouteForModel,
    NoWorkerAvailable,
    PlanError,
    RoutingStrategy,
)
from actors.providers.base import (
    ChatRequest,
    Finished,
    StreamDecoder,
    StreamEvent,
    StreamFailed,
    Target,
    TextDelta,
    Usage,
)
from actors.providers.catalog import adapter_for
from actors.providers.errors import ErrorKind, UpstreamFailure
from cortex.bridge import Bridge
from cortex.errors import (
    AllRateLimited,
    AllUpstreamsFailed,
    Attempt,
    BadRequest,
    DeadlineExceeded,
    GatewayError,
    NotFound,
    NothingAvailable,
    UpstreamRejected,
)
from supervisors import Directory, Handle, NotRunning

MAX_ERROR_BODY = 65_536
_KEY_KINDS = {ErrorKind.RATE_LIMITED, ErrorKind.QUOTA_EXHAUSTED}


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """Deadlines of the data plane."""

    request_timeout: float = 120.0
    connect_timeout: float = 10.0
    ask_timeout: float = 5.0


@dataclass(slots=True)
class Answer:
    """A committed upstream answer: the first token has arrived.

    Iterate :meth:`events` to the end (or ``aclose`` it); it reports the attempt's outcome
    to the actors when it finishes, however it finishes.
    """

    worker: str
    model: str
    key: str | None
    attempts: tuple[Attempt, ...]
    first_token_ms: float
    _events: AsyncGenerator[StreamEvent, None] = field(repr=False)

    def events(self) -> AsyncGenerator[StreamEvent, None]:
        """The answer's events: text deltas, then finish reason and usage, or a failure."""
        return self._events


@dataclass(frozen=True, slots=True)
class Completed:
    """A whole answer gathered for a non-streaming client."""

    worker: str
    model: str
    text: str
    finish_reason: str
    usage: Usage | None
    attempts: tuple[Attempt, ...]


class Dispatcher:
    """Serves chat requests by failing over across the pool's plan."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        bridge: Bridge,
        directory: Directory,
        ledger: KeyLedger,
        settings: DispatchSettings,
    ) -> None:
        self._session = session
        self._bridge = bridge
        self._directory = directory
        self._ledger = ledger
        self._settings = settings
        self._pool = Handle(directory, "pool")
        self._keys = Handle(directory, "keys")

    async def open(
        self, request: ChatRequest, *, strategy: RoutingStrategy | None = None
    ) -> Answer:
        """Fail over until an upstream produces its first token.

        Raises:
            GatewayError: a client-facing error when no upstream could answer.
        """
        deadline = time.monotonic() + self._settings.request_timeout
        plan = await self._plan(request, strategy)
        attempts: list[Attempt] = []
        key_failures: set[str] = set()
        for candidate in plan:
            tried: set[str] = set()
            while True:
                if time.monotonic() >= deadline:
                    raise DeadlineExceeded(
                        "the request deadline passed before any upstream answered"
                    )
                lease = None
                if candidate.needs_key:
                    lease = await self._checkout(candidate.worker, tried)
                    if lease is None:
                        attempts.append(
                            Attempt(candidate.worker, None, "no_usable_key", "every key is resting")
                        )
                        key_failures.add(candidate.worker)
                        break
                    tried.add(lease.key_id)
                result = await self._attempt(candidate, lease, request, deadline, tuple(attempts))
                if isinstance(result, Answer):
                    return result
                attempts.append(
                    Attempt(
                        candidate.worker,
                        lease.masked if lease else None,
                        result.kind.value,
                        result.message,
                    )
                )
                if result.is_client_error:
                    raise UpstreamRejected(
                        result.message, code=result.code, worker=candidate.worker
                    )
                if result.kind in _KEY_KINDS:
                    key_failures.add(candidate.worker)
                if not (candidate.needs_key and result.tries_next_key):
                    break
        if attempts and all(
            a.worker in key_failures and a.reason in {"no_usable_key", *_KEY_KINDS}
            for a in attempts
        ):
            waits = [
                w for a in attempts if (w := self._ledger.next_unblock_in(a.worker)) is not None
            ]
            raise AllRateLimited(attempts, min(waits) if waits else None)
        raise AllUpstreamsFailed(attempts)

    async def complete(
        self, request: ChatRequest, *, strategy: RoutingStrategy | None = None
    ) -> Completed:
        """Serve a non-streaming request: the same failover, then gather the whole answer.

        Raises:
            GatewayError: as :meth:`open`, or ``AllUpstreamsFailed`` if the committed
                upstream failed before finishing.
        """
        answer = await self.open(request, strategy=strategy)
        parts: list[str] = []
        finish, usage = "stop", None
        async for event in answer.events():
            match event:
                case TextDelta(text=text):
                    parts.append(text)
                case Finished(reason=reason):
                    finish = reason
                case Usage():
                    usage = event
                case StreamFailed(failure=failure):
                    attempt = Attempt(
                        answer.worker, answer.key, failure.kind.value, failure.message
                    )
                    raise AllUpstreamsFailed([*answer.attempts, attempt])
        return Completed(
            answer.worker, answer.model, "".join(parts), finish, usage, answer.attempts
        )

    async def _plan(
        self, request: ChatRequest, strategy: RoutingStrategy | None
    ) -> tuple[Candidate, ...]:
        try:
            plan: tuple[Candidate, ...] = await self._bridge.ask(
                self._pool, PlanRoute(request.model, strategy), timeout=self._settings.ask_timeout
            )
        except NoRouteForModel as exc:
            raise NotFound(str(exc), code="model_not_found") from exc
        except NoWorkerAvailable as exc:
            raise NothingAvailable(str(exc), code="no_worker_available") from exc
        except PlanError as exc:
            raise BadRequest(str(exc), code="invalid_model") from exc
        except (pykka.Timeout, pykka.ActorDeadError, NotRunning) as exc:
            raise NothingAvailable(
                "the router is restarting; retry shortly", code="router_unavailable"
            ) from exc
        if not plan:
            raise NothingAvailable("no worker is configured", code="no_worker_available")
        return plan

    async def _checkout(self, worker: str, tried: set[str]) -> KeyLease | None:
        try:
            lease: KeyLease | None = await self._bridge.ask(
                self._keys,
                CheckoutKey(worker, frozenset(tried)),
                timeout=self._settings.ask_timeout,
            )
        except (pykka.Timeout, pykka.ActorDeadError, NotRunning) as exc:
            raise NothingAvailable(
                "the key manager is restarting; retry shortly", code="keys_unavailable"
            ) from exc
        return lease

    def _tell(self, name: str, message: object) -> None:
        """Report to an actor; a report lost to a restart in progress is acceptable."""
        try:
            Handle(self._directory, name).tell(message)
        except (NotRunning, pykka.ActorDeadError):
            return

    def _report(
        self,
        candidate: Candidate,
        lease: KeyLease | None,
        failure: UpstreamFailure | None,
        ttft: float | None = None,
    ) -> None:
        self._tell(candidate.worker, AttemptEnded(failure, ttft))
        if lease is not None:
            self._tell("keys", KeyUsed(candidate.worker, lease.key_id, failure))

    async def _attempt(
        self,
        candidate: Candidate,
        lease: KeyLease | None,
        request: ChatRequest,
        deadline: float,
        attempts: tuple[Attempt, ...],
    ) -> Answer | UpstreamFailure:
        """Try one candidate with one key until its first token, or classify its failure."""
        adapter = adapter_for(candidate.type)
        target = Target(candidate.base_url, candidate.model, lease.secret if lease else None)
        call = adapter.chat_call(target, request, stream=True)
        remaining = max(0.001, deadline - time.monotonic())
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=min(self._settings.connect_timeout, remaining),
            sock_read=min(candidate.timeout, remaining),
        )
        self._tell(candidate.worker, AttemptStarted())
        started = time.monotonic()
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(remaining):
                response = await self._session.request(
                    call.method,
                    call.url,
                    headers=dict(call.headers),
                    json=call.json,
                    timeout=timeout,
                )
                if response.status >= 400:
                    body = await response.content.read(MAX_ERROR_BODY)
                    failure = adapter.classify(response.status, dict(response.headers), body)
                    response.release()
                    self._report(candidate, lease, failure)
                    return failure
                decoder = adapter.decoder()
                buffered: list[StreamEvent] = []
                async for chunk in response.content.iter_any():
                    for event in decoder.feed(chunk):
                        if isinstance(event, StreamFailed):
                            response.close()
                            self._report(candidate, lease, event.failure)
                            return event.failure
                        buffered.append(event)
                    if any(isinstance(e, TextDelta) and e.text for e in buffered):
                        ttft = (time.monotonic() - started) * 1000.0
                        stream = self._follow(candidate, lease, response, decoder, buffered, ttft)
                        return Answer(
                            candidate.worker,
                            candidate.model,
                            lease.masked if lease else None,
                            attempts,
                            ttft,
                            stream,
                        )
                buffered.extend(decoder.close())
        except TimeoutError:
            failure = UpstreamFailure(
                ErrorKind.TIMEOUT, f"no first token within the deadline from {candidate.worker}"
            )
        except aiohttp.ClientError as exc:
            failure = UpstreamFailure(ErrorKind.CONNECT_ERROR, _describe(exc))
        except BaseException:
            if response is not None:
                response.close()
            self._report(candidate, lease, None)
            raise
        else:
            response.release()
            failed = next((e.failure for e in buffered if isinstance(e, StreamFailed)), None)
            failure = failed or UpstreamFailure(
                ErrorKind.EMPTY_RESPONSE, "the upstream answered with no content"
            )
        if response is not None:
            response.close()
        self._report(candidate, lease, failure)
        return failure

    async def _follow(
        self,
        candidate: Candidate,
        lease: KeyLease | None,
        response: aiohttp.ClientResponse,
        decoder: StreamDecoder,
        buffered: list[StreamEvent],
        ttft: float,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Relay the rest of a committed stream, reporting its outcome however it ends."""
        failure: UpstreamFailure | None = None
        try:
            for event in buffered:
                yield event
            try:
                async for chunk in response.content.iter_any():
                    for event in decoder.feed(chunk):
                        if isinstance(event, StreamFailed):
                            failure = event.failure
                        yield event
                        if failure is not None:
                            return
                for event in decoder.close():
                    yield event
            except TimeoutError:
                failure = UpstreamFailure(
                    ErrorKind.TIMEOUT, f"{candidate.worker} stalled mid-stream"
                )
                yield StreamFailed(failure)
            except aiohttp.ClientError as exc:
                failure = UpstreamFailure(
                    ErrorKind.CONNECT_ERROR,
                    f"{candidate.worker} dropped the stream: {_describe(exc)}",
                )
                yield StreamFailed(failure)
        finally:
            response.close()
            self._report(candidate, lease, failure, ttft)


def _describe(exc: BaseException) -> str:
    """A short, secret-free description of a client-side network error."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


__all__ = ["Answer", "Completed", "DispatchSettings", "Dispatcher", "GatewayError"]

"""The library API: embed the gateway in a Python application, or run it as the daemon.

::

    with cortex.start(settings) as gateway:
        for text in gateway.chat([{"role": "user", "content": "Hi"}]):
            print(text, end="")
        vectors = gateway.embed(["first text", "second text"])

The daemon (``python -m cortex``) is this same object with the HTTP front listening.
Requests from the library run on the front's event loop exactly like HTTP requests, so
failover, key rotation and health tracking behave identically.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from actors.redaction import Redactor
from actors.workers import WorkerView
from cortex.chat import LiveAnswer, StreamEvent, StreamFailed, TextDelta
from cortex.config.settings import ConfigError, Settings
from cortex.config.workers import parse_worker, with_memory_budget
from cortex.crossing import on_loop
from cortex.errors import (
    AllUpstreamsFailed,
    Attempt,
    BadRequest,
    GatewayError,
    NothingAvailable,
)
from cortex.http.embedding_schema import parse_embeddings
from cortex.http.front import Engine
from cortex.http.schemas import ChatCall, parse_chat, pin_provider
from cortex.observability.health import health_summary
from cortex.observability.logs import log_through_stdlib
from cortex.ops.control import Control
from cortex.ops.undo import StepFailed, UndoLog
from cortex.ops.workers import WorkerLifecycle
from cortex.tree import Tree, start_tree
from supervisors.reasons import ExitReason

_T = TypeVar("_T")

ENGINE_WAIT = 10.0
LIBRARY_MARGIN = 5.0
"""Seconds the library waits beyond the request deadline, so the gateway's own error wins."""
STOP_TIMEOUT = 60.0


class Gateway:
    """A running Cortex: the supervision tree, its event loop and (optionally) HTTP.

    Args:
        settings: validated settings (see :func:`cortex.config.settings.load_settings`).
        serve_http: listen on ``settings.host``/``settings.port``; False for library use only.
        settings_source: reads and validates the configuration again, for hot reloads
            (``POST /admin/reload``, SIGHUP); None disables reloading.
        redactor: learns every secret the gateway is configured with, so that whoever
            else holds it (the daemon's log output) redacts them too; a fresh one if None.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        serve_http: bool = True,
        settings_source: Callable[[], Settings] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._settings = settings
        self._serve_http = serve_http
        self._settings_source = settings_source
        self._redactor = redactor if redactor is not None else Redactor()
        self._tree: Tree | None = None
        self._control: Control | None = None

    def start(self) -> Self:
        """Start the tree; returns once every actor is ready and HTTP (if any) listens.

        Logs go through the standard ``logging`` machinery unless the application
        configured structlog itself (see
        :func:`cortex.observability.logs.log_through_stdlib`); nothing
        is ever written to standard output. A failed start leaves nothing running.

        Raises:
            StartError: an actor failed to start (for example, the port is taken).
        """
        log_through_stdlib(self._settings.log_level, self._redactor.redact)
        self._tree = start_tree(
            self._settings, serve_http=self._serve_http, redactor=self._redactor
        )
        self._control = Control(self, self._settings_source)
        self._tree.runtime.attach(self._control)
        return self

    def stop(self) -> None:
        """Stop gracefully: drain in-flight requests, then stop the tree in reverse order."""
        if self._tree is not None:
            self._tree.runtime.attach(None)
            self._tree.root_link.stop(self._tree.root, STOP_TIMEOUT)
            self._tree = None
        if self._control is not None:
            self._control.close()
            self._control = None

    def end_drain_now(self) -> None:
        """Cut a stop's grace period short: streams still open end now, with an error event.

        Safe from a signal handler and from any thread, before or during :meth:`stop`.
        """
        tree = self._tree
        if tree is not None:
            tree.runtime.end_drain_now()

    def __enter__(self) -> Self:
        """Start the gateway unless :func:`start` already did."""
        return self if self._tree is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def tree(self) -> Tree:
        """The running tree (for operators and tests)."""
        if self._tree is None:
            raise RuntimeError("the gateway is not running")
        return self._tree

    @property
    def control(self) -> Control:
        """The operations behind the admin API (reload, workers, drills)."""
        if self._control is None:
            raise RuntimeError("the gateway is not running")
        return self._control

    @property
    def port(self) -> int | None:
        """The HTTP port actually bound, or None without HTTP."""
        return self._engine().port

    def root_exit(self) -> ExitReason | None:
        """Why the root supervisor exited, or None while it runs."""
        return self.tree.root_link.reason

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        provider: str | None = None,
        strategy: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Stream an answer's text, failing over exactly like the HTTP endpoints.

        Args:
            messages: OpenAI-style messages (``role`` and ``content``).
            model: ``auto`` (default), a model name, or ``worker/model``.
            provider: pin the request to this worker.
            strategy: routing strategy for this request only.
            temperature: sampling temperature (0 to 2).
            top_p: nucleus sampling mass (0 to 1).
            max_tokens: longest answer, in tokens.
            stop: stop sequences.

        Raises:
            GatewayError: the request is invalid or no upstream could answer; an upstream
                failing after the first token raises ``AllUpstreamsFailed`` mid-iteration.
        """
        engine = self._engine()
        call = self._call(
            messages,
            model=model,
            provider=provider,
            strategy=strategy,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
        )

        def run(awaitable: Awaitable[_T]) -> _T:
            future = on_loop(_await(awaitable), engine.loop)
            return future.result(timeout=self._settings.request_timeout + LIBRARY_MARGIN)

        answer = run(engine.dispatcher.open(call.request, strategy=call.strategy))
        events = answer.events
        try:
            while True:
                try:
                    event = run(anext(events))
                except StopAsyncIteration:
                    return
                if (text := _text_of(answer, event)) is not None:
                    yield text
        finally:
            run(events.aclose())

    async def achat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        provider: str | None = None,
        strategy: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        """The async twin of :meth:`chat`, for applications with their own event loop."""
        engine = self._engine()
        call = self._call(
            messages,
            model=model,
            provider=provider,
            strategy=strategy,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
        )

        async def run(awaitable: Awaitable[_T]) -> _T:
            future = on_loop(_await(awaitable), engine.loop)
            return await asyncio.wrap_future(future)

        answer = await run(engine.dispatcher.open(call.request, strategy=call.strategy))
        events = answer.events
        try:
            while True:
                try:
                    event = await run(anext(events))
                except StopAsyncIteration:
                    return
                if (text := _text_of(answer, event)) is not None:
                    yield text
        finally:
            await run(events.aclose())

    def embed(
        self,
        inputs: str | Sequence[str],
        *,
        model: str | None = None,
        dimensions: int | None = None,
        strategy: str | None = None,
    ) -> list[list[float]]:
        """Embed texts on an embeddings worker, failing over like ``POST /v1/embeddings``.

        Args:
            inputs: one text, or several (one vector each, in order).
            model: ``auto`` (default), an embedding model, a route or ``worker/model``.
            dimensions: the vector length, where the model can shorten its vectors.
            strategy: routing strategy for this request only.

        Raises:
            GatewayError: the request is invalid or no upstream could answer.
        """
        engine = self._engine()
        body = {
            "input": inputs if isinstance(inputs, str) else list(inputs),
            "model": model,
            "dimensions": dimensions,
            "strategy": strategy,
        }
        call = pin_provider(
            parse_embeddings(body), self.tree.board, self.tree.runtime.settings.routes
        )
        future = on_loop(
            _await(engine.dispatcher.embed(call.request, strategy=call.strategy)), engine.loop
        )
        answer = future.result(timeout=self._settings.request_timeout + LIBRARY_MARGIN)
        return [list(vector) for vector in answer.vectors]

    def _call(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None,
        provider: str | None,
        strategy: str | None,
        temperature: float | None,
        top_p: float | None,
        max_tokens: int | None,
        stop: Sequence[str] | None,
    ) -> ChatCall:
        """Validate library arguments with the same rules as an HTTP body."""
        body = {
            "messages": list(messages),
            "model": model,
            "provider": provider,
            "strategy": strategy,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "stop": list(stop) if stop is not None else None,
        }
        limit = self.tree.runtime.settings.max_messages
        call = parse_chat(body, default_stream=True, max_messages=limit)
        return pin_provider(call, self.tree.board, self.tree.runtime.settings.routes)

    def health_status(self) -> dict[str, Any]:
        """The health summary ``GET /api/health`` answers (see :func:`health_summary`)."""
        return health_summary(self.tree.board.views())

    def list_workers(self) -> tuple[WorkerView, ...]:
        """Every worker's current view."""
        return self.tree.board.views()

    def add_worker(self, name: str, config: Mapping[str, Any]) -> WorkerView:
        """Add a worker at run time from one ``CORTEX_PROVIDERS``-style entry.

        Raises:
            ConfigError: the entry is invalid.
            BadRequest: a worker with that name exists.
        """
        problems: list[str] = []
        worker = parse_worker(name, config, problems)
        if worker is None:
            raise ConfigError(problems)
        tree = self.tree
        # Like a configured worker, an added Ollama worker gets the gateway-wide budget.
        worker = with_memory_budget((worker,), tree.runtime.settings.ollama_max_memory_mb)[0]
        if tree.board.config(name) is not None:
            raise BadRequest(f"a worker named {name!r} exists", code="duplicate_worker")
        _all_or_nothing(lambda log: WorkerLifecycle(tree).add(log, worker, tree.runtime.settings))
        view = tree.board.view(name)
        assert view is not None
        return view

    def remove_worker(self, name: str) -> bool:
        """Stop and remove a worker, with its history; returns whether it existed.

        A name that is no worker changes nothing, even when a core actor bears it: workers
        have their own name space.
        """
        tree = self.tree
        config = tree.board.config(name)
        if config is None:
            return False
        _all_or_nothing(
            lambda log: WorkerLifecycle(tree).remove(log, config, tree.runtime.settings)
        )
        return True

    def _engine(self) -> Engine:
        engine = self.tree.slot.get(ENGINE_WAIT)
        if engine is None:
            raise NothingAvailable(
                "the gateway's event loop is restarting", code="engine_unavailable"
            )
        return engine


def _text_of(answer: LiveAnswer, event: StreamEvent) -> str | None:
    """The text an event adds, or None; an in-stream failure becomes the caller's error."""
    if isinstance(event, TextDelta) and event.text:
        return event.text
    if isinstance(event, StreamFailed):
        failure = event.failure
        attempt = Attempt(answer.worker, answer.key, failure.kind.value, failure.message)
        raise AllUpstreamsFailed([attempt])
    return None


async def _await(awaitable: Awaitable[_T]) -> _T:
    """Wrap any awaitable (such as ``anext(...)``) as a coroutine the loop can be handed."""
    return await awaitable


def _all_or_nothing(change: Callable[[UndoLog], None]) -> None:
    """Make a worker change; if a step fails, undo the rest and raise what that step raised."""
    try:
        change(UndoLog())
    except StepFailed as exc:
        raise exc.cause from exc


def start(settings: Settings, *, serve_http: bool = False) -> Gateway:
    """Start an embedded gateway (no HTTP unless asked); use it as a context manager."""
    return Gateway(settings, serve_http=serve_http).start()


__all__ = ["Gateway", "GatewayError", "start"]

"""HTTP handlers: parse, hand to the dispatcher or read a snapshot, render.

Handlers hold no state and make no decisions: routing belongs to the pool, keys to the key
manager, health to the provider actors. Every error leaves through the request's door
(:mod:`cortex.http.door`) as one JSON shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from actors.board import Board
from actors.keys import KeyLedger
from cortex.cache.response_cache import ResponseCache
from cortex.cache.terms import CLIENT_PARTITION, CacheTerms, read_terms
from cortex.chat import (
    AnswerFold,
    LiveAnswer,
    StreamFailed,
    TextDelta,
)
from cortex.config.runtime import RUNTIME
from cortex.dataplane.dispatch import Dispatcher
from cortex.dataplane.substitution import substitution_headers
from cortex.errors import GatewayError, NothingAvailable, PayloadTooLarge
from cortex.fleet.fleet import Fleet
from cortex.http import anthropic_render, render
from cortex.http.batches import ready_batches
from cortex.http.content_routes import reroute
from cortex.http.schemas import ChatCall, parse_chat, parse_json_object, pin_provider, with_headers
from cortex.observability.observe import access_fields
from cortex.providers.capabilities import dropped_headers

log = structlog.get_logger("cortex.access")


@dataclass(slots=True)
class Services:
    """What the handlers need, owned by the front actor."""

    dispatcher: Dispatcher
    board: Board
    ledger: KeyLedger
    max_body_bytes: int
    cache: ResponseCache
    fleet: Fleet
    started: float = field(default_factory=time.time)
    draining: bool = False
    cutting: bool = False
    in_flight: set[asyncio.Task[object]] = field(default_factory=set)


SERVICES = web.AppKey("services", Services)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CUT_KEY = web.RequestKey("cortex.cut_by_shutdown", bool)
STARTED_KEY = web.RequestKey("cortex.response_started", bool)
REQUEST_ID_KEY = web.RequestKey("cortex.request_id", str)
SHUTTING_DOWN = "the gateway is shutting down; retry on another instance or shortly"
INTERNAL = "internal error; the request id is in X-Request-ID"


def cut_by_shutdown(request: web.Request) -> bool:
    """Whether the running request was cancelled because the shutdown grace period ended.

    If so the cancellation is taken back (``uncancel``) so the handler can still end its
    answer properly (an error event, or an error response) and the request is logged; a
    client that went away cancels the handler too, and that cancellation must propagate.
    """
    if not request.app[SERVICES].cutting:
        return False
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    request[CUT_KEY] = True
    return True


async def end_cut_stream(response: web.StreamResponse, *frames: bytes) -> None:
    """Write a cut stream's last frames; the client may be gone already, which is fine."""
    with contextlib.suppress(ConnectionResetError):
        for frame in frames:
            await response.write(frame)
        await response.write_eof()


def error_response(error: GatewayError, request_id: str | None = None) -> web.Response:
    """Render a gateway error as its JSON body and status."""
    headers = error.headers()
    if request_id:
        headers["X-Request-ID"] = request_id
    return web.json_response(error.body(), status=error.status, headers=headers)


def anthropic_error(error: GatewayError, request_id: str | None = None) -> web.Response:
    """Render a gateway error in Anthropic's envelope and status, with a ``request-id``."""
    headers = error.headers()
    if request_id:
        headers["X-Request-ID"] = headers["request-id"] = request_id
    body = anthropic_render.error_body(error, request_id)
    return web.json_response(body, status=anthropic_render.error_status(error), headers=headers)


def error_of(
    exc: Exception, request: web.Request, request_id: str, max_body_bytes: int
) -> GatewayError | None:
    """The gateway error a request's failure is answered with; None if it is not a failure.

    An aiohttp HTTP error becomes its status in the JSON shape (413 names the body limit);
    one below 400 (a redirect) is no failure and leaves as aiohttp's own response. Anything
    unexpected is logged with the request id and answered 500 without details.
    """
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge(
            f"request body is larger than {max_body_bytes} bytes", code="body_too_large"
        )
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        error = GatewayError(exc.reason, code=exc.reason.lower().replace(" ", "_"))
        error.status, error.type = (
            exc.status,
            "invalid_request_error" if exc.status < 500 else "server_error",
        )
        return error
    log.exception("unhandled_error", request_id=request_id, path=request.path)
    return GatewayError(INTERNAL, code="internal_error")


def shutting_down() -> GatewayError:
    """The error of a request cut by the end of the shutdown grace period."""
    return NothingAvailable(SHUTTING_DOWN, code="shutting_down")


def log_access(
    request: web.Request, response: web.StreamResponse, request_id: str, seconds: float
) -> None:
    """Write the request's access line: method, path, status, duration and its record.

    Below the info level nothing is built: the line's fields cost more than the call.
    """
    enabled = getattr(log, "is_enabled_for", None)  # a filtering logger's; others log all
    if enabled is not None and not enabled(logging.INFO):
        return
    cut = {"cut": "shutdown"} if request.get(CUT_KEY) else {}
    log.info(
        "request",
        request_id=request_id,
        method=request.method,
        path=request.path,
        status=response.status,
        duration_ms=round(seconds * 1000.0, 1),
        **cut,
        **access_fields(request, response),
    )


ChatParser = Callable[[Mapping[str, Any], int | None], ChatCall]
"""Reads one client format's body (and ``CORTEX_MAX_MESSAGES``) into a chat call."""


def openai_parser(*, default_stream: bool) -> ChatParser:
    """The parser of OpenAI-format bodies, streamed by default or not."""
    return lambda body, limit: parse_chat(body, default_stream=default_stream, max_messages=limit)


async def read_chat_call(request: web.Request, parse: ChatParser) -> tuple[ChatCall, CacheTerms]:
    """Read a chat request's body with ``parse``, settle its pin, and key it for the cache."""
    services = request.app[SERVICES]
    # The limits, routes and default strategy in force (a reload swaps them).
    runtime = request.app.get(RUNTIME)
    settings = runtime.settings if runtime is not None else None
    body = parse_json_object(await request.read())
    call = parse(body, settings.max_messages if settings is not None else None)
    routes = settings.routes if settings is not None else {}
    call = pin_provider(with_headers(call, request.headers), services.board, routes)
    call = reroute(request, call)
    terms = read_terms(
        call,
        request.headers,
        body,
        routes=routes,
        default_strategy=settings.strategy if settings is not None else None,
        partition=None if services.cache.settings.shared else request.get(CLIENT_PARTITION),
    )
    return call, terms


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``: OpenAI-compatible, streamed or not."""
    services = request.app[SERVICES]
    call, terms = await read_chat_call(request, openai_parser(default_stream=False))
    cid = render.completion_id()
    if not call.stream:
        done, cache_headers = await services.cache.complete(call, terms)
        body = render.completion(done, cid=cid)
        headers = {
            "X-Cortex-Worker": done.worker,
            **dropped_headers(done.dropped),
            **substitution_headers(done.substituted_for),
            **cache_headers,
        }
        return web.json_response(body, headers=headers, dumps=render.dumps)
    answer = await services.cache.open(call, terms)
    chunks = render.CompletionChunks(
        render.ChunkWriter(cid=cid, model=answer.model, include_usage=call.include_usage)
    )
    response = await start_sse(request, answer)
    try:
        async with (
            contextlib.aclosing(answer.events) as events,
            contextlib.aclosing(ready_batches(events)) as batches,
        ):
            async for batch, ended in batches:
                if chunks.add(batch):
                    break  # the answer failed: its error chunk ends it
                if not ended:  # the last batch goes out with the stream's end
                    await response.write(chunks.take())
            else:
                chunks.add_usage()
    except asyncio.CancelledError:
        if not cut_by_shutdown(request):
            raise
        writer = chunks.writer
        cut = writer.error(SHUTTING_DOWN, "server_error", "shutting_down")
        await end_cut_stream(response, cut, writer.done())
        return response
    await response.write_eof(chunks.take() + chunks.writer.done())
    return response


async def api_chat(request: web.Request) -> web.StreamResponse:
    """``POST /api/chat``: the original project's SSE stream of ``{"content": ...}`` events.

    The ``done`` event names the worker that started the answer (``X-Cortex-Worker``) and,
    in ``workers``, every worker that wrote part of it; an ``error`` event names the
    worker that broke off.
    """
    services = request.app[SERVICES]
    call, terms = await read_chat_call(request, openai_parser(default_stream=True))
    answer = await services.cache.open(call, terms)
    response = await start_sse(request, answer)
    told = AnswerFold(answer.worker, answer.model)
    workers = told.workers
    try:
        async with contextlib.aclosing(answer.events) as events:
            async for event in events:
                told.add(event)
                match event:
                    case TextDelta(text=text, choice=0) if text:
                        await response.write(render.sse({"content": text}))
                    case StreamFailed(failure=failure):
                        error = {
                            "message": failure.message,
                            "type": "upstream_error",
                            "code": failure.kind.value,
                        }
                        await response.write(
                            render.sse({"error": error, "worker": workers[-1]}, event="error")
                        )
                        break
            else:
                done: dict[str, object] = {
                    "worker": answer.worker,
                    "workers": workers,
                    "model": answer.model,
                    # Set by the answer's end signal; never invented.
                    "finish_reason": told.finish_reason,
                    "usage": render.usage_json(told.usage),
                }
                if told.calls:
                    done["tool_calls"] = render.tool_calls_json(told.tool_calls)
                await response.write(render.sse(done, event="done"))
    except asyncio.CancelledError:
        if not cut_by_shutdown(request):
            raise
        error = {"message": SHUTTING_DOWN, "type": "server_error", "code": "shutting_down"}
        cut = render.sse({"error": error, "worker": workers[-1]}, event="error")
        await end_cut_stream(response, cut)
        return response
    await response.write_eof()
    return response


async def start_sse(
    request: web.Request, answer: LiveAnswer, extra: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Start an event stream carrying the answer's worker, request id and headers."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Cortex-Worker": answer.worker,
            "X-Request-ID": request[REQUEST_ID_KEY],
            **answer.headers,
            **(extra or {}),
        }
    )
    await response.prepare(request)
    return response


def note_started(request: web.Request) -> None:
    """Note on the request that its response started, so a shutdown cut can tell."""
    request[STARTED_KEY] = True

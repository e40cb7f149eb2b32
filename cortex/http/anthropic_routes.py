"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: Anthropic's Messages API, inbound.

The body is parsed by :mod:`cortex.http.anthropic_schema` into the same chat call an
OpenAI body becomes and goes through the same cache and dispatcher, so routing, routes,
strategies, failover, continuation, key rotation, metrics and the access log are those of
``/v1/chat/completions``; only the rendering differs (:mod:`cortex.http.anthropic_render`).
Errors leave through the request's door (:mod:`cortex.http.door`) in Anthropic's envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cortex.chat import (
    AnswerFold,
    Finished,
    ReasoningDelta,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
)
from cortex.http import anthropic_render, render
from cortex.http.anthropic_schema import estimate_input_tokens, parse_messages_body
from cortex.http.routes import (
    REQUEST_ID_KEY,
    SERVICES,
    SHUTTING_DOWN,
    cut_by_shutdown,
    end_cut_stream,
    read_chat_call,
    start_sse,
)
from cortex.http.schemas import ChatCall, parse_json_object
from cortex.providers.capabilities import dropped_headers


def _parse(body: Mapping[str, Any], max_messages: int | None) -> ChatCall:
    return parse_messages_body(body, max_messages=max_messages)


async def messages(request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``: a ``message`` object, or Anthropic's named-event stream."""
    services = request.app[SERVICES]
    call, terms = await read_chat_call(request, _parse)
    mid = anthropic_render.fresh_id("msg_")
    if not call.stream:
        done, cache_headers = await services.cache.complete(call, terms)
        headers = {
            "X-Cortex-Worker": done.worker,
            "request-id": request[REQUEST_ID_KEY],
            **dropped_headers(done.dropped),
            **cache_headers,
        }
        body = anthropic_render.message(done, mid=mid)
        return web.json_response(body, headers=headers, dumps=render.dumps)
    answer = await services.cache.open(call, terms)
    writer = anthropic_render.EventWriter(mid=mid, model=answer.model)
    response = await start_sse(request, answer, {"request-id": request[REQUEST_ID_KEY]})
    told = AnswerFold(answer.worker, answer.model)
    try:
        async with contextlib.aclosing(answer.events) as events:
            await response.write(writer.start())
            async for event in events:
                told.add(event)
                match event:
                    case TextDelta(text=text, choice=0) if text:
                        await response.write(writer.text(text))
                    case ReasoningDelta(text=text, choice=0, signature=signature) if (
                        text or signature
                    ):
                        await response.write(writer.thinking(text, signature))
                    case ToolCallDelta(choice=0):
                        await response.write(writer.tool_call(event))
                    case Finished(reason=reason, choice=0):
                        writer.finish(reason)
                    case StreamFailed(failure=failure):
                        kind = anthropic_render.stream_error_type(failure.kind)
                        await response.write(anthropic_render.error_event(kind, failure.message))
                        break
            else:
                await response.write(writer.end(told.usage))
    except asyncio.CancelledError:
        if not cut_by_shutdown(request):
            raise
        await end_cut_stream(
            response, anthropic_render.error_event("overloaded_error", SHUTTING_DOWN)
        )
        return response
    await response.write_eof()
    return response


async def count_tokens(request: web.Request) -> web.Response:
    """``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``, estimated locally.

    The body is validated as a Messages body without ``max_tokens``; no provider is
    asked (see :func:`~cortex.http.anthropic_schema.estimate_input_tokens`).
    """
    body = parse_json_object(await request.read())
    call = parse_messages_body(body, counting=True)
    tokens = estimate_input_tokens(call.request)
    headers = {"request-id": request[REQUEST_ID_KEY]}
    return web.json_response({"input_tokens": tokens}, headers=headers, dumps=render.dumps)

"""Replies that misbehave on purpose: a dropped connection, a drip feed, half a body.

The simulated servers answer with these when a fault says so. Each one waits through
``wait_closing`` (the server's :meth:`~cortex.simulated.background.BackgroundServer._wait_closing`),
which returns True once the server starts closing, so no misbehaving reply outlives its
server.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

WaitClosing = Callable[[float], Awaitable[bool]]
HANG_POLL = 0.05  # seconds between checks that a hanging request's client is still there


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def hang_up(request: web.Request, wait_closing: WaitClosing | None = None) -> web.Response:
    """Abort the TCP connection, at once or, given ``wait_closing``, when the server closes.

    A hanging request also ends when its client hangs up, as on a real server, so a
    client that abandons it leaves nothing behind.
    """
    if wait_closing is not None:
        while not await wait_closing(HANG_POLL):
            if _gone(request):
                break
    if request.transport is not None:
        request.transport.abort()
    # The connection is gone; aiohttp drops this response on the floor.
    return web.Response(status=499)


async def drip(
    request: web.Request, wait_closing: WaitClosing, interval: float, content_type: str
) -> web.StreamResponse:
    """Answer 200 at once, then one byte per ``interval`` until either side leaves.

    Every byte arrives well within any read timeout, so only a deadline on the whole
    exchange ends it: the fault behind a health probe that never finishes.
    """
    response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    response.content_type = content_type
    try:
        await response.prepare(request)
        while not await wait_closing(interval):
            if _gone(request):
                break
            await response.write(b" ")
    except ConnectionResetError:
        pass  # the client gave up, as it should
    return response


async def half_body(request: web.Request, body: Mapping[str, Any]) -> web.StreamResponse:
    """Send the first half of a JSON body, then end the response cleanly (chunked)."""
    encoded = json.dumps(body).encode()  # as web.json_response encodes the whole body
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await response.prepare(request)
        await response.write(encoded[: len(encoded) // 2])
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; nothing left to tell it
    return response


def append_text(body: Mapping[str, Any], path: tuple[str, ...], text: str) -> dict[str, Any]:
    """A copy of an error body with ``text`` appended to the string at ``path``."""
    copy = dict(body)
    if not text:
        return copy
    head, *rest = path
    value = copy.get(head)
    if rest and isinstance(value, Mapping):
        copy[head] = append_text(value, tuple(rest), text)
    elif not rest and isinstance(value, str):
        copy[head] = value + text
    return copy

"""JSON answers for requests aiohttp's HTTP parser refuses before any handler runs.

A request line or header field over ``CORTEX_MAX_HEADER_BYTES`` (or a request that is not
HTTP at all) never reaches the application: aiohttp's connection handler answers it with
its own plain text. This module is the one place Cortex reaches into that handler, so
those answers get the JSON error shape of every other limit:

* a header field too long: 431 ``header_too_large``;
* the request line too long: 414 ``request_line_too_long``;
* anything else the parser refuses: 400 ``bad_http_request``.

The connection is closed after such an answer, as aiohttp does (the parser cannot know
where the next request would start).

aiohttp's ``LineTooLong`` carries the limit it hit but not which line hit it, so the
request line is given a parser limit one byte above the header limit: the limit in the
error tells the two apart. :func:`request_line_bytes` lets a middleware hold the request
line to the exact limit (:mod:`cortex.http.limits`).

aiohttp offers no hook for this (aiohttp issue #2988 and friends), so it takes a
:class:`~aiohttp.web_protocol.RequestHandler` subclass, built by a
:class:`~aiohttp.web.Server` subclass, which an :class:`~aiohttp.web.AppRunner` subclass
makes in ``_make_server`` (the runner's documented extension point, as an abstract
method). ``tests/e2e/test_access_e2e.py`` pins the behaviour for a new aiohttp.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from cortex.errors import BadRequest, GatewayError, HeaderTooLarge, RequestLineTooLong
from cortex.http.render import fresh_id
from cortex.http.routes import error_response

HTTP_VERSION_BYTES = len(" HTTP/1.1")


def line_parser_limit(max_header_bytes: int) -> int:
    """aiohttp's request line limit for ``CORTEX_MAX_HEADER_BYTES`` (its field limit is it)."""
    return max_header_bytes + 1


def request_line_bytes(request: web.BaseRequest) -> int:
    """The length of the request line as sent: method, target and version."""
    target = request.raw_path.encode("utf-8", "surrogateescape")
    return len(request.method) + 1 + len(target) + HTTP_VERSION_BYTES


def parse_error(exc: HttpProcessingError, max_header_bytes: int) -> GatewayError:
    """The gateway error for a request the parser refused."""
    if isinstance(exc, LineTooLong):
        hit = exc.args[1] if len(exc.args) > 1 else None
        if hit == line_parser_limit(max_header_bytes):
            return RequestLineTooLong(max_header_bytes)
        return HeaderTooLarge(max_header_bytes)
    return BadRequest(f"the request is not valid HTTP: {exc.message}", code="bad_http_request")


class JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering parse errors in Cortex's JSON error shape."""

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:  # noqa: ANN401 - aiohttp's handler options
        super().__init__(manager, **kwargs)
        field_size = kwargs.get("max_field_size")
        self._max_header_bytes = field_size if isinstance(field_size, int) else 8190

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Render a parse error as JSON and close the connection; anything else as before."""
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        response = error_response(parse_error(exc, self._max_header_bytes), fresh_id())
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """An aiohttp low-level server whose connections are :class:`JsonErrorHandler`."""

    def __call__(self) -> RequestHandler:
        """Build the handler of one new connection."""
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """An ``AppRunner`` serving its application through :class:`JsonErrorServer`."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return JsonErrorServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,
        )

"""The door every HTTP request passes: its cross-cutting concerns, in one coroutine.

One middleware, in this order (each concern's logic is a plain function of its module):

1. open the request's record (:mod:`cortex.observability.observe`) and give it an id;
2. refuse an unlisted cross-site ``Origin`` on a state-changing request, and answer a
   browser's preflight (:mod:`cortex.http.cors`), before client authentication, since
   browsers send no credentials on a preflight;
3. the request line limit (414) and the requests in flight per client (429),
   :mod:`cortex.http.limits`;
4. the gateway key (:mod:`cortex.http.access`): a static key, or a key record whose
   allow-list, limits and budgets the tenant gate (:mod:`cortex.tenants.gate`) applies
   around the handler; then the admin token (:mod:`cortex.http.admin`), so
   unauthenticated bodies are never parsed;
5. the JSON 404/405 of an unrouted path (:mod:`cortex.http.unsupported`), after client
   authentication, so an unknown ``/v1/`` path needs a key like any client path;
6. the handler; then every failure becomes its client's JSON error shape (Anthropic's for
   ``/v1/messages``), the access line is written, and the request is counted
   (:mod:`cortex.observability.telemetry`).

What depends on the route only (is it an admin path, does it need a key, which error shape,
which metrics label) is decided once per route when the app is built (:class:`Passage`);
what a reload may change (keys, origins, tokens, limits) is read from the current settings
on each request, and a concern that is off costs one attribute read: no CORS origins, no
CORS work beyond the cross-site check; no gateway keys, no key lookups. As responses are
prepared, one hook adds the CORS headers, notes that the response started (for a
shutdown cut), names the content rule that routed the request and adds a limited key's
``x-ratelimit-*`` headers.

A chain of one middleware per concern cost a coroutine frame, a call and its own reads of
the request for each: about 9 % of the loop's CPU per request (``bench.profile``, samples
grouped by function), against about 4 % for the door.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource

from cortex.config.runtime import Runtime
from cortex.config.settings import Settings
from cortex.errors import GatewayError
from cortex.http import access, admin, anthropic_render, cors, render, unsupported
from cortex.http.content_routes import name_route
from cortex.http.limits import InFlight, admit, check_request_line
from cortex.http.routes import (
    REQUEST_ID_KEY,
    STARTED_KEY,
    Handler,
    Services,
    anthropic_error,
    cut_by_shutdown,
    error_of,
    error_response,
    log_access,
    note_started,
    shutting_down,
)
from cortex.observability.metrics import CHAT_ENDPOINTS, OTHER, RequestOutcome, request_outcome
from cortex.observability.observe import RECORD_KEY, RequestRecord, tracking
from cortex.observability.telemetry import Telemetry
from cortex.tenants.gate import TENANCY, Tenancy, add_limit_headers
from cortex.tenants.records import GatewayKey


@dataclass(frozen=True, slots=True)
class Passage:
    """What the door decides about a request from its path alone.

    Attributes:
        routed: a route serves the path (else the answer is the JSON 404 or 405).
        admin: an admin API path: the admin token is needed, and CORS does not apply.
        key: a gateway key is needed whenever keys are configured.
        key_if_protected: a gateway key is needed when monitoring is protected too.
        anthropic: errors take Anthropic's envelope.
        endpoint: the ``endpoint`` label the request is counted under.
        chat: a chat endpoint, counted on the dashboard too.
    """

    routed: bool
    admin: bool
    key: bool
    key_if_protected: bool
    anthropic: bool
    endpoint: str
    chat: bool

    @classmethod
    def of(cls, path: str, *, route: str | None, endpoint: str) -> Passage:
        """The passage of a request to ``path``, matched by ``route`` (None: unrouted)."""
        return cls(
            routed=route is not None,
            admin=admin.under(path),
            key=access.needs_gateway_key(path, protect_monitoring=False),
            key_if_protected=access.needs_gateway_key(path, protect_monitoring=True),
            anthropic=anthropic_render.speaks(path),
            endpoint=endpoint,
            chat=route in CHAT_ENDPOINTS,
        )


def unrouted(path: str) -> Passage:
    """The passage of a request no route serves (its 404 or 405 is counted as ``other``)."""
    return Passage.of(path, route=None, endpoint=OTHER)


def passages(app: web.Application, telemetry: Telemetry) -> dict[AbstractResource | None, Passage]:
    """Each routed resource of ``app`` and its passage, decided from its canonical path.

    A resource's parameters never reach into the prefixes the decisions read (``/admin/``,
    ``/v1/``, ``/v1/messages/``), so every path it matches has the same passage.
    """
    label = telemetry.metrics.endpoint_label
    table: dict[AbstractResource | None, Passage] = {
        resource: Passage.of(
            resource.canonical, route=resource.canonical, endpoint=label(resource.canonical)
        )
        for resource in app.router.resources()
    }
    return table


class Door:
    """The app's one middleware (see the module docstring); build it with :func:`install_door`."""

    # What ``@web.middleware`` sets: aiohttp calls it as ``door(request, handler)``.
    __middleware_version__ = 1

    def __init__(
        self,
        table: dict[AbstractResource | None, Passage],
        *,
        runtime: Runtime,
        services: Services,
        telemetry: Telemetry,
        max_header_bytes: int,
    ) -> None:
        self._table = table
        self._runtime = runtime
        self._tasks = services.in_flight
        self._max_body_bytes = services.max_body_bytes
        self._telemetry = telemetry
        self._max_header_bytes = max_header_bytes
        self._clients = InFlight()

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Pass one request through every concern, the handler, and its accounting.

        One coroutine on purpose: each nested one costs a frame and a call per request.
        """
        passage = self._table.get(request.match_info.route.resource) or unrouted(request.path)
        record = RequestRecord()
        request[RECORD_KEY] = record
        request_id = request.headers.get("X-Request-ID", "")[:128] or render.fresh_id()
        request[REQUEST_ID_KEY] = request_id
        started = time.monotonic()
        # A handler always runs in its own task; the drain counts (and cuts) these.
        task = cast("asyncio.Task[object]", asyncio.current_task())
        try:
            with tracking(record):
                self._tasks.add(task)
                try:
                    settings = self._runtime.settings
                    response = _arrival(request, passage, settings, self._max_header_bytes)
                    if response is None:
                        address = request.remote or "unknown"
                        admit(self._clients, address, settings.max_connections_per_client)
                        try:
                            tenancy = request.app.get(TENANCY)
                            key = _credentials(request, passage, settings, tenancy)
                            if key is None or tenancy is None:
                                response = await handler(request)
                            else:
                                response = await tenancy.serve(request, key, handler)
                        finally:
                            self._clients.leave(address)
                except asyncio.CancelledError:
                    # A response already under way can no longer become an error response:
                    # a handler that streams must end its own stream when cut.
                    if request.get(STARTED_KEY) or not cut_by_shutdown(request):
                        raise
                    response = _respond(passage, shutting_down(), request_id)
                except Exception as exc:
                    error = error_of(exc, request, request_id, self._max_body_bytes)
                    if error is None:
                        raise
                    response = _respond(passage, error, request_id)
                finally:
                    self._tasks.discard(task)
                if not response.prepared:
                    response.headers["X-Request-ID"] = request_id
                seconds = time.monotonic() - started
                log_access(request, response, request_id, seconds)
        except asyncio.CancelledError:
            seconds = time.monotonic() - started
            self._count(passage, record.worker, RequestOutcome.CANCELLED, seconds)
            raise
        worker = record.worker or response.headers.get("X-Cortex-Worker")
        self._count(passage, worker, request_outcome(response.status, record.outcome), seconds)
        return response

    async def prepared(self, request: web.Request, response: web.StreamResponse) -> None:
        """As a response's headers are about to leave: CORS, the start mark, the route, and
        a limited gateway key's ``x-ratelimit-*`` headers."""
        origins = self._runtime.settings.cors_origins
        if origins:
            cors.add_headers(request, response, origins)
        note_started(request)
        name_route(request, response)
        add_limit_headers(request, response)

    def _count(
        self, passage: Passage, worker: str | None, outcome: RequestOutcome, seconds: float
    ) -> None:
        self._telemetry.request_finished(
            passage.endpoint, worker, outcome, seconds, chat=passage.chat
        )


def install_door(
    app: web.Application,
    *,
    runtime: Runtime,
    services: Services,
    telemetry: Telemetry,
    max_header_bytes: int,
) -> Door:
    """Make a :class:`Door` ``app``'s middleware; call it once every route is added."""
    door = Door(
        passages(app, telemetry),
        runtime=runtime,
        services=services,
        telemetry=telemetry,
        max_header_bytes=max_header_bytes,
    )
    app.middlewares.append(door)
    app.on_response_prepare.append(door.prepared)
    return door


def _respond(passage: Passage, error: GatewayError, request_id: str) -> web.Response:
    """``error`` in the JSON shape of the request's client."""
    if passage.anthropic:
        return anthropic_error(error, request_id)
    return error_response(error, request_id)


def _arrival(
    request: web.Request, passage: Passage, settings: Settings, max_header_bytes: int
) -> web.StreamResponse | None:
    """The checks before the per-client count: cross-site, preflight (its answer), line size."""
    origin = request.headers.get("Origin")
    origins = settings.cors_origins
    if origin is not None:
        cors.refuse_cross_site(request, origin, origins)
    if origins and request.method == "OPTIONS" and not passage.admin:
        answer = cors.preflight(request, origin or "", origins)
        if answer is not None:
            return answer
    check_request_line(request, max_header_bytes)
    return None


def _credentials(
    request: web.Request, passage: Passage, settings: Settings, tenancy: Tenancy | None
) -> GatewayKey | None:
    """The gateway key, the admin token, and the refusal of an unrouted path, in that order.

    Returns the key record the request presented, whose limits then apply (None for a
    static key or a path that needs none).
    """
    record = None
    wanted = passage.key or (passage.key_if_protected and settings.protect_monitoring)
    if wanted and access.guarded(settings.api_keys, tenancy):
        record = access.admit_client(request, settings.api_keys, tenancy)
    if passage.admin:
        admin.check_admin_token(request, settings.admin_token)
    if not passage.routed and (refused := unsupported.refusal(request)) is not None:
        raise refused
    return record

"""Cross-origin calls from browser pages (CORS), on when ``CORTEX_CORS_ORIGINS`` is set.

A web app served from another origin calls Cortex with ``fetch``; the browser first sends
a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) and then lets the page read
an answer only if it names the page's origin. With origins configured:

* a preflight to any path but ``/admin`` is answered here, 204, before client
  authentication (browsers never send credentials on a preflight): the allowed origin, the
  path's methods, the requested headers the SDKs send (:func:`allowed_headers`), a max age
  and ``Vary``. From an origin not listed it is a 403 ``origin_not_allowed`` without CORS
  headers, so the browser refuses the call;
* every response to a listed origin (streams and errors included) carries
  ``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers``, added when the
  response is prepared (a stream's headers leave before its handler returns).

The allowed origin is the page's own, or ``*`` when ``*`` is configured. Cortex never sends
``Access-Control-Allow-Credentials``: the gateway key travels in a header the page sets,
not in a cookie, so no browser credentials are ever needed. The dashboard is same-origin
and the admin API is for operators, so ``/admin`` gets no CORS headers at all. Origins are
read from the current settings on each request, so a reload changes them at once (a
browser may keep a preflight's answer for :data:`MAX_AGE` seconds). The request's door
(:mod:`cortex.http.door`) calls these functions; without origins it does no CORS work
beyond refusing an unlisted cross-site ``Origin`` on a state-changing request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from cortex.config.reader import ANY_ORIGIN
from cortex.errors import OriginNotAllowed
from cortex.http import admin

ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "authorization",
        "cache-control",
        "content-type",
        "idempotency-key",
        "x-api-key",
        "x-request-id",
        # The Stainless-built SDKs set it; Firefox sends it, so it must be allowed there.
        "user-agent",
        "anthropic-version",
        "anthropic-beta",
        # The Anthropic SDKs send it from a browser (``dangerouslyAllowBrowser``).
        "anthropic-dangerous-direct-browser-access",
    }
)
"""Request headers a page may send, besides those of :data:`ALLOWED_PREFIXES`."""
ALLOWED_PREFIXES = ("openai-", "x-stainless-", "x-cortex-")
"""The OpenAI SDKs' ``OpenAI-Organization``/``-Project``/``-Beta`` and ``X-Stainless-*``
telemetry, and Cortex's own per-request headers (``X-Cortex-Strategy``, ...)."""
EXPOSED_HEADERS = (
    "X-Cortex-Worker",
    "X-Cortex-Cache",
    "X-Cortex-Dropped-Params",
    "X-Request-ID",
    "Retry-After",
)
"""Response headers a page may read; a response's own ``x-ratelimit-*`` and other
``X-Cortex-*`` headers are exposed too (:func:`exposed_headers`)."""
EXPOSED_PREFIXES = ("x-ratelimit-", "x-cortex-")
MAX_AGE = 600
"""Seconds a browser may reuse a preflight's answer (Chromium caps it at 7200)."""
VARY = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")


def allowed_origin(origin: str, configured: tuple[str, ...]) -> str | None:
    """The ``Access-Control-Allow-Origin`` for a request from ``origin``; None refuses it."""
    if not origin or not configured:
        return None
    if ANY_ORIGIN in configured:
        return ANY_ORIGIN
    return origin if origin.lower() in configured else None


def allowed_headers(requested: str) -> list[str]:
    """The headers of ``Access-Control-Request-Headers`` a page may send, lower-cased.

    Only the allowed ones are echoed: a browser then refuses a call that needs another,
    naming that header in its console.
    """
    names = (name.strip().lower() for name in requested.split(","))
    return [
        name
        for name in names
        if name and (name in ALLOWED_HEADERS or name.startswith(ALLOWED_PREFIXES))
    ]


def exposed_headers(response: web.StreamResponse) -> list[str]:
    """:data:`EXPOSED_HEADERS` plus the response's own ``x-ratelimit-*``/``X-Cortex-*``."""
    known = {name.lower() for name in EXPOSED_HEADERS}
    extra = [
        name
        for name in dict.fromkeys(response.headers)
        if name.lower().startswith(EXPOSED_PREFIXES) and name.lower() not in known
    ]
    return [*EXPOSED_HEADERS, *extra]


def covered(path: str) -> bool:
    """Whether CORS applies to ``path``: everything but the admin API."""
    return not admin.under(path)


def _add_vary(response: web.StreamResponse) -> None:
    """Say that the answer depends on the origin, so no cache hands it to another page."""
    parts = response.headers.get("Vary", "").split(",")
    present = [part.strip() for part in parts if part.strip()]
    wanted = [name for name in VARY if name.lower() not in {p.lower() for p in present}]
    response.headers["Vary"] = ", ".join([*present, *wanted])


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cross_site(origin: str, host: str) -> bool:
    """Whether a request's ``Origin`` is another site than the one it was sent to."""
    return urlsplit(origin).netloc.lower() != host.lower()


def refuse_cross_site(request: web.Request, origin: str, origins: tuple[str, ...]) -> None:
    """Refuse a state-changing request from another site whose ``origin`` is not listed.

    A browser sends a "simple" cross-site POST (``text/plain``, a form) without asking
    first, and CORS only stops the page from reading the answer, not the request from
    spending provider tokens. So such a request is refused before it reaches a handler,
    CORS configured or not; clients that are not browsers send no ``Origin`` and are not
    concerned.

    Raises:
        OriginNotAllowed: the request changes state and comes from an unlisted other site.
    """
    if (
        request.method in UNSAFE_METHODS
        and cross_site(origin, request.host)
        and allowed_origin(origin, origins) is None
    ):
        raise OriginNotAllowed(origin)


def preflight(request: web.Request, origin: str, origins: tuple[str, ...]) -> web.Response | None:
    """Answer an ``OPTIONS`` request that is a browser's preflight (204); None if it is not.

    Call it only for a covered path with origins configured.

    Raises:
        OriginNotAllowed: a preflight from an origin not listed (a 403 without CORS headers).
    """
    method = request.headers.get("Access-Control-Request-Method", "").strip()
    if not method:
        return None
    allow = allowed_origin(origin, origins)
    if allow is None:
        raise OriginNotAllowed(origin)
    refused = request.match_info.http_exception
    # An unrouted path gets the method asked for, so the page reads the JSON 404 that
    # names what Cortex serves instead of an opaque CORS failure.
    methods = (
        sorted(refused.allowed_methods)
        if isinstance(refused, web.HTTPMethodNotAllowed)
        else [method.upper()]
    )
    headers = {
        "Access-Control-Allow-Origin": allow,
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Max-Age": str(MAX_AGE),
    }
    requested = allowed_headers(request.headers.get("Access-Control-Request-Headers", ""))
    if requested:
        headers["Access-Control-Allow-Headers"] = ", ".join(requested)
    response = web.Response(status=204, headers=headers)
    _add_vary(response)
    return response


def add_headers(
    request: web.Request, response: web.StreamResponse, origins: tuple[str, ...]
) -> None:
    """Name the allowed origin and the readable headers on a response being prepared."""
    if not covered(request.path):
        return
    _add_vary(response)
    allow = allowed_origin(request.headers.get("Origin", ""), origins)
    if allow is None or "Access-Control-Allow-Origin" in response.headers:
        return
    response.headers["Access-Control-Allow-Origin"] = allow
    response.headers["Access-Control-Expose-Headers"] = ", ".join(exposed_headers(response))

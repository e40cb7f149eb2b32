"""Client authentication: gateway keys on the chat endpoints, and the exposed-bind warning.

When ``CORTEX_API_KEYS`` is set, ``/v1/*`` and ``/api/chat`` need
``Authorization: Bearer <gateway key>`` (or ``x-api-key: <gateway key>``, as Anthropic's
SDKs send it) and answer 401 otherwise. Keys are compared in
constant time, and every configured key is compared on every request, so neither the
position of the matching key nor an early mismatch shows in the timing. The monitoring
endpoints (``/api/health``, ``/api/workers``, ``/api/stats``, ``/metrics``) stay readable
unless ``CORTEX_PROTECT_MONITORING`` is on; ``/healthz``, ``/readyz`` and
``/openapi.json`` are always open, for orchestrators. ``/admin`` has its own token
(:mod:`cortex.http.admin`); the dashboard checks its own credential, since a browser's
event stream sends it in the query string (:mod:`cortex.observability.telemetry`). The
keys are read from the current settings on each request, so a reload rotates them at once.
Gateway key records (:mod:`cortex.tenants`) are keys too, once any exists; the tenant gate
enforces their allow-lists, limits and budgets.
"""

from __future__ import annotations

import ipaddress

import structlog
from aiohttp import web

from actors.keys import key_id
from cortex.cache.terms import CLIENT_PARTITION
from cortex.config.runtime import RUNTIME
from cortex.config.settings import Settings
from cortex.errors import MissingGatewayKey
from cortex.http.credentials import key_accepted
from cortex.http.endpoints import client_paths, monitoring_paths
from cortex.http.routes import Handler
from cortex.tenants.gate import TENANCY

log = structlog.get_logger("cortex.access")

CLIENT_PREFIX = "/v1/"
"""Everything under it is for clients, routed or not: an unknown path needs a key too."""
CLIENT_PATHS = client_paths()
MONITORING_PATHS = monitoring_paths()


def needs_gateway_key(path: str, *, protect_monitoring: bool) -> bool:
    """Whether a request to ``path`` must carry a gateway key (when keys are configured)."""
    if path in CLIENT_PATHS or path.startswith(CLIENT_PREFIX):
        return True
    return protect_monitoring and path in MONITORING_PATHS


def presented_keys(request: web.Request) -> list[str]:
    """The gateway keys a request presents: ``Authorization: Bearer``, then ``x-api-key``.

    Anthropic's SDKs send their key as ``x-api-key`` (older ones, or a custom header) or
    as a bearer token (2.x), so either carries the gateway key, on every client endpoint.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    keys = [token.strip()] if scheme.lower() == "bearer" and token.strip() else []
    header = request.headers.get("x-api-key", "").strip()
    return [*keys, header] if header else keys


@web.middleware
async def client_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse chat (and, if so configured, monitoring) requests without a gateway key."""
    settings = request.app[RUNTIME].settings
    # Gateway key records (cortex.tenants): any record turns authentication on.
    tenancy = request.app.get(TENANCY)
    guarded = bool(settings.api_keys) or (tenancy is not None and tenancy.guards())
    if guarded and needs_gateway_key(request.path, protect_monitoring=settings.protect_monitoring):
        token = next(
            (key for key in presented_keys(request) if key_accepted(key, settings.api_keys)),
            None,
        )
        if token is None:
            # A record's key: its allow-list, limits and budgets apply, then its spend counts.
            record = tenancy.identify(presented_keys(request)) if tenancy is not None else None
            if tenancy is None or record is None:
                raise MissingGatewayKey
            request[CLIENT_PARTITION] = record.id
            return await tenancy.serve(request, record, handler)
        # The response cache keeps each gateway key's answers apart (by id, never the key).
        request[CLIENT_PARTITION] = key_id(token)
    return await handler(request)


def install_client_auth(app: web.Application) -> None:
    """Append the client authentication middleware to ``app``."""
    app.middlewares.append(client_auth)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps Cortex reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(settings: Settings) -> bool:
    """Log a loud warning when listening beyond loopback with no gateway keys.

    Returns:
        Whether the warning was given.
    """
    if is_loopback(settings.host) or settings.api_keys:
        return False
    log.warning(
        "exposed_without_client_keys",
        host=settings.host,
        advice="anyone who can reach this address can spend your provider keys; "
        "set CORTEX_API_KEYS or bind 127.0.0.1",
    )
    return True

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
request's door (:mod:`cortex.http.door`) decides once per route whether it needs a key
(:func:`needs_gateway_key`) and reads the keys from the current settings on each request,
so a reload rotates them at once; without keys configured no request is checked. Gateway
key records (:mod:`cortex.tenants`) are keys too, once any exists; the tenant gate
enforces their allow-lists, limits and budgets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import structlog
from aiohttp import web

from actors.keys import key_id
from cortex.cache.terms import CLIENT_PARTITION
from cortex.config.settings import Settings
from cortex.errors import MissingGatewayKey
from cortex.http.credentials import key_accepted
from cortex.http.endpoints import client_paths, monitoring_paths
from cortex.tenants.gate import Tenancy
from cortex.tenants.records import GatewayKey

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


def guarded(keys: Sequence[str], tenancy: Tenancy | None) -> bool:
    """Whether client requests need a key: static keys are set, or a key record exists."""
    return bool(keys) or (tenancy is not None and tenancy.guards())


def admit_client(
    request: web.Request, keys: Sequence[str], tenancy: Tenancy | None
) -> GatewayKey | None:
    """Check a request's gateway key; the record it presents, if not a static key.

    Sets the request's response-cache partition: each gateway key's answers are kept
    apart, by the key's id (a record's id), never the key.

    Raises:
        MissingGatewayKey: the request presents no static key and no usable record's key.
    """
    presented = presented_keys(request)
    token = next((key for key in presented if key_accepted(key, keys)), None)
    if token is not None:
        request[CLIENT_PARTITION] = key_id(token)
        return None
    record = tenancy.identify(presented) if tenancy is not None else None
    if record is None:
        raise MissingGatewayKey
    request[CLIENT_PARTITION] = record.id
    return record


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

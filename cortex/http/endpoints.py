"""Every HTTP endpoint, declared once: method, path, handler, who may call it, its docs.

Routing (:func:`add_endpoints`), access control (:func:`client_paths`,
:func:`monitoring_paths`, handed to :mod:`cortex.http.access`), the metrics' ``endpoint``
labels (:func:`metric_labels`) and ``GET /openapi.json`` (:mod:`cortex.http.openapi`) are
all generated from :data:`ENDPOINTS`, so a new endpoint is one row here plus its handler.

Who may call an endpoint (:class:`Access`):

* ``open``: anyone (liveness, readiness, the API description);
* ``client``: a gateway key when ``CORTEX_API_KEYS`` is set;
* ``monitoring``: anyone, or a gateway key with ``CORTEX_PROTECT_MONITORING``;
* ``dashboard``: like monitoring, or the admin token when one is set (checked by the
  dashboard itself, since a browser's event stream sends it in the query string);
* ``admin``: the admin token (:mod:`cortex.http.admin`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

from cortex.http import (
    admin,
    anthropic_routes,
    embeddings,
    monitoring,
    ollama_admin,
    openapi,
    routes,
    tenant_admin,
)
from cortex.http.routes import Handler
from cortex.observability import telemetry


class Access(StrEnum):
    """Who may call an endpoint (see the module docstring)."""

    OPEN = "open"
    CLIENT = "client"
    MONITORING = "monitoring"
    DASHBOARD = "dashboard"
    ADMIN = "admin"


class Answer(StrEnum):
    """What a successful call returns, for the OpenAPI document."""

    CHAT = "chat"  # a chat answer: JSON, or an SSE stream when ``stream`` is true
    JSON = "json"  # a JSON object
    TEXT = "text"  # text (Prometheus exposition, the dashboard page, an event stream)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route of the HTTP API.

    Attributes:
        method: the HTTP method.
        path: the path as OpenAPI writes it (``/admin/workers/{name}``).
        handler: the aiohttp handler.
        access: who may call it.
        summary: one line for the OpenAPI document.
        answer: what a successful call returns.
        status: the status of a successful call.
        body: the request body's schema name in the OpenAPI document, if it takes one.
        errors: the error statuses it documents.
        label: whether it is its own ``endpoint`` label in metrics (else ``other``).
        patterns: a regular expression per path parameter, where the default (one
            segment) is not enough.
        query: documented query parameters, as OpenAPI parameter objects.
    """

    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    answer: Answer = Answer.JSON
    status: int = 200
    body: str | None = None
    errors: tuple[int, ...] = ()
    label: bool = True
    patterns: dict[str, str] = field(default_factory=dict)
    query: tuple[openapi.Json, ...] = ()

    @property
    def route(self) -> str:
        """The path as aiohttp routes it, with each parameter's pattern."""
        return re.sub(
            r"\{(\w+)\}",
            lambda m: (
                "{" + m[1] + (":" + self.patterns[m[1]] if m[1] in self.patterns else "") + "}"
            ),
            self.path,
        )


CHAT_ERRORS = (400, 401, 404, 413, 429, 502, 503, 504)
ADMIN_ERRORS = (400, 401, 403, 404, 503)
AT_QUERY: openapi.Json = {
    "name": "at",
    "in": "query",
    "required": False,
    "description": "now (default): crash it; start: fail the worker's next start",
    "schema": {"type": "string", "enum": ["now", "start"]},
}


async def openapi_json(_: web.Request) -> web.Response:
    """``GET /openapi.json``: this API's OpenAPI description, generated from the table."""
    return web.json_response(openapi.document(ENDPOINTS))


def _admin(
    method: str,
    path: str,
    handler: Handler,
    summary: str,
    *,
    status: int = 200,
    body: str | None = None,
    patterns: dict[str, str] | None = None,
    query: tuple[openapi.Json, ...] = (),
) -> Endpoint:
    """An ``/admin`` endpoint: admin token, the admin errors, no metrics label of its own."""
    return Endpoint(
        method,
        admin.PREFIX + path,
        handler,
        Access.ADMIN,
        summary,
        status=status,
        body=body,
        errors=ADMIN_ERRORS,
        label=False,
        patterns=patterns or {},
        query=query,
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/v1/chat/completions",
        routes.chat_completions,
        Access.CLIENT,
        "OpenAI-compatible chat",
        Answer.CHAT,
        body="ChatCompletionRequest",
        errors=CHAT_ERRORS,
    ),
    Endpoint(
        "POST",
        "/api/chat",
        routes.api_chat,
        Access.CLIENT,
        "Cortex's SSE chat stream",
        Answer.CHAT,
        body="CortexChatRequest",
        errors=CHAT_ERRORS,
    ),
    Endpoint(
        "POST",
        "/v1/embeddings",
        embeddings.embeddings,
        Access.CLIENT,
        "OpenAI-compatible embeddings",
        body="EmbeddingsRequest",
        errors=CHAT_ERRORS,
    ),
    Endpoint(
        "POST",
        "/v1/messages",
        anthropic_routes.messages,
        Access.CLIENT,
        "Anthropic Messages API chat",
        Answer.CHAT,
        body="AnthropicMessagesRequest",
        errors=(400, 401, 404, 413, 429, 502, 504, 529),  # 529, not 503, as Anthropic's
    ),
    Endpoint(
        "POST",
        "/v1/messages/count_tokens",
        anthropic_routes.count_tokens,
        Access.CLIENT,
        "Anthropic token count (estimated locally)",
        body="AnthropicCountTokensRequest",
        errors=(400, 401, 413),
    ),
    Endpoint("GET", "/v1/models", monitoring.list_models, Access.CLIENT, "models and pins"),
    Endpoint(
        "GET",
        "/v1/models/{model}",
        monitoring.retrieve_model,
        Access.CLIENT,
        "one model, route or worker/model pin",
        errors=(401, 404),
        patterns={"model": ".+"},
    ),
    Endpoint("GET", "/api/health", monitoring.api_health, Access.MONITORING, "health summary"),
    Endpoint("GET", "/api/workers", monitoring.api_workers, Access.MONITORING, "every worker"),
    Endpoint("GET", "/api/stats", monitoring.api_stats, Access.MONITORING, "counts per key"),
    Endpoint("GET", "/api/fleet", monitoring.api_fleet, Access.MONITORING, "every live instance"),
    Endpoint(
        "GET",
        "/api/spend",
        tenant_admin.api_spend,
        Access.MONITORING,
        "spend of each gateway key by model, worker and day",
        errors=(400,),
        query=tuple(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in (
                ("since", "first UTC day counted, YYYY-MM-DD"),
                ("until", "last UTC day counted, YYYY-MM-DD"),
                ("key", "only this gateway key's id"),
            )
        ),
    ),
    Endpoint(
        "GET",
        "/metrics",
        telemetry.metrics_endpoint,
        Access.MONITORING,
        "Prometheus metrics",
        Answer.TEXT,
    ),
    Endpoint("GET", "/healthz", monitoring.healthz, Access.OPEN, "liveness"),
    Endpoint("GET", "/readyz", monitoring.readyz, Access.OPEN, "readiness", errors=(503,)),
    Endpoint(
        "GET",
        "/dashboard",
        telemetry.dashboard_page,
        Access.DASHBOARD,
        "the live dashboard page",
        Answer.TEXT,
        errors=(401,),
    ),
    Endpoint(
        "GET",
        "/dashboard/events",
        telemetry.dashboard_events,
        Access.DASHBOARD,
        "the dashboard's event stream (SSE)",
        Answer.TEXT,
        errors=(401, 503),
    ),
    Endpoint(
        "GET", "/openapi.json", openapi_json, Access.OPEN, "this API's description", label=False
    ),
    _admin("GET", "/actors", admin.list_actors, "the live supervision tree"),
    _admin(
        "GET",
        "/actors/{name}",
        admin.show_actor,
        "one actor of the tree (providers/<worker> for a worker)",
        patterns={"name": admin.ACTOR_NAME},
    ),
    _admin(
        "POST",
        "/actors/{name}/crash",
        admin.crash_actor,
        "fault drill: crash the actor (CORTEX_FAULT_DRILLS=1)",
        status=202,
        patterns={"name": admin.ACTOR_NAME},
        query=(AT_QUERY,),
    ),
    _admin("POST", "/workers", admin.add_worker, "add a worker", status=201, body="WorkerEntry"),
    _admin("DELETE", "/workers/{name}", admin.remove_worker, "drain and remove a worker"),
    _admin("POST", "/reload", admin.reload_config, "re-read the configuration"),
    _admin("POST", "/keys/{worker}/{key_id}/unblock", admin.unblock_key, "unblock a resting key"),
    _admin("POST", "/cache/clear", admin.clear_cache, "drop every cached answer"),
    _admin(
        "POST",
        "/route/explain",
        admin.explain_route,
        "the content rule a chat body matches and the plan it would walk (no upstream call)",
        body="ChatCompletionRequest",
    ),
    _admin("POST", "/gateway-keys", tenant_admin.create_key, "create a gateway key", status=201),
    _admin("GET", "/gateway-keys", tenant_admin.list_keys, "every gateway key, masked"),
    _admin("GET", "/gateway-keys/{id}", tenant_admin.show_key, "one gateway key, masked"),
    _admin("PATCH", "/gateway-keys/{id}", tenant_admin.update_key, "change a gateway key"),
    _admin("DELETE", "/gateway-keys/{id}", tenant_admin.revoke_key, "revoke a gateway key"),
    _admin("POST", "/gateway-keys/{id}/rotate", tenant_admin.rotate_key, "give a key a new secret"),
    _admin(
        "POST",
        "/ollama/{worker}/pull",
        ollama_admin.pull_model,
        "pull a model onto an Ollama worker, streaming its progress (NDJSON)",
    ),
    _admin(
        "DELETE",
        "/ollama/{worker}/models/{model}",
        ollama_admin.delete_model,
        "delete a model from an Ollama worker",
        patterns={"model": ollama_admin.MODEL_PATH},
    ),
)


def add_endpoints(app: web.Application) -> None:
    """Route every endpoint of the table on ``app``."""
    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, endpoint.route, endpoint.handler)


def client_paths() -> frozenset[str]:
    """Paths that need a gateway key whenever gateway keys are configured."""
    return frozenset(e.path for e in ENDPOINTS if e.access is Access.CLIENT)


def monitoring_paths() -> frozenset[str]:
    """Paths that need a gateway key when monitoring is protected."""
    return frozenset(e.path for e in ENDPOINTS if e.access is Access.MONITORING)


def metric_labels() -> tuple[str, ...]:
    """The paths that are ``endpoint`` labels of their own in metrics."""
    return tuple(e.path for e in ENDPOINTS if e.label)

"""The OpenAPI 3.0 description of Cortex's HTTP API, served at ``GET /openapi.json``.

Written by hand rather than generated: the handlers parse bodies themselves
(:mod:`cortex.http.schemas`), and the document is the contract fuzzers (schemathesis,
hypothesis) test the daemon against. It is built fresh on each call, so no mutable
module-level state exists.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from aiohttp import web

Json = dict[str, Any]

_ERROR_STATUSES = ("400", "401", "404", "413", "429", "502", "503", "504")


def _version() -> str:
    try:
        return metadata.version("cortex-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0+source"


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: str) -> Json:
    return {
        status: {"description": "an error", "content": _json(_ref("Error"))} for status in statuses
    }


def _schemas() -> Json:
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": ["system", "user", "assistant", "developer"]},
            "content": {"type": "string"},
        },
    }
    chat = {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {"type": "array", "items": _ref("Message"), "minItems": 1},
            "model": {"type": "string", "description": "auto, a model, or worker/model"},
            "stream": {"type": "boolean"},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "max_tokens": {"type": "integer", "minimum": 1},
            "stop": {"type": "array", "items": {"type": "string"}},
        },
    }
    cortex_chat = {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {"type": "array", "items": _ref("Message"), "minItems": 1},
            "model": {"type": "string"},
            "provider": {"type": "string", "description": "pin the request to this worker"},
            "strategy": {"type": "string"},
        },
    }
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "code": {"type": "string", "nullable": True},
                },
            }
        },
    }
    worker = {
        "type": "object",
        "required": ["name", "type"],
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string"},
            "base_url": {"type": "string"},
            "api_keys": {"type": "array", "items": {"type": "string"}},
            "models": {"type": "array", "items": {"type": "string"}},
            "priority": {"type": "integer"},
            "timeout": {"type": "number"},
        },
    }
    return {
        "Message": message,
        "ChatCompletionRequest": chat,
        "CortexChatRequest": cortex_chat,
        "Error": error,
        "WorkerEntry": worker,
        "Object": {"type": "object"},
    }


def _get(summary: str, *, secured: bool = False, errors: tuple[str, ...] = ()) -> Json:
    operation: Json = {
        "summary": summary,
        "responses": {"200": {"description": "OK", "content": _json(_ref("Object"))}},
    }
    operation["responses"].update(_errors(*errors))
    if secured:
        operation["security"] = [{"admin": []}]
    return operation


def _post(summary: str, body: str | None, *, security: str | None, statuses: Json) -> Json:
    operation: Json = {"summary": summary, "responses": statuses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    if security is not None:
        operation["security"] = [{security: []}]
    return operation


def _name_param(name: str) -> Json:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def document() -> Json:
    """The OpenAPI document of every public and admin endpoint."""
    ok_stream = {
        "200": {
            "description": "the answer (JSON, or an SSE stream when stream is true)",
            "content": {"application/json": {"schema": _ref("Object")}, "text/event-stream": {}},
        },
        **_errors(*_ERROR_STATUSES),
    }
    admin_errors = _errors("400", "401", "403", "404", "503")
    paths: Json = {
        "/v1/chat/completions": {
            "post": _post(
                "OpenAI-compatible chat",
                "ChatCompletionRequest",
                security="gateway",
                statuses=ok_stream,
            )
        },
        "/api/chat": {
            "post": _post(
                "Cortex's SSE chat stream",
                "CortexChatRequest",
                security="gateway",
                statuses=ok_stream,
            )
        },
        "/v1/models": {
            "get": {**_get("models and worker/model pins"), "security": [{"gateway": []}]}
        },
        "/api/health": {"get": _get("worker counts and overall health")},
        "/api/workers": {"get": _get("every worker's configuration and state")},
        "/api/stats": {"get": _get("counts per worker and per masked key")},
        "/healthz": {"get": _get("liveness")},
        "/readyz": {"get": _get("readiness", errors=("503",))},
        "/admin/actors": {
            "get": _get("the live supervision tree", secured=True, errors=("401", "404"))
        },
        "/admin/actors/{name}": {
            "parameters": [_name_param("name")],
            "get": _get("one actor of the tree", secured=True, errors=("401", "404")),
        },
        "/admin/actors/{name}/crash": {
            "parameters": [
                _name_param("name"),
                {
                    "name": "at",
                    "in": "query",
                    "required": False,
                    "description": "now (default): crash it; start: fail the worker's next start",
                    "schema": {"type": "string", "enum": ["now", "start"]},
                },
            ],
            "post": _post(
                "fault drill: crash the actor (CORTEX_FAULT_DRILLS=1)",
                None,
                security="admin",
                statuses={"202": {"description": "crash requested"}, **admin_errors},
            ),
        },
        "/admin/workers": {
            "post": _post(
                "add a worker",
                "WorkerEntry",
                security="admin",
                statuses={"201": {"description": "added"}, **admin_errors},
            )
        },
        "/admin/workers/{name}": {
            "parameters": [_name_param("name")],
            "delete": {
                "summary": "drain and remove a worker",
                "security": [{"admin": []}],
                "responses": {"200": {"description": "removed"}, **admin_errors},
            },
        },
        "/admin/reload": {
            "post": _post(
                "re-read the configuration",
                None,
                security="admin",
                statuses={"200": {"description": "the reload report"}, **admin_errors},
            )
        },
        "/admin/cache/clear": {
            "post": _post(
                "drop every cached answer",
                None,
                security="admin",
                statuses={"200": {"description": "cleared"}, **admin_errors},
            )
        },
        "/admin/keys/{worker}/{key_id}/unblock": {
            "parameters": [_name_param("worker"), _name_param("key_id")],
            "post": _post(
                "unblock a key",
                None,
                security="admin",
                statuses={"200": {"description": "unblocked"}, **admin_errors},
            ),
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Cortex", "version": _version()},
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "gateway": {"type": "http", "scheme": "bearer"},
                "admin": {"type": "http", "scheme": "bearer"},
            },
        },
    }


async def openapi_json(_: web.Request) -> web.Response:
    """``GET /openapi.json``: this API's OpenAPI description."""
    return web.json_response(document())


def add_openapi_route(app: web.Application) -> None:
    """Serve the document at ``/openapi.json``."""
    app.router.add_get("/openapi.json", openapi_json)

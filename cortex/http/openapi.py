"""The OpenAPI 3.0 description of Cortex's HTTP API, served at ``GET /openapi.json``.

Generated from the endpoint table (:mod:`cortex.http.endpoints`): each row gives its
method, path, summary, body schema, success status and documented errors, so the document
cannot miss or misdescribe a route. The body schemas are written here (the handlers parse
bodies themselves, :mod:`cortex.http.schemas`); the document is the contract fuzzers
(schemathesis, hypothesis) test the daemon against. It is built fresh on each call, so no
mutable module-level state exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from cortex.http.anthropic_render import speaks

if TYPE_CHECKING:
    from cortex.http.endpoints import Endpoint

Json = dict[str, Any]

SECURITY = {"client": "gateway", "admin": "admin"}
"""The security scheme each access class documents (the others are open or optional)."""


def _version() -> str:
    try:
        return metadata.version("cortex-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0+source"


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def _errors(statuses: Sequence[int], schema: str = "Error") -> Json:
    return {
        str(status): {"description": "an error", "content": _json(_ref(schema))}
        for status in statuses
    }


def _chat_schemas() -> Json:
    """The chat request bodies and their messages."""
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
    return {"Message": message, "ChatCompletionRequest": chat, "CortexChatRequest": cortex_chat}


def _anthropic_schemas() -> Json:
    """The Anthropic Messages bodies (``/v1/messages``) and Anthropic's error envelope."""
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": ["user", "assistant"]},
            "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {}}]},
        },
    }
    fields: Json = {
        "model": {"type": "string", "description": "auto, a model, a route, or worker/model"},
        "messages": {"type": "array", "items": _ref("AnthropicMessage"), "minItems": 1},
        "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": {}}]},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"type": "object"},
        "thinking": {"type": "object"},
    }
    create = {
        "type": "object",
        "required": ["model", "max_tokens", "messages"],
        "properties": {
            **fields,
            "max_tokens": {"type": "integer", "minimum": 1},
            "stream": {"type": "boolean"},
            "stop_sequences": {"type": "array", "items": {"type": "string"}},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "top_k": {"type": "integer", "minimum": 1},
            "metadata": {"type": "object"},
        },
    }
    error = {
        "type": "object",
        "required": ["type", "error"],
        "properties": {
            "type": {"type": "string", "enum": ["error"]},
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
            "request_id": {"type": "string"},
        },
    }
    return {
        "AnthropicMessage": message,
        "AnthropicMessagesRequest": create,
        "AnthropicCountTokensRequest": {
            "type": "object",
            "required": ["model", "messages"],
            "properties": fields,
        },
        "AnthropicError": error,
    }


def _schemas() -> Json:
    """Every schema the document refers to."""
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
            "embedding_models": {"type": "array", "items": {"type": "string"}},
            "priority": {"type": "integer"},
            "timeout": {"type": "number"},
        },
    }
    text_list = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2048}
    embeddings = {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {"oneOf": [{"type": "string"}, text_list]},
            "model": {"type": "string", "description": "auto, a model, or worker/model"},
            "encoding_format": {"type": "string", "enum": ["float", "base64"]},
            "dimensions": {"type": "integer", "minimum": 1},
            "user": {"type": "string"},
        },
    }
    return {
        **_chat_schemas(),
        "EmbeddingsRequest": embeddings,
        **_anthropic_schemas(),
        "Error": error,
        "WorkerEntry": worker,
        "Object": {"type": "object"},
    }


def _success(endpoint: Endpoint) -> Json:
    """The documented successful response of ``endpoint``."""
    kind = endpoint.answer.value
    if kind == "chat":
        content: Json = {
            "application/json": {"schema": _ref("Object")},
            "text/event-stream": {},
        }
        return {
            "description": "the answer (JSON, or an SSE stream when stream is true)",
            "content": content,
        }
    if kind == "text":
        return {"description": "OK"}
    return {"description": "OK", "content": _json(_ref("Object"))}


def operation(endpoint: Endpoint) -> Json:
    """The OpenAPI operation object of one endpoint."""
    op: Json = {
        "summary": endpoint.summary,
        "responses": {
            str(endpoint.status): _success(endpoint),
            **_errors(endpoint.errors, "AnthropicError" if speaks(endpoint.path) else "Error"),
        },
    }
    if endpoint.body is not None:
        op["requestBody"] = {"required": True, "content": _json(_ref(endpoint.body))}
    if (scheme := SECURITY.get(endpoint.access.value)) is not None:
        op["security"] = [{scheme: []}]
    names = re.findall(r"\{(\w+)\}", endpoint.path)
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]
    if params or endpoint.query:
        op["parameters"] = [*params, *endpoint.query]
    return op


def document(endpoints: Sequence[Endpoint]) -> Json:
    """The OpenAPI document of ``endpoints`` (the endpoint table)."""
    paths: Json = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation(endpoint)
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

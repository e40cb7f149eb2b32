"""Validation of Anthropic Messages bodies (``POST /v1/messages``) into a chat call.

The body is read into the same :class:`~cortex.chat.ChatRequest` an OpenAI body becomes,
so routing, failover, the cache and every other wire work unchanged; the body itself
rides along as the request's :class:`~cortex.chat.NativeBody`, which Anthropic workers
receive as the client wrote it (WIRE_FORMATS_TOOLS.md section 8.1).

Every field is kept, refused or declared, as for OpenAI bodies:

* kept: ``system`` (a string or text blocks), ``messages`` with ``text``, ``image``
  (base64 or url source), ``tool_use`` and ``tool_result`` blocks, ``tools``,
  ``tool_choice`` (``disable_parallel_tool_use`` included), ``max_tokens``,
  ``stop_sequences``, ``temperature``, ``top_p``, ``top_k``, ``thinking`` (a
  ``reasoning_effort`` by its budget), ``output_config`` (``format`` as a JSON schema,
  ``effort``), ``metadata.user_id`` (``user``) and ``stream``;
* refused with a 400: a malformed field, and a missing ``model``, ``max_tokens`` or
  ``messages``, as Anthropic refuses them;
* what only Anthropic can carry (document blocks, server tools, MCP servers, a file
  image source, an image inside a tool result) is unmet for every other wire, so such a
  request goes to Anthropic workers only, or gets a 400 naming it;
* what only tunes the answer (``cache_control``, ``service_tier``, a tool result's
  ``is_error``, thinking blocks sent back, ...) is declared dropped by other wires.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from cortex.chat import (
    ChatRequest,
    NativeBody,
    ResponseFormat,
    Tool,
    ToolChoice,
)
from cortex.http.anthropic_blocks import (
    Reading,
    drop_extra_fields,
    read_conversation,
    read_system,
)
from cortex.http.option_schema import MAX_TOOLS, invalid, read_tool
from cortex.http.schemas import ChatCall
from cortex.providers.anthropic import WIRE

_SERVER_ONLY = {
    "mcp_servers": "MCP servers",
    "container": "a code execution container",
}
"""Top-level fields only Anthropic can serve: unmet for every other wire."""
_KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stream",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "metadata",
        "output_config",
        *_SERVER_ONLY,
    }
)
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}
_THINKING_EFFORT = ((4096, "low"), (16384, "medium"))
"""A thinking budget below each bound reads as that effort; a larger one is ``high``."""


def parse_messages_body(
    body: Mapping[str, Any], *, max_messages: int | None = None, counting: bool = False
) -> ChatCall:
    """Validate a Messages body into a chat call carrying the body as its native form.

    ``counting`` reads a ``count_tokens`` body, which has no ``max_tokens``.

    Raises:
        BadRequest: naming the first invalid or missing field.
    """
    reading = Reading()
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "is required and must be a non-empty string")
    max_tokens = None
    if not counting or body.get("max_tokens") is not None:
        max_tokens = _positive(body.get("max_tokens"), "max_tokens", "is required and must be")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", "must be a boolean")
    messages = [*read_system(body.get("system"), reading)]
    messages.extend(read_conversation(body.get("messages"), max_messages, reading))
    tools = _tools(body.get("tools"), reading)
    choice, parallel = _tool_choice(body.get("tool_choice"), tools)
    response_format, effort = _output_config(body.get("output_config"), reading)
    options: dict[str, Any] = {}
    if body.get("top_k") is not None:
        options["top_k"] = _positive(body["top_k"], "top_k", "must be")
    user = _user(body.get("metadata"))
    if user is not None:
        options["user"] = user
    for name, what in _SERVER_ONLY.items():
        if body.get(name) is not None:
            reading.only_anthropic(what)
    for name in body:
        if name not in _KNOWN:
            reading.drop(name)
    request = ChatRequest(
        messages=tuple(messages),
        model=model,
        temperature=_unit(body, "temperature"),
        top_p=_unit(body, "top_p"),
        max_tokens=max_tokens,
        stop=_stop_sequences(body.get("stop_sequences")),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        response_format=response_format,
        reasoning_effort=effort or _thinking(body.get("thinking"), reading),
        options=options,
        ignored=tuple(reading.dropped),
        native=NativeBody(WIRE, dict(body), tuple(reading.unmet)),
    )
    return ChatCall(request=request, stream=bool(stream), include_usage=True, strategy=None)


def _positive(value: object, field: str, must: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise invalid(field, f"{must} a positive integer")


def _unit(body: Mapping[str, Any], field: str) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise invalid(field, "must be a number between 0 and 1")
    return float(value)


def _stop_sequences(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid("stop_sequences", "must be an array of strings")
    return tuple(value)


def _user(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("metadata", "must be an object")
    user = value.get("user_id")
    if user is not None and not isinstance(user, str):
        raise invalid("metadata.user_id", "must be a string")
    return user


def _tools(value: object, reading: Reading) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise invalid("tools", f"must be an array of at most {MAX_TOOLS} tools")
    tools = []
    for number, item in enumerate(value):
        where = f"tools[{number}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        if item.get("type", "custom") != "custom":
            reading.only_anthropic(f"server tool {item.get('type')!r}")
            continue
        if not isinstance(item.get("input_schema"), dict):
            raise invalid(f"{where}.input_schema", "is required and must be a JSON Schema object")
        kept = frozenset({"type", "name", "description", "input_schema", "strict"})
        drop_extra_fields(item, "tools[]", kept, reading)
        tools.append(read_tool(item, where, "input_schema"))
    if len({tool.name for tool in tools}) < len(tools):
        raise invalid("tools", "must not name a tool twice")
    return tuple(tools)


_CHOICES = {"auto": "auto", "any": "required", "tool": "required", "none": "none"}


def _tool_choice(value: object, tools: tuple[Tool, ...]) -> tuple[ToolChoice | None, bool | None]:
    """The tool choice and whether parallel calls stay allowed (None: the default)."""
    if value is None:
        return None, None
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind not in _CHOICES:
        raise invalid("tool_choice.type", "must be 'auto', 'any', 'tool' or 'none'")
    name = value.get("name") if kind == "tool" else None
    if kind == "tool" and name not in {tool.name for tool in tools}:
        raise invalid("tool_choice.name", "must name one of the request's tools")
    if kind in ("any", "tool") and not tools:
        raise invalid("tool_choice", "requires a tool call but the request offers no tools")
    disable = value.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise invalid("tool_choice.disable_parallel_tool_use", "must be a boolean")
    return ToolChoice(_CHOICES[kind], name), False if disable else None


def _thinking(value: object, reading: Reading) -> str | None:
    """``thinking`` as a reasoning effort: by budget when enabled, medium when adaptive."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "enabled" and isinstance(value, dict):
        budget = _positive(value.get("budget_tokens"), "thinking.budget_tokens", "must be")
        return next((effort for bound, effort in _THINKING_EFFORT if budget < bound), "high")
    if kind == "adaptive":
        return "medium"
    if kind == "disabled":
        return None
    if isinstance(kind, str):
        reading.drop(f"thinking ({kind})")
        return None
    raise invalid("thinking.type", "must be 'enabled', 'adaptive' or 'disabled'")


def _output_config(value: object, reading: Reading) -> tuple[ResponseFormat | None, str | None]:
    """``output_config``: a JSON schema the answer must follow, and an effort."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise invalid("output_config", "must be an object")
    effort = value.get("effort")
    if effort is not None and effort not in _EFFORTS:
        raise invalid("output_config.effort", f"must be one of {', '.join(_EFFORTS)}")
    format_ = value.get("format")
    response_format = None
    if format_ is not None:
        if not isinstance(format_, dict) or format_.get("type") != "json_schema":
            raise invalid("output_config.format.type", "must be 'json_schema'")
        schema = format_.get("schema")
        if not isinstance(schema, dict):
            raise invalid("output_config.format.schema", "must be a JSON Schema object")
        response_format = ResponseFormat("json_schema", schema, "response")
    drop_extra_fields(value, "output_config", frozenset({"format", "effort"}), reading)
    return response_format, _EFFORTS.get(effort) if isinstance(effort, str) else None


CHARS_PER_TOKEN = 4
"""The estimate's rule of thumb for English text and JSON (Anthropic and OpenAI both cite it)."""
TOKENS_PER_MESSAGE = 3
"""Each turn's role and framing."""
TOKENS_PER_IMAGE = 1600
"""An image at the size Anthropic scales to (about 1.15 megapixels / 750 pixels per token)."""


def estimate_input_tokens(request: ChatRequest) -> int:
    """An estimate of the prompt's input tokens, computed without asking any provider.

    One token per four characters of every text, tool call, tool result and tool
    definition (name, description and schema as JSON), three per turn, and 1600 per image,
    the most Anthropic counts for one. Real tokenizers differ by model; this is meant for
    budgeting, within tens of percent for prose.
    """
    chars = 0
    for message in request.messages:
        chars += len(message.content)
        chars += sum(len(call.name) + len(call.arguments) for call in message.tool_calls)
    for tool in request.tools:
        definition = [tool.name, tool.description or "", tool.parameters or {}]
        chars += len(json.dumps(definition, ensure_ascii=False))
    images = sum(len(message.images) for message in request.messages)
    turns = TOKENS_PER_MESSAGE * len(request.messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + turns + TOKENS_PER_IMAGE * images

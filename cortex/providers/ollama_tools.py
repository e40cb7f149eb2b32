"""What Ollama's native ``/api/chat`` makes of tools, images, JSON output and reasoning.

Both ways, for the adapter in :mod:`cortex.providers.ollama`:

- Tools are OpenAI's ``{"type": "function", "function": {...}}`` without ``strict``
  (Ollama enforces no schema on calls). There is no ``tool_choice``: ``none`` is honoured
  by sending no tools, ``required`` and a named function cannot be (the adapter's
  ``CARRIES`` says so, and the worker leaves the plan).
- An assistant's calls go back as ``tool_calls`` whose ``arguments`` are JSON objects, so
  OpenAI's argument text is parsed. A tool result is ``{"role": "tool", "tool_name",
  "content", "tool_call_id"}``: the docs match results by ``tool_name``, which OpenAI's
  tool message lacks, so it is looked up from the earlier call the ``tool_call_id`` names.
- Images travel in ``message.images`` as bare base64: only ``data:`` URLs of the types
  Ollama's own OpenAI layer accepts. Ollama cannot fetch a URL, and Cortex does not fetch
  it on its behalf either, so those requests go elsewhere.
- ``response_format`` becomes ``format`` (``"json"`` or the schema object) and
  ``reasoning_effort`` becomes ``think`` (a level; ``minimal`` turns thinking off).
- In answers, calls arrive whole, each in a ``done: false`` line (or all in the one
  body): :func:`call_deltas` makes one :class:`ToolCallDelta` per call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cortex.chat import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    ToolCall,
    ToolCallDelta,
)
from cortex.providers.openai import tool_json
from cortex.providers.payload import obj, seq, string

IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/webp"})
"""The ``data:`` URL media types Ollama's own OpenAI layer turns into image bytes."""

_ROLES = {"developer": "system"}
_THINK: dict[str, bool | str] = {"minimal": False, "low": "low", "medium": "medium", "high": "high"}


def messages_json(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The conversation in Ollama's shape, each tool result named after the call it answers.

    Raises:
        ValueError: a call's arguments are not a JSON object, or an image is not an
            inline image of a type Ollama takes.
    """
    names: dict[str, str] = {}
    out = []
    for message in messages:
        out.append(_message_json(message, names))
        # Later calls win: made-up ids ("call_0") repeat from one answer to the next.
        names.update((call.id, call.name) for call in message.tool_calls)
    return out


def _message_json(message: Message, names: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": _ROLES.get(message.role, message.role),
        "content": message.content,
    }
    if message.images:
        out["images"] = [image_data(image) for image in message.images]
    if message.tool_calls:
        out["tool_calls"] = [
            _call_json(call, index) for index, call in enumerate(message.tool_calls)
        ]
    if message.role == "tool":
        name = names.get(message.tool_call_id or "") or message.name
        if name:
            out["tool_name"] = name
        if message.tool_call_id is not None:
            out["tool_call_id"] = message.tool_call_id
    return out


def _call_json(call: ToolCall, index: int) -> dict[str, Any]:
    function = {"index": index, "name": call.name, "arguments": call.parsed_arguments()}
    return {"id": call.id, "function": function}


def image_data(image: ImagePart) -> str:
    """The bare base64 of an inline image, as ``message.images`` takes it.

    Raises:
        ValueError: the image is given by URL, or its media type is not one Ollama takes.
    """
    inline = image.inline()
    if inline is None and image.url.startswith("data:"):
        raise ValueError("Ollama takes inline images only as base64 data: URLs")
    if inline is None:
        raise ValueError(
            "Ollama takes images only inline, as base64 data: URLs; "
            "Cortex does not fetch image URLs for it"
        )
    media_type, data = inline
    if media_type.lower() not in IMAGE_TYPES:
        allowed = ", ".join(sorted(IMAGE_TYPES))
        raise ValueError(f"Ollama does not take {media_type} images (only {allowed})")
    return data


def tools_json(request: ChatRequest) -> list[dict[str, Any]] | None:
    """The tool definitions to send; None when there are none or ``tool_choice`` is ``none``."""
    if not request.calls_tools:
        return None
    tools = [tool_json(tool) for tool in request.tools]
    for tool in tools:
        tool["function"].pop("strict", None)
    return tools


def format_json(format_: ResponseFormat | None) -> str | Mapping[str, Any] | None:
    """``format``: ``"json"``, or the JSON Schema the answer must follow."""
    if format_ is None:
        return None
    if format_.type == "json_schema" and format_.schema is not None:
        return format_.schema
    return "json"


def think_json(effort: str | None) -> bool | str | None:
    """``think`` for a ``reasoning_effort``: the level itself, or off for ``minimal``."""
    return None if effort is None else _THINK.get(effort)


def unsendable(request: ChatRequest) -> tuple[str, ...]:
    """What of ``request`` could be carried by another wire but not by Ollama's.

    Inline images of another media type (GIF, say) and tool-call arguments that are not a
    JSON object: OpenAI takes both, Ollama refuses them.
    """
    unmet: list[str] = []
    for message in request.messages:
        for image in message.images:
            inline = image.inline()
            if inline is not None and inline[0].lower() not in IMAGE_TYPES:
                unmet.append(f"image_url ({inline[0]})")
        for call in message.tool_calls:
            try:
                call.parsed_arguments()
            except ValueError:
                unmet.append("tool_calls (arguments not a JSON object)")
    return tuple(dict.fromkeys(unmet))


def left_out(request: ChatRequest) -> tuple[str, ...]:
    """What Ollama's wire leaves out beyond the generic fit: strict tool schemas."""
    strict = request.calls_tools and any(tool.strict for tool in request.tools)
    return ("tools.strict",) if strict else ()


def call_deltas(message: Mapping[str, Any], start: int) -> list[ToolCallDelta]:
    """One delta per whole call in ``message.tool_calls``, numbered from ``start``.

    Current servers give each call an id (``call_`` and 8 characters); older ones gave
    none, and then the call gets ``call_<index>``, stable within the answer.
    """
    deltas = []
    calls = [call for call in seq(message, "tool_calls") if isinstance(call, dict)]
    for index, call in enumerate(calls, start=start):
        function = obj(call, "function")
        deltas.append(
            ToolCallDelta(
                index,
                string(call, "id") or f"call_{index}",
                string(function, "name"),
                _arguments_text(function.get("arguments")),
            )
        )
    return deltas


def _arguments_text(arguments: object) -> str:
    """OpenAI's argument text for Ollama's argument object (compact JSON)."""
    if isinstance(arguments, str):
        return arguments
    if arguments is None:
        return "{}"
    return json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)

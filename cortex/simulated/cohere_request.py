"""Reading a Cohere Chat v2 request into the simulated model's :class:`ChatCall`.

Besides the text, it reads what changes the answer: ``tools`` and ``tool_choice``, the
tool results after the last user message, ``response_format``, ``image_url`` parts and
``thinking``. It refuses, with Cohere's 400, what Cohere refuses (WIRE_FORMATS_TOOLS.md
sections 1.4, 3.4, 4.4, 5 and 6.4), so a test through the fake proves a request would
pass the real API's checks: a tool without ``parameters``, a ``tool_choice`` other than
``REQUIRED`` or ``NONE``, ``response_format`` together with ``tools``, text beside tool
calls in an assistant message, a tool result for a call never made, arguments that are
not a JSON object, and an image that is neither a ``data:`` nor a web URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cortex.simulated.content import ChatCall, ToolOffer, read_messages
from cortex.simulated.faults import ErrorKind
from cortex.simulated.wire import ReplyError

__all__ = ["CohereCall", "read_call"]

_CHOICES = {"REQUIRED": "required", "NONE": "none"}
_DETAILS = frozenset({"auto", "low", "high"})
_IMAGE_SOURCES = ("data:image/", "http://", "https://")


@dataclass(frozen=True, slots=True)
class CohereCall(ChatCall):
    """A :class:`ChatCall` that also says whether the model thinks aloud first.

    Attributes:
        thinking: ``thinking.type`` is ``enabled``: the answer starts with a thinking item.
    """

    thinking: bool = False


def _refuse(detail: str) -> ReplyError:
    return ReplyError(ErrorKind.BAD_REQUEST, f"invalid request: {detail}")


def read_call(body: Mapping[str, Any]) -> CohereCall:
    """The call ``body`` asks for.

    Raises:
        ReplyError: BAD_REQUEST for anything Cohere refuses.
    """
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise _refuse("model must be specified")
    if not isinstance(messages, list) or not messages:
        raise _refuse("messages cannot be empty")
    prompt, prompt_tokens = read_messages(messages)
    offer = ToolOffer(_tools(body), _choice(body), None, _results(messages))
    schema, json_mode = _response_format(body)
    max_tokens = body.get("max_tokens")
    return CohereCall(
        model=model,
        prompt=prompt,
        prompt_tokens=prompt_tokens,
        stream=bool(body.get("stream")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        offer=offer,
        json_schema=schema,
        json_mode=json_mode,
        images=sum(_images(message) for message in messages if isinstance(message, dict)),
        thinking=_thinking(body),
    )


def _tools(body: Mapping[str, Any]) -> tuple[tuple[str, Mapping[str, Any] | None], ...]:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _refuse("tools must be a list")
    offered: list[tuple[str, Mapping[str, Any] | None]] = []
    for position, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            raise _refuse(f"tools[{position}] must be a function tool")
        name, parameters = function.get("name"), function.get("parameters")
        if not isinstance(name, str) or not name:
            raise _refuse(f"tools[{position}].function.name is required")
        if not isinstance(parameters, dict):
            raise _refuse(f"tools[{position}].function.parameters is required")
        offered.append((name, parameters))
    if "strict_tools" in body and not isinstance(body["strict_tools"], bool):
        raise _refuse("strict_tools must be a boolean")
    return tuple(offered)


def _choice(body: Mapping[str, Any]) -> str:
    choice = body.get("tool_choice")
    if choice is None:
        return "auto"
    if not isinstance(choice, str) or choice not in _CHOICES:
        raise _refuse(f"tool_choice must be one of REQUIRED, NONE, got {choice!r}")
    if choice == "REQUIRED" and not body.get("tools"):
        raise _refuse("tool_choice REQUIRED needs tools")
    return _CHOICES[choice]


def _results(messages: list[Any]) -> tuple[str, ...]:
    """The tool results after the last user message, checked against the calls made."""
    made: set[str] = set()
    results: list[str] = []
    for message in (m for m in messages if isinstance(m, dict)):
        role = message.get("role")
        if role == "user":
            results.clear()
        elif role == "assistant":
            made.update(_calls(message))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in made:
                raise _refuse(f"tool message answers an unknown tool call {call_id!r}")
            results.append(_result_text(message.get("content")))
    return tuple(results)


def _calls(message: Mapping[str, Any]) -> list[str]:
    """The ids of an assistant message's calls, checked the way Cohere checks them."""
    calls = message.get("tool_calls") or []
    if calls and message.get("content") not in (None, "", []):
        raise _refuse(
            "text content is not allowed when tool_calls are provided. If you wish to pass "
            "a tool plan, either pass thinking content (with thinking enabled) or use "
            "'tool_plan'"
        )
    ids: list[str] = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(call.get("id"), str):
            raise _refuse("a tool call needs an id and arguments that are a JSON object")
        ids.append(call["id"])
    return ids


def _result_text(content: object) -> str:
    """A tool result's text: a string, or its text and document items."""
    if isinstance(content, str):
        return content
    items = (
        [item for item in content if isinstance(item, dict)] if isinstance(content, list) else []
    )
    texts = [
        item["text"] if item.get("type") == "text" else json.dumps(item.get("document"))
        for item in items
    ]
    return " ".join(str(text) for text in texts)


def _response_format(body: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, bool]:
    """``(schema, json mode)`` of ``response_format``, refused together with tools."""
    format_ = body.get("response_format")
    if format_ is None or format_ == {"type": "text"}:
        return None, False
    if not isinstance(format_, dict) or format_.get("type") != "json_object":
        raise _refuse("response_format.type must be text or json_object")
    if body.get("tools"):
        raise _refuse("response_format is not supported with tools")
    schema = format_.get("json_schema")
    if schema is not None and not isinstance(schema, dict):
        raise _refuse("response_format.json_schema must be an object")
    return schema, schema is None


def _images(message: Mapping[str, Any]) -> int:
    """How many ``image_url`` parts a message holds; only user messages may hold them."""
    content = message.get("content")
    parts = [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []
    images = [part.get("image_url") for part in parts if part.get("type") == "image_url"]
    if images and message.get("role") != "user":
        raise _refuse("images are only allowed in user messages")
    for image in images:
        fields = image if isinstance(image, dict) else {}
        url, detail = fields.get("url"), fields.get("detail")
        if not isinstance(url, str) or not url.startswith(_IMAGE_SOURCES):
            raise _refuse("image_url.url must be a base64 data URI or a web URL")
        if detail is not None and detail not in _DETAILS:
            raise _refuse(f"image_url.detail must be auto, low or high, got {detail!r}")
    return len(images)


def _thinking(body: Mapping[str, Any]) -> bool:
    """Whether ``thinking`` turns thinking on (Cohere's default is off here, for a short reply)."""
    thinking = body.get("thinking")
    if thinking is None:
        return False
    fields: Mapping[str, Any] = thinking if isinstance(thinking, dict) else {}
    kind, budget = fields.get("type"), fields.get("token_budget")
    if kind not in ("enabled", "disabled"):
        raise _refuse("thinking.type must be enabled or disabled")
    if budget is not None and (not isinstance(budget, int) or budget <= 0):
        raise _refuse("thinking.token_budget must be a positive integer")
    return bool(kind == "enabled")

"""Validation of a chat request's ``messages``: text and image parts, tool calls and results.

OpenAI's message shapes are the gateway's own. Every part the gateway cannot carry is a
400 naming it (an audio or file part, a custom tool call), never a part silently left
out; message fields Cortex does not carry are returned by name, so the answer declares
them dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex.chat import ROLES, ImagePart, Message, Part, TextPart, ToolCall
from cortex.errors import BadRequest

IMAGE_DETAILS = frozenset({"auto", "low", "high", "original"})
_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
# Sent back by SDKs in assistant history, always null or empty: nothing is lost.
_EMPTY_FIELDS = frozenset({"refusal", "audio", "function_call", "annotations"})


def invalid_message(where: str, problem: str) -> BadRequest:
    """A 400 about one message field."""
    return BadRequest(f"'{where}' {problem}", code="invalid_messages")


def read_messages(value: object, limit: int | None) -> tuple[tuple[Message, ...], tuple[str, ...]]:
    """The validated conversation, and the message fields Cortex does not carry.

    Raises:
        BadRequest: naming the first invalid message field.
    """
    if not isinstance(value, list) or not value:
        raise BadRequest("'messages' must be a non-empty array", code="invalid_messages")
    if limit is not None and len(value) > limit:
        raise BadRequest(
            f"a request may carry at most {limit} messages, got {len(value)}",
            code="too_many_messages",
        )
    messages = []
    ignored: dict[str, None] = {}
    for index, item in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"'{where}' must be an object", code="invalid_messages")
        messages.append(_message(item, where))
        for name in item:
            if name not in _MESSAGE_FIELDS and not (name in _EMPTY_FIELDS and not item[name]):
                ignored[f"messages[].{name}"] = None
    return tuple(messages), tuple(ignored)


def _message(item: Mapping[str, Any], where: str) -> Message:
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        allowed = ", ".join(sorted(ROLES))
        raise invalid_message(f"{where}.role", f"must be one of {allowed}")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise invalid_message(f"{where}.name", "must be a string")
    tool_calls = _tool_calls(item.get("tool_calls"), where) if role == "assistant" else ()
    if role != "assistant" and item.get("tool_calls"):
        raise invalid_message(f"{where}.tool_calls", "are allowed on assistant messages only")
    tool_call_id = item.get("tool_call_id")
    if role == "tool" and not (isinstance(tool_call_id, str) and tool_call_id):
        raise invalid_message(f"{where}.tool_call_id", "must name the call a tool message answers")
    content = item.get("content")
    text, parts = "", tuple[Part, ...]()
    if content is not None or role != "assistant":
        text, parts = _content(content, where, images=role == "user")
    return Message(
        role=role,
        content=text,
        parts=parts,
        tool_calls=tool_calls,
        tool_call_id=tool_call_id if role == "tool" else None,
        name=name,
    )


def _content(value: object, where: str, *, images: bool) -> tuple[str, tuple[Part, ...]]:
    """The text, and the parts in order when images are among them."""
    if isinstance(value, str):
        return value, ()
    if not isinstance(value, list):
        raise invalid_message(f"{where}.content", "must be a string or an array of content parts")
    parts: list[Part] = []
    for number, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part, dict):
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid_message(f"{where}.content[{number}].text", "must be a string")
            parts.append(TextPart(text))
        elif kind == "image_url" and isinstance(part, dict) and images:
            parts.append(_image(part.get("image_url"), f"{where}.content[{number}]"))
        else:
            allowed = "text and image_url parts" if images else "text parts"
            raise invalid_message(
                f"{where}.content", f"supports {allowed}; part {number} is {_part_kind(part)}"
            )
    text = "".join(part.text for part in parts if isinstance(part, TextPart))
    has_images = any(isinstance(part, ImagePart) for part in parts)
    return text, tuple(parts) if has_images else ()


def _image(value: object, where: str) -> ImagePart:
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        raise invalid_message(f"{where}.image_url", "must be an object with a 'url'")
    url, detail = value.get("url"), value.get("detail")
    if not isinstance(url, str) or not url.startswith(("data:", "http://", "https://")):
        raise invalid_message(f"{where}.image_url.url", "must be a data: URL or an http(s) URL")
    if url.startswith("data:") and ImagePart(url).inline() is None:
        raise invalid_message(f"{where}.image_url.url", "must be a base64 data: URL")
    if detail is not None and detail not in IMAGE_DETAILS:
        allowed = ", ".join(sorted(IMAGE_DETAILS))
        raise invalid_message(f"{where}.image_url.detail", f"must be one of {allowed}")
    return ImagePart(url, detail)


def _tool_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_message(f"{where}.tool_calls", "must be an array")
    calls = []
    for number, call in enumerate(value):
        at = f"{where}.tool_calls[{number}]"
        if not isinstance(call, dict) or call.get("type", "function") != "function":
            raise invalid_message(at, "must be a function call (custom tool calls are refused)")
        function = call.get("function")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid_message(f"{at}.id", "must be a non-empty string")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid_message(f"{at}.function.name", "must be a string")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            raise invalid_message(f"{at}.function.arguments", "must be a JSON string")
        calls.append(ToolCall(call_id, function["name"], arguments))
    return tuple(calls)


def _part_kind(part: object) -> str:
    """Name an unsupported content part for the error: its ``type``, else its JSON kind."""
    if isinstance(part, dict):
        kind = part.get("type")
        return f"of type {kind!r}" if isinstance(kind, str) else "an object without a 'type'"
    return f"a {_JSON_KINDS.get(type(part), type(part).__name__)}"


_JSON_KINDS: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    list: "array",
    type(None): "null",
}

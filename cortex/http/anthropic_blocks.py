"""Anthropic Messages content, read into chat messages: system, turns and their blocks.

Part of :mod:`cortex.http.anthropic_schema`. A user turn's ``tool_result`` blocks become
``tool`` messages (before the turn's own text and images, the order Anthropic requires);
an assistant turn's ``tool_use`` blocks become its tool calls. What only Anthropic can read
(documents, file images, images in a tool result) and what only tunes the answer
(``cache_control``, thinking sent back, ``is_error``) is noted in the :class:`Reading`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cortex.chat import ImagePart, Message, Part, TextPart, ToolCall
from cortex.errors import BadRequest
from cortex.http.option_schema import invalid

BLOCK_FIELDS = {
    "text": frozenset({"type", "text"}),
    "image": frozenset({"type", "source"}),
    "tool_use": frozenset({"type", "id", "name", "input"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error"}),
}
"""The fields of each block type Cortex reads; any other field set is declared dropped."""


class Reading:
    """What one body's reading collects besides the request: what is dropped or unmet."""

    def __init__(self) -> None:
        self.dropped: dict[str, None] = {}
        self.unmet: dict[str, None] = {}

    def drop(self, name: str) -> None:
        """Note a field that other wires leave out (it only tunes the answer)."""
        self.dropped[name] = None

    def only_anthropic(self, what: str) -> None:
        """Note content only Anthropic can serve: unmet for every other wire."""
        self.unmet[what] = None


def read_system(value: object, reading: Reading) -> list[Message]:
    """``system``, a string or text blocks, as one system message (none when empty).

    Raises:
        BadRequest: neither a string nor text blocks.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", value)] if value else []
    if not isinstance(value, list):
        raise invalid("system", "must be a string or an array of text blocks")
    texts = []
    for number, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise invalid(f"system[{number}]", "must be a text block")
        if not isinstance(block.get("text"), str):
            raise invalid(f"system[{number}].text", "must be a string")
        texts.append(block["text"])
        drop_extra_fields(block, "system[]", frozenset({"type", "text"}), reading)
    return [Message("system", "\n\n".join(texts))] if texts else []


def drop_extra_fields(
    block: Mapping[str, Any], where: str, kept: frozenset[str], reading: Reading
) -> None:
    """Declare dropped every field of ``block`` set beyond ``kept`` (``cache_control``, ...)."""
    for name, value in block.items():
        if name not in kept and value is not None:
            reading.drop(f"{where}.{name}")


def read_conversation(value: object, limit: int | None, reading: Reading) -> list[Message]:
    """``messages`` as chat messages; ``limit`` is ``CORTEX_MAX_MESSAGES``.

    Raises:
        BadRequest: naming the first invalid turn or block, or too many turns.
    """
    if not isinstance(value, list) or not value:
        raise invalid("messages", "is required and must be a non-empty array")
    if limit is not None and len(value) > limit:
        raise BadRequest(
            f"a request may carry at most {limit} messages, got {len(value)}",
            code="too_many_messages",
        )
    messages: list[Message] = []
    for index, item in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            raise invalid(f"{where}.role", "must be 'user' or 'assistant'")
        content = item.get("content")
        if isinstance(content, str):
            messages.append(Message(item["role"], content))
            continue
        if not isinstance(content, list):
            raise invalid(f"{where}.content", "must be a string or an array of content blocks")
        read = _user_turn if item["role"] == "user" else _assistant_turn
        messages.extend(read(content, where, reading))
    return messages


def _block_type(block: object, where: str) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise invalid(where, "must be a content block with a 'type'")
    return kind


def _text(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise invalid(f"{where}.text", "must be a string")
    return text


def _user_turn(blocks: list[Any], where: str, reading: Reading) -> list[Message]:
    """One user turn: its tool results (each a ``tool`` message), then its text and images."""
    results: list[Message] = []
    parts: list[Part] = []
    for number, block in enumerate(blocks):
        at = f"{where}.content[{number}]"
        kind = _block_type(block, at)
        if kind == "text":
            parts.append(TextPart(_text(block, at)))
        elif kind == "image":
            image = _image(block.get("source"), f"{at}.source", reading)
            if image is not None:
                parts.append(image)
        elif kind == "tool_result":
            results.append(_tool_result(block, at, reading))
        else:
            reading.only_anthropic(f"{kind} blocks")
            continue
        drop_extra_fields(block, "messages[].content[]", BLOCK_FIELDS[kind], reading)
    out = results
    if parts:
        text = "".join(part.text for part in parts if isinstance(part, TextPart))
        images = any(isinstance(part, ImagePart) for part in parts)
        out.append(Message("user", text, tuple(parts) if images else ()))
    return out


def _assistant_turn(blocks: list[Any], where: str, reading: Reading) -> list[Message]:
    """One assistant turn: its text and its tool calls; thinking is Anthropic's own."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for number, block in enumerate(blocks):
        at = f"{where}.content[{number}]"
        kind = _block_type(block, at)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            calls.append(_tool_use(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            # Signed for Anthropic alone; another model reads the conversation without it.
            reading.drop(f"messages[].content[].{kind}")
            continue
        else:
            reading.only_anthropic(f"{kind} blocks")
            continue
        drop_extra_fields(block, "messages[].content[]", BLOCK_FIELDS[kind], reading)
    return [Message("assistant", "".join(texts), tool_calls=tuple(calls))]


def _tool_use(block: Mapping[str, Any], where: str) -> ToolCall:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.id", "must be a non-empty string")
    if not isinstance(name, str) or not name:
        raise invalid(f"{where}.name", "must be a non-empty string")
    if not isinstance(arguments, dict):
        raise invalid(f"{where}.input", "must be an object")
    return ToolCall(call_id, name, json.dumps(arguments, ensure_ascii=False))


def _tool_result(block: Mapping[str, Any], where: str, reading: Reading) -> Message:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.tool_use_id", "must be a non-empty string")
    if block.get("is_error") is not None:
        if not isinstance(block["is_error"], bool):
            raise invalid(f"{where}.is_error", "must be a boolean")
        if block["is_error"]:
            reading.drop("messages[].content[].is_error")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return Message("tool", content or "", tool_call_id=call_id)
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "must be a string or an array of blocks")
    texts = []
    for number, inner in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = _block_type(inner, at)
        if kind == "text":
            texts.append(_text(inner, at))
        else:
            reading.only_anthropic(f"{kind} blocks in a tool_result")
    return Message("tool", "".join(texts), tool_call_id=call_id)


def _image(source: object, where: str, reading: Reading) -> ImagePart | None:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str) or not data:
            raise invalid(where, "must have a 'media_type' and base64 'data'")
        return ImagePart(f"data:{media};base64,{data}")
    if kind == "url" and isinstance(source, dict):
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise invalid(f"{where}.url", "must be an http(s) URL")
        return ImagePart(url)
    if isinstance(kind, str):
        reading.only_anthropic(f"images with a {kind} source")
        return None
    raise invalid(where, "must be a base64, url or file image source")

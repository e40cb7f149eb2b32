"""The simulated Anthropic API's tools, images, structured output and thinking.

Reads what a Messages request asks beyond text (``tools``, ``tool_choice``, the
``tool_result`` blocks answering the last calls, ``output_config.format``, ``image``
blocks, ``thinking``) into an :class:`AnthropicCall`, refusing with a 400 what the real API
refuses (WIRE_FORMATS_TOOLS.md sections 1.2, 3.2, 5, 6.1): a tool without an object
schema, thinking with a forced tool choice or a temperature other than 1, a budget under
1024 or not below ``max_tokens``, a tool loop whose last assistant turn does not start
with its thinking, a result without its call, an image of another media type. Renders
the answer's blocks: ``thinking`` first when asked for, then ``tool_use`` blocks (ids
``toolu_…``) or the text, whole or as the stream's block events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cortex.simulated.content import (
    ChatCall,
    Completion,
    ToolOffer,
    count_words,
    read_messages,
    text_of,
)
from cortex.simulated.faults import ErrorKind
from cortex.simulated.wire import ReplyError, typed_event

__all__ = ["AnthropicCall", "block_frames", "read_call", "whole_blocks"]

MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_MODES = {"auto": "auto", "any": "required", "tool": "required", "none": "none"}
_MIN_BUDGET = 1024
_SIGNATURE = "EqQBCkYIBhgCIkBzaW11bGF0ZWQ="
_FRAGMENT = 12  # characters of tool input per input_json_delta


@dataclass(frozen=True, slots=True)
class AnthropicCall(ChatCall):
    """A :class:`ChatCall` that also knows whether thinking was asked for."""

    thinking: bool = False


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _obj(value: Mapping[str, Any], key: str) -> dict[str, Any]:
    found = value.get(key)
    return found if isinstance(found, dict) else {}


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _dicts(message.get("content"))


def read_call(body: Mapping[str, Any], model: str, max_tokens: int) -> AnthropicCall:
    """The call a checked Messages request body makes.

    Raises:
        ReplyError: BAD_REQUEST for what the real API refuses.
    """
    messages = _dicts(body.get("messages"))
    tools = _read_tools(body.get("tools"))
    choice = _obj(body, "tool_choice")
    kind = str(choice.get("type", "auto"))
    if kind not in _MODES:
        raise ReplyError(ErrorKind.BAD_REQUEST, f"tool_choice.type: unknown type {kind!r}")
    forced = choice.get("name") if kind == "tool" else None
    if forced is not None and forced not in {name for name, _ in tools}:
        raise ReplyError(ErrorKind.BAD_REQUEST, f"tool_choice: tool {forced!r} not in tools")
    thinking = _check_thinking(body, kind, messages)
    _check_pairs(messages)
    format_ = _obj(_obj(body, "output_config"), "format")
    schema = format_.get("schema") if format_.get("type") == "json_schema" else None
    _, prompt_tokens = read_messages(messages)
    return AnthropicCall(
        model=model,
        prompt=_prompt(messages),
        prompt_tokens=prompt_tokens + count_words([text_of(body.get("system"))]),
        stream=bool(body.get("stream")),
        max_tokens=max_tokens,
        offer=ToolOffer(tools, _MODES[kind], forced, _results(messages)),
        json_schema=schema if isinstance(schema, dict) else None,
        images=_count_images(messages),
        thinking=thinking,
    )


def _read_tools(value: object) -> tuple[tuple[str, Mapping[str, Any] | None], ...]:
    tools = []
    for position, tool in enumerate(_dicts(value)):
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise ReplyError(ErrorKind.BAD_REQUEST, f"tools.{position}.name: Field required")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            detail = f"tools.{position}.input_schema.type: Input should be 'object'"
            raise ReplyError(ErrorKind.BAD_REQUEST, detail)
        tools.append((name, schema))
    return tuple(tools)


def _check_thinking(body: Mapping[str, Any], choice: str, messages: list[dict[str, Any]]) -> bool:
    thinking = _obj(body, "thinking")
    if thinking.get("type") != "enabled":
        return False
    budget, max_tokens = thinking.get("budget_tokens"), body.get("max_tokens")
    if not isinstance(budget, int) or budget < _MIN_BUDGET:
        detail = "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        raise ReplyError(ErrorKind.BAD_REQUEST, detail)
    if not isinstance(max_tokens, int) or max_tokens <= budget:
        detail = "`max_tokens` must be greater than `thinking.budget_tokens`"
        raise ReplyError(ErrorKind.BAD_REQUEST, detail)
    if choice in ("any", "tool"):
        detail = "Thinking may not be enabled when tool_choice forces tool use."
        raise ReplyError(ErrorKind.BAD_REQUEST, detail)
    if body.get("temperature") not in (None, 1, 1.0) or body.get("top_k") is not None:
        detail = "temperature may only be set to 1 when thinking is enabled, top_k not at all"
        raise ReplyError(ErrorKind.BAD_REQUEST, detail)
    answers = [m for m in messages if m.get("role") == "assistant"]
    last = _blocks(answers[-1]) if answers else []
    if any(b.get("type") == "tool_use" for b in last) and last[0].get("type") != "thinking":
        detail = (
            "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When "
            "`thinking` is enabled, a final `assistant` message must start with a thinking block"
        )
        raise ReplyError(ErrorKind.BAD_REQUEST, detail)
    return True


def _check_pairs(messages: list[dict[str, Any]]) -> None:
    """Every call is answered in the next message; every result answers a call before it."""
    calls: set[str] = set()
    for position, message in enumerate(messages):
        blocks = _blocks(message)
        results = {str(b.get("tool_use_id")) for b in blocks if b.get("type") == "tool_result"}
        if results - calls:
            detail = (
                f"messages.{position}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{', '.join(sorted(results - calls))}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
            raise ReplyError(ErrorKind.BAD_REQUEST, detail)
        if calls - results and message.get("role") == "user":
            detail = (
                "`tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(sorted(calls - results))}"
            )
            raise ReplyError(ErrorKind.BAD_REQUEST, detail)
        calls = {str(b.get("id")) for b in blocks if b.get("type") == "tool_use"}
        for block in blocks:
            _check_image(block, position)


def _check_image(block: Mapping[str, Any], position: int) -> None:
    if block.get("type") != "image":
        return
    source = _obj(block, "source")
    where = f"messages.{position}.content.image.source"
    if source.get("type") == "base64":
        if source.get("media_type") not in MEDIA_TYPES or not source.get("data"):
            detail = f"{where}.base64.media_type: Input should be {', '.join(sorted(MEDIA_TYPES))}"
            raise ReplyError(ErrorKind.BAD_REQUEST, detail)
    elif source.get("type") != "url" or not str(source.get("url", "")).startswith("http"):
        raise ReplyError(ErrorKind.BAD_REQUEST, f"{where}: expected a base64 or url source")


def _prompt(messages: list[dict[str, Any]]) -> str:
    """The last user text; a message holding only tool results has none."""
    texts = (text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user")
    return next((text for text in texts if text.strip()), "")


def _results(messages: list[dict[str, Any]]) -> tuple[str, ...]:
    """The tool results in the user turns after the last assistant turn."""
    tail: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message.get("role") != "user":
            break
        tail.insert(0, message)
    return tuple(
        text_of(block.get("content"))
        for message in tail
        for block in _blocks(message)
        if block.get("type") == "tool_result"
    )


def _count_images(messages: list[dict[str, Any]]) -> int:
    return sum(
        1 for message in messages for block in _blocks(message) if block.get("type") == "image"
    )


def _reasoning(call: ChatCall) -> str:
    return f"The user wrote: {' '.join(call.prompt.split()[:6])}" if call.prompt else "Thinking."


def whole_blocks(call: ChatCall, completion: Completion) -> list[dict[str, Any]]:
    """The ``content`` of a non-streamed answer."""
    blocks: list[dict[str, Any]] = []
    if isinstance(call, AnthropicCall) and call.thinking:
        thinking = {"type": "thinking", "thinking": _reasoning(call), "signature": _SIGNATURE}
        blocks.append(thinking)
    for made in completion.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": made.id,
                "name": made.name,
                "input": made.arguments,
            }
        )
    if not completion.tool_calls:
        blocks.append({"type": "text", "text": completion.text})
    return blocks


def _event(kind: str, index: int, **fields: Any) -> bytes:  # noqa: ANN401 - JSON values
    return typed_event({"type": kind, "index": index, **fields})


def _delta(index: int, **delta: Any) -> bytes:  # noqa: ANN401 - JSON values
    return _event("content_block_delta", index, delta=delta)


def block_frames(
    call: ChatCall, completion: Completion
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """The stream's block events: ``(before the pieces, the pieces, after them)``.

    Thinking comes whole first (deltas, then one ``signature_delta``). A text answer
    opens its block before the pieces, which are its deltas, and closes it after. Tool
    calls are the pieces: each block's start, an empty first ``input_json_delta`` as real
    streams send, the input in fragments, and its stop.
    """
    head: list[bytes] = []
    index = 0
    if isinstance(call, AnthropicCall) and call.thinking:
        words = _reasoning(call).split(" ")
        head.append(_event("content_block_start", 0, content_block=_empty_thinking()))
        head.extend(_delta(0, type="thinking_delta", thinking=w + " ") for w in words[:-1])
        head.append(_delta(0, type="thinking_delta", thinking=words[-1]))
        head.append(_delta(0, type="signature_delta", signature=_SIGNATURE))
        head.append(_event("content_block_stop", 0))
        index = 1
    if not completion.tool_calls:
        head.append(
            _event("content_block_start", index, content_block={"type": "text", "text": ""})
        )
        pieces = [_delta(index, type="text_delta", text=piece) for piece in completion.pieces]
        return head, pieces, [_event("content_block_stop", index)]
    pieces = []
    for offset, made in enumerate(completion.tool_calls):
        at = index + offset
        block = {"type": "tool_use", "id": made.id, "name": made.name, "input": {}}
        pieces.append(_event("content_block_start", at, content_block=block))
        pieces.append(_delta(at, type="input_json_delta", partial_json=""))
        text = json.dumps(made.arguments, separators=(",", ":")) if made.arguments else ""
        pieces.extend(
            _delta(at, type="input_json_delta", partial_json=text[i : i + _FRAGMENT])
            for i in range(0, len(text), _FRAGMENT)
        )
        pieces.append(_event("content_block_stop", at))
    return head, pieces, []


def _empty_thinking() -> dict[str, str]:
    return {"type": "thinking", "thinking": "", "signature": ""}

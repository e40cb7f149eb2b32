"""Anthropic's side of tools, images, structured output and reasoning, both ways.

Requests (WIRE_FORMATS_TOOLS.md sections 1.2, 1.6, 3.2, 4.2, 5, 6.1): tools take their
schema as ``input_schema``; ``tool_choice`` follows table 1.6, ``parallel_tool_calls:
false`` becoming ``disable_parallel_tool_use``; an assistant's calls become ``tool_use``
blocks (arguments parsed to objects) and a run of ``tool`` messages one user message of
``tool_result`` blocks, which takes in the user text that follows; images become ``image``
blocks; a JSON schema becomes ``output_config.format``; ``reasoning_effort`` a thinking
budget.

JSON mode has no native form, so it is asked for with the forced-tool technique: the
model must call the reserved tool :data:`JSON_TOOL`, whose input is the answer.
The decoder (:mod:`cortex.providers.anthropic_blocks`) recognises the name in every
answer (no request state needed), so the client sees JSON text and finish ``stop``, never
the tool.

Manual thinking refuses forced tool use, and in a tool loop it wants the last assistant
turn's thinking blocks back, which an OpenAI client never keeps; either way thinking stays
off and ``reasoning_effort`` is reported dropped. With thinking on, the API takes no
temperature but 1, no ``top_k`` and no ``top_p`` below 0.95: those are dropped too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cortex.chat import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolChoice,
)
from cortex.providers.payload import JsonObject

JSON_TOOL = "cortex_json_response"
"""The reserved tool that carries a JSON-mode answer; never shown to the client."""
_JSON_TOOL_JSON = {
    "name": JSON_TOOL,
    "description": "Give the whole answer as a JSON object.",
    "input_schema": {"type": "object"},
}
_NO_PARAMETERS = {"type": "object", "properties": {}}
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
"""Thinking tokens per ``reasoning_effort``; ``minimal`` asks for no thinking at all."""
MAX_TEMPERATURE = 1.0  # Anthropic's range is 0..1; OpenAI's (what clients send) is 0..2
_THINKING_TOP_P = 0.95  # the lowest top_p the API takes with thinking on
_CHOICE = {"auto": "auto", "none": "none", "required": "any"}
WHY_DROPPED = {
    "temperature": "above Anthropic's maximum of 1, or not 1 with thinking on",
    "top_p": "Claude models take temperature or top_p, not both, and with thinking on >= 0.95",
    "top_k": "not taken with thinking on",
    "reasoning_effort": "thinking cannot go with a forced tool or inside a tool loop",
    "image_url.detail": "Anthropic sizes images itself",
}
"""Why :func:`shaping` leaves each field out, for the debug log."""
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@dataclass(frozen=True, slots=True)
class Shaping:
    """What the wire makes of a request's tuning, decided once for ``fit`` and the call.

    Attributes:
        thinking: the thinking budget in tokens; None leaves thinking off.
        sampling: ``temperature``, ``top_p`` and ``top_k`` as sent.
        dropped: the request fields left out.
    """

    thinking: int | None
    sampling: dict[str, object]
    dropped: tuple[str, ...]


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_id(call_id: str) -> str:
    """A call id as Anthropic accepts it (``^[a-zA-Z0-9_-]{1,64}$``).

    A conversation may have begun on another provider whose ids Anthropic refuses (Gemini
    ids carry a thought signature); the same mapping of a call and of its result keeps
    them paired.
    """
    return _ID_UNSAFE.sub("_", call_id)[:64] or "call"


def shaping(request: ChatRequest) -> Shaping:
    """Decide thinking and sampling together, since thinking limits sampling."""
    budget = THINKING_BUDGETS.get(request.reasoning_effort or "")
    dropped: list[str] = []
    if budget is not None and (forces_tool(request) or _in_tool_loop(request.messages)):
        budget = None
        dropped.append("reasoning_effort")
    thinking = budget is not None
    temperature, top_p = request.temperature, request.top_p
    top_k = request.options.get("top_k")
    if temperature is not None and (
        temperature > MAX_TEMPERATURE or (thinking and temperature != MAX_TEMPERATURE)
    ):
        temperature = None
        dropped.append("temperature")
    # Current Claude models take temperature or top_p, not both: top_p yields.
    if top_p is not None and (temperature is not None or (thinking and top_p < _THINKING_TOP_P)):
        top_p = None
        dropped.append("top_p")
    if top_k is not None and thinking:
        top_k = None
        dropped.append("top_k")
    if any(image.detail not in (None, "auto") for image in _images(request.messages)):
        dropped.append("image_url.detail")  # Anthropic scales images itself
    sampling = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
    kept = {key: value for key, value in sampling.items() if value is not None}
    return Shaping(budget, kept, tuple(dropped))


def forces_tool(request: ChatRequest) -> bool:
    """Whether the call makes the model use a tool (``any`` or a named one)."""
    if request.response_format is not None and request.response_format.type == "json_object":
        return True
    choice = request.tool_choice
    return request.calls_tools and choice is not None and choice.mode == "required"


def _in_tool_loop(messages: Sequence[Message]) -> bool:
    """Whether the last assistant turn called tools, so its thinking would be due back."""
    answers = [message for message in messages if message.role == "assistant"]
    return bool(answers and answers[-1].tool_calls)


def _images(messages: Sequence[Message]) -> list[ImagePart]:
    return [image for message in messages for image in message.images]


def refused_image(image: ImagePart) -> str | None:
    """Why Anthropic cannot take ``image``, or None when it can."""
    inline = image.inline()
    if inline is not None:
        media = inline[0]
        if media in MEDIA_TYPES:
            return None
        return f"Anthropic takes image/jpeg, png, gif or webp images, not {media}"
    if image.url.startswith(("https://", "http://")):
        return None
    return "Anthropic takes images as base64 data: URLs or http(s) URLs"


def refuses_images(request: ChatRequest) -> bool:
    """Whether any image of ``request`` is one Anthropic cannot take."""
    return any(refused_image(image) for image in _images(request.messages))


def image_block(image: ImagePart) -> JsonObject:
    """An ``image`` block: a base64 source for a ``data:`` URL, a url source otherwise.

    Raises:
        ValueError: a media type outside jpeg/png/gif/webp, or neither kind of URL.
    """
    reason = refused_image(image)
    if reason is not None:
        raise ValueError(reason)
    inline = image.inline()
    if inline is None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    media, data = inline
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


def messages_json(messages: Sequence[Message]) -> list[JsonObject]:
    """The conversation (without system turns) as Anthropic messages.

    Raises:
        ValueError: tool-call arguments that are not a JSON object, or a refused image.
    """
    out: list[JsonObject] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        content = _content(message)
        last = out[-1] if out else None
        if role == "user" and last is not None and _holds_results(last):
            # All results of one turn, and what the user adds, go in one user message.
            last["content"].extend(_blocks(content))
        else:
            out.append({"role": role, "content": content})
    return out


def _content(message: Message) -> str | list[JsonObject]:
    if message.role == "tool":
        result: JsonObject = {
            "type": "tool_result",
            "tool_use_id": tool_id(message.tool_call_id or ""),
        }
        if message.content:
            result["content"] = message.content
        return [result]
    if message.tool_calls:
        calls = [
            {
                "type": "tool_use",
                "id": tool_id(call.id),
                "name": call.name,
                "input": call.parsed_arguments(),
            }
            for call in message.tool_calls
        ]
        return [*_blocks(message.content), *calls]
    if message.parts:
        return [
            image_block(part) if isinstance(part, ImagePart) else _text(part)
            for part in message.parts
            if not (isinstance(part, TextPart) and not part.text)
        ]
    return message.content


def _text(part: TextPart) -> JsonObject:
    return {"type": "text", "text": part.text}


def _blocks(content: str | list[JsonObject]) -> list[JsonObject]:
    """Content as a list of blocks; empty text becomes no block (the API refuses it)."""
    if isinstance(content, list):
        return content
    return [_text(TextPart(content))] if content else []


def _holds_results(message: JsonObject) -> bool:
    content = message["content"]
    return (
        message["role"] == "user"
        and isinstance(content, list)
        and bool(content)
        and content[0].get("type") == "tool_result"
    )


def tool_json(tool: Tool) -> JsonObject:
    """A tool definition; one without parameters takes an empty object."""
    out: JsonObject = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    schema = dict(tool.parameters) if tool.parameters is not None else dict(_NO_PARAMETERS)
    out["input_schema"] = {"type": "object", **schema}  # the root must be an object
    if tool.strict is not None:
        out["strict"] = tool.strict
    return out


def tool_choice_json(choice: ToolChoice, parallel: bool | None) -> JsonObject:
    """``tool_choice`` by table 1.6; ``parallel=False`` disables parallel use."""
    out: JsonObject = (
        {"type": "tool", "name": choice.name}
        if choice.name is not None
        else {"type": _CHOICE.get(choice.mode, "auto")}
    )
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def tool_fields(request: ChatRequest) -> JsonObject:
    """``tools`` and ``tool_choice``, with the reserved JSON tool in JSON mode.

    In JSON mode the model must answer through the JSON tool, unless the client forces a
    tool of its own (the answer is then that call). With tools of the client's on
    ``auto`` it must call one of them or the JSON tool (``any``); one call at most, so
    the answer is either calls or one JSON object.
    """
    tools = [tool_json(tool) for tool in request.tools]
    choice = request.tool_choice or ToolChoice("auto")
    format_ = request.response_format
    own_forced = bool(tools) and choice.mode == "required"
    if format_ is not None and format_.type == "json_object" and not own_forced:
        callable_ = bool(tools) and choice.mode == "auto"
        forced: JsonObject = {"type": "any"} if callable_ else {"type": "tool", "name": JSON_TOOL}
        forced["disable_parallel_tool_use"] = True
        return {"tools": [*tools, dict(_JSON_TOOL_JSON)], "tool_choice": forced}
    if not tools:
        return {}
    return {"tools": tools, "tool_choice": tool_choice_json(choice, request.parallel_tool_calls)}


def output_fields(request: ChatRequest) -> JsonObject:
    """``output_config.format`` for a JSON schema (JSON mode is a tool, see above)."""
    format_ = request.response_format
    if format_ is None or format_.type != "json_schema":
        return {}
    schema = dict(format_.schema) if format_.schema is not None else {"type": "object"}
    return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}

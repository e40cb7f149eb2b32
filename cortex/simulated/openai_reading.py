"""How a simulated provider reads the OpenAI-shaped parts of a request.

OpenAI's Chat Completions, and the providers that copy its shapes (Cohere v2's tools and
tool messages, Ollama's tools), carry tools, tool choice, tool results, structured-output
formats and image parts the same way; these readers turn them into the fake model's
:class:`~cortex.simulated.content.ToolOffer` and format settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cortex.simulated.content import ToolOffer, text_of

__all__ = ["count_image_parts", "openai_format", "openai_offer", "results_after_last_user"]


def openai_offer(body: Mapping[str, Any], *, choice: object = None) -> ToolOffer:
    """The tools of an OpenAI-shaped body, its tool choice and the results of earlier calls.

    ``choice`` overrides ``body["tool_choice"]`` for providers that spell it their own way.
    """
    tools = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            tools.append((function["name"], parameters if isinstance(parameters, dict) else None))
    raw = body.get("tool_choice") if choice is None else choice
    mode, forced = "auto", None
    if isinstance(raw, str):
        mode = {"none": "none", "required": "required", "any": "required"}.get(raw.lower(), "auto")
    elif isinstance(raw, dict):
        function = raw.get("function")
        name = function.get("name") if isinstance(function, dict) else raw.get("name")
        mode, forced = "required", name if isinstance(name, str) else None
    results = results_after_last_user(body.get("messages"), result_role="tool")
    return ToolOffer(tuple(tools), mode, forced, results)


def results_after_last_user(messages: object, *, result_role: str) -> tuple[str, ...]:
    """The texts of the ``result_role`` messages after the last user message."""
    if not isinstance(messages, list):
        return ()
    found: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            found = []
        elif message.get("role") == result_role:
            found.append(text_of(message.get("content")))
    return tuple(found)


def openai_format(format_: object) -> tuple[Mapping[str, Any] | None, bool]:
    """``(schema, json mode)`` of an OpenAI ``response_format``."""
    if not isinstance(format_, dict):
        return None, False
    if format_.get("type") == "json_schema":
        spec = format_.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return (schema if isinstance(schema, dict) else {"type": "object"}), True
    return None, format_.get("type") == "json_object"


def count_image_parts(messages: object, kinds: Sequence[str] = ("image_url",)) -> int:
    """How many content parts of the given types the messages hold."""
    if not isinstance(messages, list):
        return 0
    return sum(
        1
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") in kinds
    )

"""The Cohere Chat v2 request body: messages, tools, structured output, reasoning, options.

Cohere keeps OpenAI's message list and tool shapes, so most of it is
:mod:`cortex.providers.openai`'s translation with Cohere's differences applied:

- an assistant message that calls tools may not carry text (Cohere answers "text content
  is not allowed when tool_calls are provided"): that text is the model's plan before its
  calls, which Cohere keeps in ``tool_plan``;
- a tool needs ``parameters`` (an empty object schema when the client gave none), has no
  per-tool ``strict`` (one top-level ``strict_tools`` covers every tool) and messages have
  no ``name``;
- ``tool_choice`` is ``"REQUIRED"`` or ``"NONE"``, omitted for auto; a named function has
  no equivalent, so only that tool is sent, with ``"REQUIRED"``;
- structured output is ``{"type": "json_object", "json_schema"?: ...}``;
- reasoning is ``thinking: {"type": "enabled", "token_budget": N}``.
"""

from __future__ import annotations

from typing import Any

from cortex.chat import ChatRequest, Message, ResponseFormat, Tool
from cortex.providers.openai import message_json, tool_json

THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
"""Thinking tokens per ``reasoning_effort``; ``minimal`` turns thinking off."""

OPTION_FIELDS = {
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "top_k": "k",
}
"""The tuning options Cohere takes, by their OpenAI name, with their Cohere name."""


def cohere_message(message: Message) -> dict[str, Any]:
    """One message in Cohere's shape.

    Raises:
        ValueError: a tool call's arguments are not a JSON object.
    """
    out = message_json(message)
    out.pop("name", None)
    if message.role == "developer":
        out["role"] = "system"
    if message.tool_calls:
        for call, sent in zip(message.tool_calls, out["tool_calls"], strict=True):
            call.parsed_arguments()  # Cohere reads the text as a JSON object
            if not call.arguments.strip():
                sent["function"]["arguments"] = "{}"
        content = out.pop("content")
        if isinstance(content, str) and content.strip():
            out["tool_plan"] = content
    return out


def cohere_tool(tool: Tool) -> dict[str, Any]:
    """A function tool without OpenAI's per-tool ``strict``, ``parameters`` always present."""
    out = tool_json(tool)
    function = out["function"]
    function.pop("strict", None)
    if "parameters" not in function:  # required by Cohere: the schema of no arguments
        function["parameters"] = {"type": "object", "properties": {}}
    return out


def tool_fields(request: ChatRequest) -> dict[str, Any]:
    """``tools``, ``strict_tools`` and ``tool_choice`` for ``request`` (empty without tools).

    Raises:
        ValueError: ``tool_choice`` names a function that is not among the tools.
    """
    if not request.tools:
        return {}
    tools = request.tools
    choice = request.tool_choice
    fields: dict[str, Any] = {}
    if choice is not None and choice.name is not None:
        tools = tuple(tool for tool in tools if tool.name == choice.name)
        if not tools:
            raise ValueError(f"tool_choice names {choice.name!r}, which is not among the tools")
    fields["tools"] = [cohere_tool(tool) for tool in tools]
    if any(tool.strict for tool in tools):
        fields["strict_tools"] = True
    if choice is not None and choice.mode != "auto":
        fields["tool_choice"] = choice.mode.upper()
    return fields


def response_format_json(format_: ResponseFormat) -> dict[str, Any]:
    """JSON mode, held to the schema when there is one (Cohere needs no ``strict`` flag)."""
    out: dict[str, Any] = {"type": "json_object"}
    if format_.type == "json_schema" and format_.schema is not None:
        out["json_schema"] = format_.schema
    return out


def thinking_json(effort: str) -> dict[str, Any]:
    """``thinking`` for a ``reasoning_effort``: a token budget, or off for ``minimal``."""
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        return {"type": "disabled"}
    return {"type": "enabled", "token_budget": budget}


def request_fields(request: ChatRequest) -> dict[str, Any]:
    """Everything of the body after ``model``, ``messages`` and ``stream``, in wire order.

    Raises:
        ValueError: see :func:`tool_fields`.
    """
    fields: dict[str, Any] = {
        "temperature": request.temperature,
        "p": request.top_p,
        "max_tokens": request.max_tokens,
        "stop_sequences": list(request.stop) or None,
    }
    fields.update(tool_fields(request))
    if request.response_format is not None:
        fields["response_format"] = response_format_json(request.response_format)
    if request.reasoning_effort is not None:
        fields["thinking"] = thinking_json(request.reasoning_effort)
    for name, wire_name in OPTION_FIELDS.items():
        fields[wire_name] = request.options.get(name)
    return {key: value for key, value in fields.items() if value is not None}

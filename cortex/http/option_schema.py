"""Validation of a chat request's fields beyond messages and sampling basics.

Tools, tool choice, structured output, reasoning effort and OpenAI's tuning options are
checked here, each failure a 400 naming the field. What Cortex cannot carry at all (custom
tools, the deprecated ``functions``) is refused rather than dropped; fields Cortex does not
know are kept as they came, for OpenAI-type workers to receive unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from cortex.chat import ResponseFormat, Tool, ToolChoice
from cortex.errors import BadRequest
from cortex.providers.capabilities import TUNING_OPTIONS

MAX_TOOLS = 128
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_REFUSED = {
    "functions": "the deprecated 'functions' field is not supported; send 'tools'",
    "function_call": "the deprecated 'function_call' field is not supported; send 'tool_choice'",
}
KNOWN_FIELDS = frozenset(
    {
        "messages",
        "model",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "n",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "provider",
        "strategy",
        *TUNING_OPTIONS,
    }
)
"""Every top-level field Cortex reads; the others pass through to OpenAI-type workers."""


def invalid(field: str, problem: str) -> BadRequest:
    """A 400 about one request field."""
    return BadRequest(f"'{field}' {problem}", code="invalid_value")


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """Refuse fields no provider translation can carry.

    Raises:
        BadRequest: the body holds one of them.
    """
    for field, problem in _REFUSED.items():
        if body.get(field) is not None:
            raise BadRequest(problem, code="unsupported_parameter")


def read_tools(value: object) -> tuple[Tool, ...]:
    """The function tools a request offers.

    Raises:
        BadRequest: not a list of function tools with valid names (custom tools included).
    """
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise invalid("tools", f"must be an array of at most {MAX_TOOLS} tools")
    tools = []
    for number, item in enumerate(value):
        where = f"tools[{number}]"
        if not isinstance(item, dict) or item.get("type") != "function":
            raise BadRequest(
                f"'{where}' must be a function tool; custom tools are not supported",
                code="unsupported_parameter",
            )
        function = item.get("function")
        if not isinstance(function, dict):
            raise invalid(f"{where}.function", "must be an object")
        tools.append(read_tool(function, f"{where}.function", "parameters"))
    if len({tool.name for tool in tools}) < len(tools):
        raise invalid("tools", "must not name a function twice")
    return tuple(tools)


def read_tool(fields: Mapping[str, Any], where: str, schema_key: str) -> Tool:
    """One function tool: its name, description, schema (under ``schema_key``), strictness.

    OpenAI's ``function`` object and Anthropic's tool share these fields but the schema's
    name (``parameters``, ``input_schema``).

    Raises:
        BadRequest: naming the first field of the wrong type (or a name that is not 1-64
            letters, digits, ``_`` or ``-``).
    """
    name, description = fields.get("name"), fields.get("description")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise invalid(f"{where}.name", "must be 1-64 letters, digits, _ or -")
    if description is not None and not isinstance(description, str):
        raise invalid(f"{where}.description", "must be a string")
    parameters, strict = fields.get(schema_key), fields.get("strict")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid(f"{where}.{schema_key}", "must be a JSON Schema object")
    if strict is not None and not isinstance(strict, bool):
        raise invalid(f"{where}.strict", "must be a boolean")
    return Tool(name, description, parameters, strict)


def read_tool_choice(
    value: object, tools: tuple[Tool, ...]
) -> tuple[ToolChoice | None, tuple[Tool, ...]]:
    """The tool choice, and the tools it leaves offered (``allowed_tools`` narrows them).

    Raises:
        BadRequest: an unknown choice, a function that is not among the tools, or a
            choice that requires a call when no tools are offered.
    """
    if value is None:
        return None, tools
    if value in ("auto", "none", "required"):
        choice = ToolChoice(str(value))
    elif isinstance(value, dict) and value.get("type") == "function":
        choice = ToolChoice("required", _function_name(value.get("function"), tools))
    elif isinstance(value, dict) and value.get("type") == "allowed_tools":
        return _allowed_tools(value.get("allowed_tools"), tools)
    else:
        raise invalid(
            "tool_choice",
            "must be 'auto', 'none', 'required', a function or allowed_tools",
        )
    if choice.mode == "required" and not tools:
        raise invalid("tool_choice", "requires a tool call but the request offers no tools")
    return choice, tools


def _function_name(function: object, tools: tuple[Tool, ...]) -> str:
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or name not in {tool.name for tool in tools}:
        raise invalid("tool_choice.function.name", "must name one of the request's tools")
    return name


def _allowed_tools(value: object, tools: tuple[Tool, ...]) -> tuple[ToolChoice, tuple[Tool, ...]]:
    if not isinstance(value, dict) or value.get("mode") not in ("auto", "required"):
        raise invalid("tool_choice.allowed_tools", "must have mode 'auto' or 'required'")
    listed = value.get("tools")
    if not isinstance(listed, list) or not listed:
        raise invalid("tool_choice.allowed_tools.tools", "must be a non-empty array")
    names = {
        _function_name(item.get("function") if isinstance(item, dict) else None, tools)
        for item in listed
    }
    return ToolChoice(str(value["mode"])), tuple(tool for tool in tools if tool.name in names)


def read_response_format(value: object) -> ResponseFormat | None:
    """The structured-output format; None for free text.

    Raises:
        BadRequest: an unknown type, or a json_schema without a name and schema object.
    """
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema" or not isinstance(value, dict):
        raise invalid("response_format.type", "must be 'text', 'json_object' or 'json_schema'")
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise invalid("response_format.json_schema", "must be an object with a 'name'")
    schema, strict, description = spec.get("schema"), spec.get("strict"), spec.get("description")
    if schema is not None and not isinstance(schema, dict):
        raise invalid("response_format.json_schema.schema", "must be a JSON Schema object")
    if strict is not None and not isinstance(strict, bool):
        raise invalid("response_format.json_schema.strict", "must be a boolean")
    if description is not None and not isinstance(description, str):
        raise invalid("response_format.json_schema.description", "must be a string")
    return ResponseFormat("json_schema", schema, spec["name"], description, strict)


def read_reasoning_effort(value: object) -> str | None:
    """``reasoning_effort``, one of OpenAI's levels.

    Raises:
        BadRequest: not one of them.
    """
    if value is None or value in REASONING_EFFORTS:
        return value if isinstance(value, str) else None
    allowed = ", ".join(sorted(REASONING_EFFORTS))
    raise invalid("reasoning_effort", f"must be one of {allowed}")


def _number(low: float, high: float) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return not (isinstance(value, float) and not math.isfinite(value)) and low <= value <= high

    return check


def _integer(low: int, high: int) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    return check


def _bias(value: object) -> bool:
    check = _number(-100, 100)
    return isinstance(value, dict) and all(check(bias) for bias in value.values())


def _labels(value: object) -> bool:
    return (
        isinstance(value, dict)
        and len(value) <= 16
        and all(isinstance(item, str) for item in value.values())
    )


_OPTION_RULES: Mapping[str, tuple[Callable[[object], bool], str]] = {
    "seed": (_integer(-(2**63), 2**63 - 1), "must be an integer"),
    "presence_penalty": (_number(-2.0, 2.0), "must be a number between -2 and 2"),
    "frequency_penalty": (_number(-2.0, 2.0), "must be a number between -2 and 2"),
    "logit_bias": (_bias, "must map token ids to numbers between -100 and 100"),
    "logprobs": (lambda value: isinstance(value, bool), "must be a boolean"),
    "top_logprobs": (_integer(0, 20), "must be an integer between 0 and 20"),
    "user": (lambda value: isinstance(value, str), "must be a string"),
    "metadata": (_labels, "must be an object of at most 16 string values"),
    "service_tier": (lambda value: isinstance(value, str), "must be a string"),
    "store": (lambda value: isinstance(value, bool), "must be a boolean"),
    "top_k": (_integer(1, 1_000_000), "must be a positive integer"),
    "verbosity": (lambda value: value in ("low", "medium", "high"), "must be low, medium or high"),
    "modalities": (lambda value: isinstance(value, list), "must be an array"),
    "prediction": (lambda value: isinstance(value, dict), "must be an object"),
    "audio": (lambda value: isinstance(value, dict), "must be an object"),
    "web_search_options": (lambda value: isinstance(value, dict), "must be an object"),
}


def read_options(body: Mapping[str, Any]) -> dict[str, Any]:
    """The tuning options the body sets (``null`` counts as unset), each validated.

    Raises:
        BadRequest: naming the first option of the wrong type or range.
    """
    options = {}
    for name, (check, problem) in _OPTION_RULES.items():
        value = body.get(name)
        if value is None:
            continue
        if not check(value):
            raise invalid(name, problem)
        options[name] = value
    return options


def read_extra(body: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level fields Cortex does not know, as they came."""
    return {name: value for name, value in body.items() if name not in KNOWN_FIELDS}

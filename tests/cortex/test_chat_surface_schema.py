"""The whole Chat Completions request surface, parsed: every field kept, refused or named."""

from __future__ import annotations

from typing import Any

import pytest

from cortex.chat import ImagePart, ResponseFormat, TextPart, Tool, ToolCall, ToolChoice
from cortex.errors import BadRequest
from cortex.http.option_schema import _OPTION_RULES, KNOWN_FIELDS
from cortex.http.schemas import parse_chat
from cortex.providers.capabilities import TUNING_OPTIONS

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}
USER = {"role": "user", "content": "hi"}
DATA_URL = "data:image/png;base64,iVBORw0KGgo="


def parsed(**fields: Any) -> Any:
    body = {"messages": [USER], **fields}
    return parse_chat(body, default_stream=False).request


def refused(**fields: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parsed(**fields)
    return caught.value


def test_tools_are_read_with_their_schema_and_strictness() -> None:
    request = parsed(tools=[WEATHER, TIME])

    assert request.tools == (
        Tool("get_weather", "Weather", WEATHER["function"]["parameters"], True),  # type: ignore[index]
        Tool("get_time"),
    )
    assert request.calls_tools


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", ToolChoice("auto")),
        ("none", ToolChoice("none")),
        ("required", ToolChoice("required")),
        (
            {"type": "function", "function": {"name": "get_time"}},
            ToolChoice("required", "get_time"),
        ),
    ],
)
def test_every_tool_choice_is_read(choice: object, expected: ToolChoice) -> None:
    assert parsed(tools=[WEATHER, TIME], tool_choice=choice).tool_choice == expected


def test_tool_choice_none_turns_the_tools_off() -> None:
    assert not parsed(tools=[WEATHER], tool_choice="none").calls_tools


def test_allowed_tools_narrow_the_offered_tools() -> None:
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
        },
    }
    request = parsed(tools=[WEATHER, TIME], tool_choice=choice)

    assert (request.tool_choice, [t.name for t in request.tools]) == (
        ToolChoice("required"),
        ["get_time"],
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"tools": [{"type": "custom", "custom": {"name": "x"}}]},
            "custom tools are not supported",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].function.name",
        ),
        ({"tools": [WEATHER, WEATHER]}, "must not name a function twice"),
        ({"tools": [WEATHER], "tool_choice": "always"}, "'tool_choice' must be"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
            "must name one of the request's tools",
        ),
        ({"tool_choice": "required"}, "offers no tools"),
        ({"functions": [{"name": "f"}]}, "deprecated 'functions'"),
        ({"response_format": {"type": "yaml"}}, "'response_format.type'"),
        ({"response_format": {"type": "json_schema"}}, "'response_format.json_schema'"),
        ({"reasoning_effort": "extreme"}, "'reasoning_effort' must be one of"),
        ({"seed": "7"}, "'seed' must be an integer"),
        ({"presence_penalty": 3}, "'presence_penalty' must be a number between -2 and 2"),
        ({"logit_bias": {"1": 500}}, "'logit_bias'"),
        ({"top_logprobs": 30}, "'top_logprobs'"),
        ({"parallel_tool_calls": "no"}, "'parallel_tool_calls' must be of type boolean"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(fields: dict[str, Any], message: str) -> None:
    assert message in refused(**fields).message


def test_structured_output_formats_are_read() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    spec = {"name": "City", "schema": schema, "strict": True, "description": "A city"}

    assert parsed(response_format={"type": "text"}).response_format is None
    assert parsed(response_format={"type": "json_object"}).response_format == ResponseFormat(
        "json_object"
    )
    assert parsed(
        response_format={"type": "json_schema", "json_schema": spec}
    ).response_format == ResponseFormat("json_schema", schema, "City", "A city", True)


def test_images_keep_their_place_among_the_text_parts() -> None:
    content = [
        {"type": "text", "text": "first "},
        {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "high"}},
        {"type": "text", "text": "then"},
        {"type": "image_url", "image_url": "https://example.com/a.png"},
    ]
    [message] = parsed(messages=[{"role": "user", "content": content}]).messages

    assert message.content == "first then"
    assert message.parts == (
        TextPart("first "),
        ImagePart(DATA_URL, "high"),
        TextPart("then"),
        ImagePart("https://example.com/a.png"),
    )
    assert message.images[0].inline() == ("image/png", "iVBORw0KGgo=")
    assert message.images[1].inline() is None


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "image_url", "image_url": {"url": "ftp://x"}}, "must be a data: URL or an http"),
        ({"type": "image_url", "image_url": {"url": "data:image/png,abc"}}, "base64 data: URL"),
        (
            {"type": "image_url", "image_url": {"url": DATA_URL, "detail": "huge"}},
            ".detail' must be one of",
        ),
        ({"type": "input_audio", "input_audio": {}}, "part 0 is of type 'input_audio'"),
        ({"type": "file", "file": {}}, "part 0 is of type 'file'"),
    ],
)
def test_a_part_cortex_cannot_carry_is_refused_by_name(part: dict[str, Any], message: str) -> None:
    assert message in refused(messages=[{"role": "user", "content": [part]}]).message


def test_images_are_for_user_messages() -> None:
    part = {"type": "image_url", "image_url": {"url": DATA_URL}}
    error = refused(messages=[{"role": "system", "content": [part]}])

    assert "supports text parts" in error.message


def test_a_tool_conversation_is_read_whole() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18"}]},
    ]
    request = parsed(messages=messages)

    assistant, tool = request.messages[1:]
    assert (assistant.content, assistant.tool_calls) == ("", (ToolCall("call_1", "f", "{}"),))
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "call_1", "18")
    assert request.ignored == ()


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"role": "tool", "content": "x"}, "tool_call_id' must name the call"),
        ({"role": "user", "content": "x", "tool_calls": [{}]}, "assistant messages only"),
        (
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "custom"}]},
            "custom tool calls are refused",
        ),
        (
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}],
            },
            "must be a JSON string",
        ),
        ({"role": "user", "content": None}, "must be a string or an array"),
    ],
)
def test_a_malformed_tool_message_is_refused(message: dict[str, Any], problem: str) -> None:
    assert problem in refused(messages=[message]).message


def test_unknown_message_fields_are_named_and_empty_sdk_fields_are_not() -> None:
    messages = [{"role": "user", "content": "x", "cache_hint": 1, "refusal": None}]

    assert parsed(messages=messages).ignored == ("messages[].cache_hint",)


def test_tuning_options_and_unknown_fields_are_kept_apart() -> None:
    request = parsed(
        seed=1, user="u", logit_bias={"5": 1}, top_k=3, vendor_knob={"a": 1}, n=2, stream=False
    )

    assert request.options == {"seed": 1, "user": "u", "logit_bias": {"5": 1}, "top_k": 3}
    assert request.extra == {"vendor_knob": {"a": 1}}
    assert request.n == 2


def test_every_tuning_option_has_a_rule_and_is_a_known_field() -> None:
    assert set(_OPTION_RULES) == set(TUNING_OPTIONS)
    assert TUNING_OPTIONS <= KNOWN_FIELDS

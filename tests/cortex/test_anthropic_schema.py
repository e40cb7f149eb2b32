"""Anthropic Messages bodies, parsed: every field kept, refused, unmet elsewhere or dropped."""

from __future__ import annotations

from typing import Any

import pytest

from actors.planning import Candidate, Plan
from cortex.chat import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from cortex.dataplane.fitting import fitted, worker_fit
from cortex.errors import BadRequest
from cortex.http.anthropic_schema import estimate_input_tokens, parse_messages_body
from cortex.providers.anthropic import AnthropicAdapter
from cortex.providers.base import Target

USER = {"role": "user", "content": "hi"}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER = {"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}


def parsed(**fields: Any) -> ChatRequest:
    body = {"model": "claude", "max_tokens": 100, "messages": [USER], **fields}
    return parse_messages_body(body).request


def refused(**fields: Any) -> str:
    body = {"model": "claude", "max_tokens": 100, "messages": [USER], **fields}
    body = {name: value for name, value in body.items() if value is not None}
    with pytest.raises(BadRequest) as caught:
        parse_messages_body(body)
    return caught.value.message


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("Be brief.", (Message("system", "Be brief."),)),
        (
            [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
            (Message("system", "A\n\nB"),),
        ),
        ("", ()),
    ],
)
def test_the_system_prompt_is_a_string_or_text_blocks(
    system: object, expected: tuple[Message, ...]
) -> None:
    assert parsed(system=system).messages[: len(expected)] == expected
    assert parsed(system=system).messages[len(expected) :] == (Message("user", "hi"),)


def test_a_tool_round_trip_becomes_calls_and_tool_messages() -> None:
    request = parsed(
        messages=[
            USER,
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [{"type": "text", "text": "not found"}],
                    },
                    {"type": "text", "text": "And Tokyo?"},
                ],
            },
        ],
        tools=[WEATHER],
    )

    assert request.messages[1:] == (
        Message(
            "assistant",
            "Checking.",
            tool_calls=(ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),),
        ),
        Message("tool", "18 C", tool_call_id="toolu_1"),
        Message("tool", "not found", tool_call_id="toolu_2"),
        Message("user", "And Tokyo?"),
    )
    assert request.ignored == ("messages[].content[].thinking", "messages[].content[].is_error")
    assert request.tools == (Tool("get_weather", "Weather", SCHEMA),)


@pytest.mark.parametrize(
    ("source", "url"),
    [
        (
            {"type": "base64", "media_type": "image/png", "data": "iVBO"},
            "data:image/png;base64,iVBO",
        ),
        ({"type": "url", "url": "https://example.com/cat.png"}, "https://example.com/cat.png"),
    ],
)
def test_images_become_data_or_http_urls(source: dict[str, str], url: str) -> None:
    content = [{"type": "text", "text": "What is it"}, {"type": "image", "source": source}]
    request = parsed(messages=[{"role": "user", "content": content}])

    assert request.messages == (
        Message("user", "What is it", (TextPart("What is it"), ImagePart(url))),
    )


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, ToolChoice("auto"), None),
        ({"type": "any"}, ToolChoice("required"), None),
        ({"type": "tool", "name": "get_weather"}, ToolChoice("required", "get_weather"), None),
        ({"type": "none"}, ToolChoice("none"), None),
        ({"type": "auto", "disable_parallel_tool_use": True}, ToolChoice("auto"), False),
    ],
)
def test_tool_choice_maps_to_the_chat_vocabulary(
    choice: dict[str, Any], expected: ToolChoice, parallel: bool | None
) -> None:
    request = parsed(tools=[WEATHER], tool_choice=choice)

    assert request.tool_choice == expected
    assert request.parallel_tool_calls is parallel


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, "low"),
        ({"type": "enabled", "budget_tokens": 8000}, "medium"),
        ({"type": "enabled", "budget_tokens": 32000}, "high"),
        ({"type": "adaptive"}, "medium"),
        ({"type": "disabled"}, None),
    ],
)
def test_thinking_becomes_a_reasoning_effort_by_budget(
    thinking: dict[str, Any], effort: str | None
) -> None:
    assert parsed(thinking=thinking).reasoning_effort == effort


def test_sampling_stops_metadata_and_output_config_are_kept() -> None:
    request = parsed(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop_sequences=["END"],
        metadata={"user_id": "u-1"},
        output_config={"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "max"},
        stream=True,
    )

    assert (request.temperature, request.top_p, request.max_tokens) == (0.2, 0.9, 100)
    assert request.stop == ("END",)
    assert request.options == {"top_k": 40, "user": "u-1"}
    assert request.response_format == ResponseFormat("json_schema", SCHEMA, "response")
    assert request.reasoning_effort == "xhigh"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": None}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"temperature": 1.5}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"system": 5}, "system"),
        ({"tools": [{"name": "get_weather"}]}, "tools[0].input_schema"),
        ({"tools": [{"name": "bad name", "input_schema": SCHEMA}]}, "tools[0].name"),
        ({"tool_choice": {"type": "tool", "name": "nope"}, "tools": [WEATHER]}, "tool_choice.name"),
        ({"tool_choice": {"type": "any"}}, "tool_choice"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}],
                    }
                ]
            },
            "input",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "url", "url": "ftp://x"}}],
                    }
                ]
            },
            "source.url",
        ),
    ],
)
def test_a_malformed_body_is_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    assert named in refused(**fields)


def test_what_only_anthropic_serves_is_unmet_for_every_other_wire() -> None:
    request = parsed(
        messages=[
            {
                "role": "user",
                "content": [{"type": "document", "source": {}}, {"type": "text", "text": "sum up"}],
            }
        ],
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
        mcp_servers=[{"url": "https://mcp.example"}],
    )

    assert request.native is not None
    assert request.native.untranslated == (
        "document blocks",
        "server tool 'web_search_20250305'",
        "MCP servers",
    )
    assert worker_fit("openai", request).unmet == request.native.untranslated
    assert worker_fit("anthropic", request).unmet == ()


def test_tuning_fields_are_dropped_elsewhere_and_sent_unchanged_to_anthropic() -> None:
    request = parsed(
        service_tier="auto",
        system=[{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
    )

    assert request.ignored == ("system[].cache_control", "service_tier")
    assert worker_fit("gemini", request).dropped == ("system[].cache_control", "service_tier")
    assert worker_fit("anthropic", request).dropped == ()


def test_an_anthropic_worker_gets_the_body_as_sent_with_its_own_model_and_stream() -> None:
    body = {
        "model": "auto",
        "max_tokens": 100,
        "messages": [USER],
        "top_k": 3,
        "service_tier": "auto",
    }
    request = parse_messages_body(body).request

    call = AnthropicAdapter().chat_call(
        Target("https://api.anthropic.test", "claude-x", "k"), request, stream=True
    )

    assert call.json == {**body, "model": "claude-x", "stream": True}
    assert call.url == "https://api.anthropic.test/v1/messages"


def test_count_tokens_needs_no_max_tokens_and_estimates_by_characters_turns_and_images() -> None:
    body = {
        "model": "claude",
        "messages": [
            {"role": "user", "content": "x" * 40},
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://e.x/a.png"}}
                ],
            },
        ],
    }
    request = parse_messages_body(body, counting=True).request

    assert request.max_tokens is None
    assert estimate_input_tokens(request) == 10 + 2 * 3 + 1600


def test_a_plan_keeps_only_anthropic_workers_for_what_only_anthropic_serves() -> None:
    request = parsed(messages=[{"role": "user", "content": [{"type": "document", "source": {}}]}])
    workers = (
        Candidate("openai", "openai", "http://127.0.0.1:1", "m", 5.0, needs_key=False),
        Candidate("claude", "anthropic", "http://127.0.0.1:2", "m", 5.0, needs_key=False),
    )

    kept = fitted(Plan(workers), request)

    assert [candidate.worker for candidate in kept.candidates] == ["claude"]
    with pytest.raises(BadRequest, match="document blocks"):
        fitted(Plan(workers[:1]), request)

"""SimulatedCohere's tools, structured output, images and thinking, with the cohere SDK as client.

The SDK's own models parse every answer; the request log shows what the fake read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import cohere
import httpx
import pytest

from cortex.simulated import SimulatedCohere

KEY = "co-sim-key-1"
MODEL = "command-a-03-2025"
NO_RETRY: cohere.RequestOptions = {"max_retries": 0}
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = cohere.ToolV2(
    function=cohere.ToolV2Function(
        name="get_weather", description="Get weather for a city", parameters=CITY
    )
)
ASK: list[cohere.ChatMessageV2] = [cohere.UserChatMessageV2(content="Weather in Paris")]
CALL = cohere.ToolCallV2(
    id="get_weather_1",
    function=cohere.ToolCallV2Function(name="get_weather", arguments='{"city": "Paris"}'),
)


@pytest.fixture(scope="module")
def client(cohere_module: SimulatedCohere) -> Iterator[cohere.ClientV2]:
    with cohere.ClientV2(api_key=KEY, base_url=cohere_module.base_url, timeout=5) as client:
        yield client


def test_a_required_tool_is_called_in_a_whole_answer(
    cohere_server: SimulatedCohere, client: cohere.ClientV2
) -> None:
    response = client.chat(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER],
        strict_tools=True,
        tool_choice="REQUIRED",
        request_options=NO_RETRY,
    )
    assert response.finish_reason == "TOOL_CALL"
    assert response.message.tool_plan == "I will call get_weather."
    assert response.message.content is None
    [call] = response.message.tool_calls or []
    assert call.id == "get_weather_1"
    assert call.function is not None
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments or "") == {"city": "Paris"}
    [recorded] = cohere_server.requests
    assert (recorded.body["strict_tools"], recorded.body["tool_choice"]) == (True, "REQUIRED")


def test_a_streamed_tool_call_arrives_as_plan_start_fragments_and_end(
    client: cohere.ClientV2,
) -> None:
    events = list(
        client.chat_stream(model=MODEL, messages=ASK, tools=[WEATHER], request_options=NO_RETRY)
    )
    kinds = [event.type for event in events]
    assert kinds == [
        "message-start",
        *["tool-plan-delta"] * 4,
        "tool-call-start",
        "tool-call-delta",
        "tool-call-delta",
        "tool-call-end",
        "message-end",
    ]
    plan, calls = "", []
    for event in events:
        if isinstance(event, cohere.ToolPlanDeltaV2ChatStreamResponse):
            assert event.delta is not None
            assert event.delta.message is not None
            plan += event.delta.message.tool_plan or ""
        elif isinstance(event, cohere.ToolCallStartV2ChatStreamResponse):
            assert event.delta is not None
            assert event.delta.message is not None
            assert event.delta.message.tool_calls is not None
            start = event.delta.message.tool_calls
            assert start.function is not None
            calls.append([start.id, start.function.name, start.function.arguments or ""])
        elif isinstance(event, cohere.ToolCallDeltaV2ChatStreamResponse):
            assert event.delta is not None
            assert event.delta.message is not None
            assert event.delta.message.tool_calls is not None
            assert event.delta.message.tool_calls.function is not None
            calls[event.index or 0][2] += event.delta.message.tool_calls.function.arguments or ""
    assert plan == "I will call get_weather."
    assert calls == [["get_weather_1", "get_weather", '{"city": "Paris"}']]
    end = events[-1]
    assert isinstance(end, cohere.MessageEndV2ChatStreamResponse)
    assert end.delta is not None
    assert end.delta.finish_reason == "TOOL_CALL"


def test_tool_results_get_a_text_answer(
    cohere_server: SimulatedCohere, client: cohere.ClientV2
) -> None:
    document = cohere.DocumentToolContent(
        document=cohere.Document(data={"temp_c": 18, "city": "Paris"}, id="w1")
    )
    messages: list[cohere.ChatMessageV2] = [
        *ASK,
        cohere.AssistantChatMessageV2(tool_plan="I will call get_weather.", tool_calls=[CALL]),
        cohere.ToolChatMessageV2(tool_call_id="get_weather_1", content=[document]),
    ]
    response = client.chat(
        model=MODEL, messages=messages, tools=[WEATHER], request_options=NO_RETRY
    )
    assert response.finish_reason == "COMPLETE"
    [content] = response.message.content or []
    assert isinstance(content, cohere.TextAssistantMessageResponseContentItem)
    assert content.text == 'Tool said: {"data": {"temp_c": 18, "city": "Paris"}, "id": "w1"}'
    [recorded] = cohere_server.requests
    assert recorded.body["messages"][1]["tool_calls"][0]["id"] == "get_weather_1"


def test_tool_choice_none_gets_text(client: cohere.ClientV2) -> None:
    response = client.chat(
        model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="NONE", request_options=NO_RETRY
    )
    assert response.finish_reason == "COMPLETE"
    assert response.message.tool_calls is None


def test_a_json_schema_answer_is_an_instance_of_the_schema(client: cohere.ClientV2) -> None:
    response = client.chat(
        model=MODEL,
        messages=ASK,
        response_format=cohere.JsonObjectResponseFormatV2(json_schema=CITY),
        request_options=NO_RETRY,
    )
    [content] = response.message.content or []
    assert isinstance(content, cohere.TextAssistantMessageResponseContentItem)
    assert json.loads(content.text) == {"city": "Paris"}


def test_json_mode_without_a_schema_answers_an_object(client: cohere.ClientV2) -> None:
    response = client.chat(
        model=MODEL,
        messages=[cohere.UserChatMessageV2(content="Say hi as JSON")],
        response_format=cohere.JsonObjectResponseFormatV2(),
        request_options=NO_RETRY,
    )
    [content] = response.message.content or []
    assert isinstance(content, cohere.TextAssistantMessageResponseContentItem)
    assert json.loads(content.text) == {"reply": "Hello from cohere! You said: Say hi as JSON"}


def test_images_by_data_uri_and_web_url_are_seen(client: cohere.ClientV2) -> None:
    parts: list[cohere.Content] = [
        cohere.TextContent(text="Describe these"),
        cohere.ImageUrlContent(
            image_url=cohere.ImageUrl(url="data:image/png;base64,iVBORw0KGgo=", detail="low")
        ),
        cohere.ImageUrlContent(image_url=cohere.ImageUrl(url="https://example.com/cat.png")),
    ]
    messages: list[cohere.ChatMessageV2] = [cohere.UserChatMessageV2(content=parts)]
    response = client.chat(model=MODEL, messages=messages, request_options=NO_RETRY)
    [content] = response.message.content or []
    assert isinstance(content, cohere.TextAssistantMessageResponseContentItem)
    assert content.text.endswith("(saw 2 images)")


def test_enabled_thinking_comes_before_the_text(client: cohere.ClientV2) -> None:
    thinking = cohere.Thinking(type="enabled", token_budget=1024)
    response = client.chat(model=MODEL, messages=ASK, thinking=thinking, request_options=NO_RETRY)
    first, second = response.message.content or []
    assert isinstance(first, cohere.ThinkingAssistantMessageResponseContentItem)
    assert isinstance(second, cohere.TextAssistantMessageResponseContentItem)
    events = list(
        client.chat_stream(model=MODEL, messages=ASK, thinking=thinking, request_options=NO_RETRY)
    )
    thought = "".join(
        event.delta.message.content.thinking or ""
        for event in events
        if isinstance(event, cohere.ContentDeltaV2ChatStreamResponse)
        and event.delta
        and event.delta.message
        and event.delta.message.content
    )
    assert thought == first.thinking
    assert [e.index for e in events if e.type == "content-start"] == [0, 1]


BAD_REQUESTS: dict[str, tuple[dict[str, Any], str]] = {
    "a tool without parameters": (
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        "parameters is required",
    ),
    "a lower-case tool choice": (
        {"tools": [WEATHER.dict()], "tool_choice": "required"},
        "tool_choice must be one of REQUIRED, NONE",
    ),
    "a named tool choice": (
        {"tools": [WEATHER.dict()], "tool_choice": {"type": "function"}},
        "tool_choice must be one of REQUIRED, NONE",
    ),
    "structured output with tools": (
        {"tools": [WEATHER.dict()], "response_format": {"type": "json_object"}},
        "response_format is not supported with tools",
    ),
    "text beside tool calls": (
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Let me see.", "tool_calls": [CALL.dict()]},
            ]
        },
        "text content is not allowed when tool_calls are provided",
    ),
    "a result for an unknown call": (
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "nope", "content": "{}"},
            ]
        },
        "unknown tool call 'nope'",
    ),
    "arguments that are not an object": (
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [{**CALL.dict(), "function": {"name": "f", "arguments": "[]"}}],
                },
            ]
        },
        "arguments that are a JSON object",
    ),
    "an image by file path": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "file:///a.png"}}],
                }
            ]
        },
        "base64 data URI or a web URL",
    ),
    "a thinking budget of zero": (
        {"thinking": {"type": "enabled", "token_budget": 0}},
        "token_budget must be a positive integer",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_what_cohere_refuses_is_a_400(
    cohere_server: SimulatedCohere, http: httpx.Client, case: str
) -> None:
    fields, message = BAD_REQUESTS[case]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **fields}
    response = http.post(
        f"{cohere_server.base_url}/v2/chat",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400
    assert message in response.json()["message"]

"""The Chat Completions wire with tools, images, formats and options: unchanged both ways."""

from __future__ import annotations

import json

from cortex.chat import (
    ChatRequest,
    Finished,
    ImagePart,
    Message,
    ReasoningDelta,
    ResponseFormat,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
)
from cortex.providers.base import Target
from cortex.providers.openai import OpenAIAdapter

TARGET = Target("https://api.openai.com/v1", "gpt-4o-mini", "sk-test")
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
CONVERSATION = (
    Message("system", "Be brief."),
    Message(
        "user",
        "Weather here?",
        (TextPart("Weather here?"), ImagePart("data:image/png;base64,AAAA", "low")),
    ),
    Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
    Message("tool", '{"temp_c": 18}', tool_call_id="call_1"),
)


def body_of(request: ChatRequest, *, stream: bool = False) -> dict[str, object]:
    call = OpenAIAdapter().chat_call(TARGET, request, stream=stream)
    assert call.json is not None
    return dict(call.json)


def test_every_field_goes_out_in_openais_own_shape() -> None:
    request = ChatRequest(
        messages=CONVERSATION,
        tools=(Tool("get_weather", "Weather", SCHEMA, True),),
        tool_choice=ToolChoice("required", "get_weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", SCHEMA, "City", None, True),
        reasoning_effort="low",
        options={"seed": 3, "logit_bias": {"5": 1}, "user": "u"},
        extra={"vendor_knob": 1, "model": "sneaky"},
    )

    body = body_of(request)

    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": "call_1"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": SCHEMA,
                "strict": True,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City", "schema": SCHEMA, "strict": True},
    }
    assert (body["reasoning_effort"], body["seed"], body["user"]) == ("low", 3, "u")
    assert body["vendor_knob"] == 1
    assert body["model"] == "gpt-4o-mini"  # a known field is never overridden by an extra


def test_a_plain_request_carries_nothing_new() -> None:
    body = body_of(ChatRequest(messages=(Message("user", "hi"),)), stream=True)

    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"


def test_streamed_calls_and_reasoning_become_events_whatever_the_chunking() -> None:
    stream = b"".join(
        [
            chunk({"role": "assistant", "reasoning_content": "hmm"}),
            chunk({"content": "Checking."}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            chunk({}, "tool_calls"),
            b"data: [DONE]\n\n",
        ]
    )
    expected = [
        ReasoningDelta("hmm"),
        TextDelta("Checking."),
        ToolCallDelta(0, "call_a", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"city":'),
        ToolCallDelta(0, None, None, '"Paris"}'),
        Finished("tool_calls"),
    ]
    for size in (1, 7, len(stream)):
        decoder = OpenAIAdapter().decoder()
        events = [
            e for i in range(0, len(stream), size) for e in decoder.feed(stream[i : i + size])
        ]
        events += decoder.close()
        assert events == expected, size


def test_a_whole_answer_with_calls_becomes_the_same_events() -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "g", "arguments": "{}"},
                        },
                    ],
                },
            }
        ],
    }

    events = OpenAIAdapter().parse_completion(json.dumps(body).encode())

    assert events == [
        ToolCallDelta(0, "c1", "f", "{}"),
        ToolCallDelta(1, "c2", "g", "{}"),
        Finished("tool_calls"),
    ]

"""OllamaAdapter against SimulatedOllama over a real socket: adapter and fake agree.

The adapter's request goes over loopback as it is built; the answer comes back through
the adapter's own decoder (streamed) or ``parse_completion`` (whole) and the gateway's
one fold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests

from cortex.chat import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamEvent,
    TextPart,
    Tool,
    ToolChoice,
    WholeAnswer,
    fold,
)
from cortex.providers.base import Target
from cortex.providers.ollama import OllamaAdapter
from cortex.simulated import SimulatedOllama

MODEL = "qwen2.5:7b"
ASK = Message("user", "Weather in Paris")
WEATHER = Tool(
    "get_weather",
    "Get weather for a city",
    {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}},
)
CALL_ID = re.compile(r"call_[a-z0-9]{8}")
STREAMED = pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatedOllama]:
    with SimulatedOllama(chunk_delay=0.0) as server:
        yield server


def answer(server: SimulatedOllama, request: ChatRequest, *, stream: bool) -> WholeAnswer:
    """Send ``request`` as the adapter builds it; fold what the adapter decodes."""
    adapter = OllamaAdapter()
    call = adapter.chat_call(Target(server.base_url, MODEL), request, stream=stream)
    with requests.request(
        call.method, call.url, json=call.json, headers=dict(call.headers), timeout=5, stream=stream
    ) as response:
        assert response.status_code == 200, response.text
        events: list[StreamEvent]
        if stream:
            decoder = adapter.decoder()
            events = [e for chunk in response.iter_content(None) for e in decoder.feed(chunk)]
            events.extend(decoder.close())
        else:
            events = adapter.parse_completion(response.content)
    whole = fold(events, worker="ollama", model=MODEL)
    assert isinstance(whole, WholeAnswer), whole
    return whole


@STREAMED
def test_a_tool_call_comes_back_as_one_call_with_its_arguments(
    server: SimulatedOllama, stream: bool
) -> None:
    result = answer(server, ChatRequest((ASK,), tools=(WEATHER,)), stream=stream)
    (call,) = result.tool_calls
    assert CALL_ID.fullmatch(call.id)
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')
    assert (result.text, result.finish_reason) == ("", "tool_calls")


@STREAMED
def test_the_tool_result_goes_back_named_and_is_answered(
    server: SimulatedOllama, stream: bool
) -> None:
    first = answer(server, ChatRequest((ASK,), tools=(WEATHER,)), stream=stream)
    (call,) = first.tool_calls
    history = (
        ASK,
        Message("assistant", "", tool_calls=first.tool_calls),
        Message("tool", '{"temp_c": 18}', tool_call_id=call.id),
    )
    result = answer(server, ChatRequest(history, tools=(WEATHER,)), stream=stream)
    assert (result.text, result.finish_reason) == ('Tool said: {"temp_c": 18}', "stop")
    assert result.tool_calls == ()
    sent = server.requests[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert (sent[2]["tool_name"], sent[2]["tool_call_id"]) == ("get_weather", call.id)


@STREAMED
def test_tool_choice_none_sends_no_tools_and_gets_text(
    server: SimulatedOllama, stream: bool
) -> None:
    request = ChatRequest((ASK,), tools=(WEATHER,), tool_choice=ToolChoice("none"))
    result = answer(server, request, stream=stream)
    assert result.tool_calls == ()
    assert result.text == "Hello from ollama! You said: Weather in Paris"
    assert "tools" not in server.requests[-1].body


@STREAMED
def test_a_json_schema_answer_follows_the_schema(server: SimulatedOllama, stream: bool) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp_c": {"type": "number"}},
        "required": ["city", "temp_c"],
    }
    format_ = ResponseFormat("json_schema", schema, "weather")
    result = answer(server, ChatRequest((ASK,), response_format=format_), stream=stream)
    assert json.loads(result.text) == {"city": "Paris", "temp_c": 1.5}


@STREAMED
def test_json_mode_answers_a_json_object(server: SimulatedOllama, stream: bool) -> None:
    format_ = ResponseFormat("json_object")
    result = answer(server, ChatRequest((ASK,), response_format=format_), stream=stream)
    assert json.loads(result.text) == {"reply": "Hello from ollama! You said: Weather in Paris"}


@STREAMED
def test_an_inline_image_is_seen(server: SimulatedOllama, stream: bool) -> None:
    parts = (TextPart("What is this?"), ImagePart("data:image/png;base64,iVBORw0KGgo="))
    request = ChatRequest((Message("user", "What is this?", parts=parts),))
    result = answer(server, request, stream=stream)
    assert result.text.endswith("(saw 1 image)")
    assert server.requests[-1].body["messages"][0]["images"] == ["iVBORw0KGgo="]


@STREAMED
@pytest.mark.parametrize(
    ("effort", "reasoning"), [("low", "Let me think about that."), ("minimal", "")]
)
def test_reasoning_effort_brings_the_thinking_back_as_reasoning(
    server: SimulatedOllama, stream: bool, effort: str, reasoning: str
) -> None:
    result = answer(server, ChatRequest((ASK,), reasoning_effort=effort), stream=stream)
    assert result.reasoning == reasoning
    assert result.text == "Hello from ollama! You said: Weather in Paris"

"""The Anthropic adapter's requests, sent over a real socket to SimulatedAnthropic, and back.

What the adapter builds the fake must accept (it refuses what the real API refuses), and
what the fake answers the decoder must read, streamed (read in small socket chunks) and
whole: tool calls, a tool round trip, JSON mode and JSON schema, images, thinking.
"""

from __future__ import annotations

import json
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
    ToolCall,
    ToolChoice,
    WholeAnswer,
    fold,
)
from cortex.providers.anthropic import AnthropicAdapter
from cortex.providers.base import Target
from cortex.simulated import SimulatedAnthropic

MODEL = "claude-sonnet-4-6"
WEATHER = Tool(
    "get_weather",
    "Get weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
ASK = Message("user", "Weather in Paris?")
PNG = "data:image/png;base64,iVBORw0KGgo="


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatedAnthropic]:
    with SimulatedAnthropic(chunk_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def exchange(
    server: SimulatedAnthropic, session: requests.Session, request: ChatRequest, *, stream: bool
) -> WholeAnswer:
    """Send the adapter's call for ``request``; fold what its decoder or parser makes of it."""
    adapter = AnthropicAdapter()
    target = Target(server.base_url, MODEL, "sk-ant-sim-key-1")
    call = adapter.chat_call(target, request, stream=stream)
    response = session.request(
        call.method, call.url, headers=dict(call.headers), json=call.json, stream=stream, timeout=5
    )
    assert response.status_code == 200, response.text
    events: list[StreamEvent] = []
    if stream:
        decoder = adapter.decoder()
        for chunk in response.iter_content(chunk_size=64):
            events.extend(decoder.feed(chunk))
        events.extend(decoder.close())
    else:
        events = adapter.parse_completion(response.content)
    answer = fold(events, worker="anthropic", model=MODEL)
    assert isinstance(answer, WholeAnswer), answer
    return answer


STREAMS = pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])


@STREAMS
def test_a_tool_call_crosses_both_ways(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    request = ChatRequest((ASK,), tools=(WEATHER,), parallel_tool_calls=False)
    answer = exchange(server, session, request, stream=stream)
    assert answer.tool_calls == (
        ToolCall("toolu_get_weather_1", "get_weather", '{"city":"Paris"}'),
    )
    assert (answer.text, answer.finish_reason) == ("", "tool_calls")


@STREAMS
def test_a_named_tool_is_the_one_called(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    now = Tool("now")
    request = ChatRequest((ASK,), tools=(WEATHER, now), tool_choice=ToolChoice("required", "now"))
    answer = exchange(server, session, request, stream=stream)
    assert answer.tool_calls == (ToolCall("toolu_now_1", "now", "{}"),)


@STREAMS
def test_a_tool_round_trip_ends_in_text(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    first = exchange(server, session, ChatRequest((ASK,), tools=(WEATHER,)), stream=stream)
    call = first.tool_calls[0]
    history = (
        ASK,
        Message("assistant", "", tool_calls=first.tool_calls),
        Message("tool", "18C and sunny", tool_call_id=call.id),
    )
    answer = exchange(server, session, ChatRequest(history, tools=(WEATHER,)), stream=stream)
    assert (answer.text, answer.tool_calls, answer.finish_reason) == (
        "Tool said: 18C and sunny",
        (),
        "stop",
    )


@STREAMS
def test_a_json_schema_answer_is_an_instance_of_it(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    request = ChatRequest((ASK,), response_format=ResponseFormat("json_schema", schema, "City"))
    answer = exchange(server, session, request, stream=stream)
    assert json.loads(answer.text) == {"city": "Paris", "population": 1}
    assert answer.finish_reason == "stop"


@STREAMS
def test_json_mode_answers_an_object_as_text(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    request = ChatRequest((ASK,), response_format=ResponseFormat("json_object"))
    answer = exchange(server, session, request, stream=stream)
    assert json.loads(answer.text) == {}
    assert (answer.tool_calls, answer.finish_reason) == ((), "stop")


@STREAMS
def test_images_by_data_and_by_url_reach_the_model(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    parts = (TextPart("Describe"), ImagePart(PNG), ImagePart("https://example.com/cat.jpg"))
    request = ChatRequest((Message("user", "Describe", parts=parts),))
    answer = exchange(server, session, request, stream=stream)
    assert answer.text == "Hello from anthropic! You said: Describe (saw 2 images)"


@STREAMS
def test_reasoning_effort_brings_reasoning_back(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    request = ChatRequest((ASK,), reasoning_effort="medium", max_tokens=50, temperature=0.3)
    answer = exchange(server, session, request, stream=stream)
    assert answer.reasoning == "The user wrote: Weather in Paris?"
    assert answer.text == "Hello from anthropic! You said: Weather in Paris?"


@STREAMS
def test_reasoning_in_a_tool_loop_is_left_off_rather_than_refused(
    server: SimulatedAnthropic, session: requests.Session, stream: bool
) -> None:
    history = (
        ASK,
        Message("assistant", "", tool_calls=(ToolCall("toolu_1", "get_weather", "{}"),)),
        Message("tool", "18C", tool_call_id="toolu_1"),
    )
    request = ChatRequest(history, tools=(WEATHER,), reasoning_effort="high")
    answer = exchange(server, session, request, stream=stream)
    assert (answer.text, answer.reasoning) == ("Tool said: 18C", "")

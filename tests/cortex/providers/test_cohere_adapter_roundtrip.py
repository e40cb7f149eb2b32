"""CohereAdapter against SimulatedCohere over a real socket: the adapter and the fake agree.

Each request is the adapter's own ``chat_call``, sent as it is; each answer goes through
the adapter's decoder (streamed) or ``parse_completion`` (whole) and the gateway's fold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

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
from cortex.providers.base import Target
from cortex.providers.cohere import CohereAdapter
from cortex.simulated import SimulatedCohere

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "Get weather for a city", CITY, strict=True)
CLOCK = Tool("get_time", "The time now")
ASK = Message("user", "Weather in Paris")
CALLED = ToolCall("get_weather_1", "get_weather", '{"city": "Paris"}')

Ask = Callable[[ChatRequest], WholeAnswer]


@pytest.fixture(scope="module")
def upstream() -> Iterator[SimulatedCohere]:
    with SimulatedCohere(chunk_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture(params=[True, False], ids=["streamed", "whole"])
def ask(
    request: pytest.FixtureRequest, upstream: SimulatedCohere, client: httpx.Client
) -> Iterator[Ask]:
    """Send a chat request the adapter's way, streamed or not; return the folded answer."""
    stream: bool = request.param
    adapter = CohereAdapter()
    target = Target(upstream.base_url, "command-a-03-2025", "co-sim-key-1")

    def run(chat: ChatRequest) -> WholeAnswer:
        call = adapter.chat_call(target, chat, stream=stream)
        events: list[StreamEvent] = []
        with client.stream(call.method, call.url, headers=call.headers, json=call.json) as reply:
            assert reply.status_code == 200, reply.read()
            if stream:
                decoder = adapter.decoder()
                for chunk in reply.iter_raw():
                    events.extend(decoder.feed(chunk))
                events.extend(decoder.close())
            else:
                events = adapter.parse_completion(reply.read())
        answer = fold(events, worker="cohere", model=target.model)
        assert isinstance(answer, WholeAnswer), answer
        return answer

    upstream.reset()
    yield run
    upstream.reset()


def test_a_required_tool_is_called(ask: Ask, upstream: SimulatedCohere) -> None:
    answer = ask(ChatRequest((ASK,), tools=(WEATHER,), tool_choice=ToolChoice("required")))
    assert (answer.tool_calls, answer.finish_reason) == ((CALLED,), "tool_calls")
    assert answer.reasoning == "I will call get_weather."
    assert answer.text == ""
    [recorded] = upstream.requests
    assert recorded.body["strict_tools"] is True


def test_a_named_tool_is_the_only_one_sent_and_the_one_called(
    ask: Ask, upstream: SimulatedCohere
) -> None:
    chat = ChatRequest(
        (ASK,), tools=(WEATHER, CLOCK), tool_choice=ToolChoice("required", "get_time")
    )
    answer = ask(chat)
    assert answer.tool_calls == (ToolCall("get_time_1", "get_time", "{}"),)
    [recorded] = upstream.requests
    assert [tool["function"]["name"] for tool in recorded.body["tools"]] == ["get_time"]


@pytest.mark.parametrize("plan", ["", "I will call get_weather."])
def test_a_tool_result_round_trip_ends_in_text(ask: Ask, plan: str) -> None:
    history = (
        ASK,
        Message("assistant", plan, tool_calls=(CALLED,)),
        Message("tool", '{"temp_c": 18}', tool_call_id=CALLED.id, name="get_weather"),
    )
    answer = ask(ChatRequest(history, tools=(WEATHER,)))
    assert (answer.text, answer.finish_reason) == ('Tool said: {"temp_c": 18}', "stop")
    assert answer.tool_calls == ()


def test_a_json_schema_answer_follows_the_schema(ask: Ask) -> None:
    format_ = ResponseFormat("json_schema", CITY, name="place")
    answer = ask(ChatRequest((ASK,), response_format=format_))
    assert json.loads(answer.text) == {"city": "Paris"}


def test_images_inline_and_by_url_are_seen(ask: Ask) -> None:
    parts = (
        TextPart("Describe"),
        ImagePart("data:image/png;base64,iVBORw0KGgo=", "high"),
        ImagePart("https://example.com/cat.png"),
    )
    answer = ask(ChatRequest((Message("user", "Describe", parts=parts),)))
    assert answer.text == "Hello from cohere! You said: Describe (saw 2 images)"


@pytest.mark.parametrize(("effort", "thinks"), [("medium", True), ("minimal", False)])
def test_reasoning_effort_turns_thinking_on_or_off(ask: Ask, effort: str, thinks: bool) -> None:
    answer = ask(ChatRequest((ASK,), reasoning_effort=effort))
    assert bool(answer.reasoning) is thinks
    assert answer.text == "Hello from cohere! You said: Weather in Paris"

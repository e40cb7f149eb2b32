"""GeminiAdapter against SimulatedGemini over a real socket: the two agree on every shape."""

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
    TextPart,
    Tool,
    ToolChoice,
    WholeAnswer,
    fold,
)
from cortex.providers.base import Target
from cortex.providers.gemini import GeminiAdapter
from cortex.providers.gemini_tools import MADE_UP, native_call
from cortex.simulated import SimulatedGemini
from cortex.simulated.gemini import signature_for

KEY = "AIza-sim-key-1"
MODELS = ("gemini-2.5-flash", "gemini-3-flash-preview")
USER = Message("user", "Weather in Paris")
WEATHER = Tool(
    "get_weather",
    "Get weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatedGemini]:
    with SimulatedGemini(models=MODELS, chunk_delay=0.0) as running:
        yield running


@pytest.fixture
def gemini(server: SimulatedGemini) -> Iterator[SimulatedGemini]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture(params=[True, False], ids=["streamed", "whole"])
def stream(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def ask(
    server: SimulatedGemini, request: ChatRequest, *, stream: bool, model: str = MODELS[0]
) -> WholeAnswer:
    """Send the adapter's call, decode the answer with the adapter, fold it."""
    adapter = GeminiAdapter()
    call = adapter.chat_call(Target(server.base_url, model, KEY), request, stream=stream)
    response = requests.post(
        call.url, json=call.json, headers=dict(call.headers), timeout=5, stream=stream
    )
    assert response.status_code == 200, response.text
    if stream:
        decoder = adapter.decoder()
        events = [e for chunk in response.iter_content(None) for e in decoder.feed(chunk)]
        events += decoder.close()
    else:
        events = adapter.parse_completion(response.content)
    answer = fold(events, worker="gemini", model=model)
    assert isinstance(answer, WholeAnswer), answer
    return answer


def test_a_call_comes_back_with_a_made_up_id_carrying_the_signature(
    gemini: SimulatedGemini, stream: bool
) -> None:
    answer = ask(gemini, ChatRequest((USER,), tools=(WEATHER,)), stream=stream)
    assert answer.finish_reason == "tool_calls"
    [call] = answer.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert call.id.startswith(MADE_UP)
    assert native_call(call.id) == (None, signature_for("get_weather"))


def test_a_tool_loop_returns_the_signature_and_no_made_up_id(
    gemini: SimulatedGemini, stream: bool
) -> None:
    [call] = ask(gemini, ChatRequest((USER,), tools=(WEATHER,)), stream=stream).tool_calls
    loop = ChatRequest(
        (
            USER,
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "18C", tool_call_id=call.id),
        ),
        tools=(WEATHER,),
    )
    answer = ask(gemini, loop, stream=stream)
    assert (answer.text, answer.finish_reason) == ("Tool said: 18C", "stop")
    sent = gemini.requests[-1].body["contents"]
    assert sent[1]["parts"] == [
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": signature_for("get_weather"),
        }
    ]
    assert sent[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}}
    ]


def test_gemini_3_call_ids_pass_through_and_are_echoed(
    gemini: SimulatedGemini, stream: bool
) -> None:
    model = "gemini-3-flash-preview"
    [call] = ask(
        gemini, ChatRequest((USER,), tools=(WEATHER,)), stream=stream, model=model
    ).tool_calls
    native, _ = native_call(call.id)
    assert native is not None
    assert native.startswith("fc-")
    result = '{"temp_c": 18}'
    loop = ChatRequest(
        (
            USER,
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", result, tool_call_id=call.id),
        ),
        tools=(WEATHER,),
    )
    answer = ask(gemini, loop, stream=stream, model=model)
    assert answer.text == 'Tool said: {"temp_c": 18}'
    sent = gemini.requests[-1].body["contents"][2]["parts"][0]["functionResponse"]
    assert sent["id"] == native


def test_a_named_tool_is_the_one_called(gemini: SimulatedGemini, stream: bool) -> None:
    clock = Tool("get_time")
    request = ChatRequest(
        (USER,), tools=(WEATHER, clock), tool_choice=ToolChoice("required", "get_time")
    )
    [call] = ask(gemini, request, stream=stream).tool_calls
    assert (call.name, call.arguments) == ("get_time", "{}")


def test_tool_choice_none_answers_in_text(gemini: SimulatedGemini, stream: bool) -> None:
    request = ChatRequest((USER,), tools=(WEATHER,), tool_choice=ToolChoice("none"))
    answer = ask(gemini, request, stream=stream)
    assert (answer.tool_calls, answer.finish_reason) == ((), "stop")


def test_a_json_schema_answer_fits_the_schema(gemini: SimulatedGemini, stream: bool) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"name": {"type": "string"}, "size": {"type": ["integer", "null"]}},
        "required": ["name", "size"],
        "additionalProperties": False,
    }
    request = ChatRequest((USER,), response_format=ResponseFormat("json_schema", schema, "City"))
    answer = ask(gemini, request, stream=stream)
    assert json.loads(answer.text) == {"name": "Paris", "size": 1}
    config = gemini.requests[-1].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "$schema" not in config["responseJsonSchema"]


def test_images_inline_and_by_url_are_seen(gemini: SimulatedGemini, stream: bool) -> None:
    parts = (
        TextPart("Describe"),
        ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ImagePart("https://example.com/cat.webp"),
    )
    answer = ask(gemini, ChatRequest((Message("user", "Describe", parts),)), stream=stream)
    assert answer.text == "Hello from gemini! You said: Describe (saw 2 images)"


def test_reasoning_effort_brings_the_thoughts_as_reasoning(
    gemini: SimulatedGemini, stream: bool
) -> None:
    answer = ask(gemini, ChatRequest((USER,), reasoning_effort="low"), stream=stream)
    assert answer.reasoning == "Thinking about: Weather in Paris"
    assert answer.text == "Hello from gemini! You said: Weather in Paris"

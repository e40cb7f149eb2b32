"""SimulatedOllama's tools, structured output, images and thinking; the ollama SDK is the client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest

from cortex.simulated import SimulatedOllama

MODEL = "llama3.1:8b"
ASK = [{"role": "user", "content": "Weather in Paris"}]
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get weather for a city",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string", "description": "City"}},
        },
    },
}
CALL_ID = re.compile(r"call_[a-z0-9]{8}")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def client(ollama_module: SimulatedOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=ollama_module.base_url, timeout=5) as client:
        yield client


def chat_url(server: SimulatedOllama) -> str:
    return f"{server.url}/api/chat"


def test_a_tool_call_comes_back_whole_in_the_one_body(
    client: ollama.Client, ollama_server: SimulatedOllama
) -> None:
    result = client.chat(model=MODEL, messages=ASK, tools=[WEATHER], stream=False)
    assert result.message.content == ""
    assert result.done_reason == "stop"
    calls = result.message.tool_calls or []
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert ollama_server.requests[-1].body["tools"] == [WEATHER]


def test_the_raw_call_has_an_ollama_id_and_an_index(
    ollama_server: SimulatedOllama, http: httpx.Client
) -> None:
    body = {"model": MODEL, "messages": ASK, "tools": [WEATHER], "stream": False}
    (call,) = http.post(chat_url(ollama_server), json=body).json()["message"]["tool_calls"]
    assert CALL_ID.fullmatch(call["id"])
    assert call["function"] == {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}


def test_a_streamed_tool_call_arrives_whole_in_a_done_false_chunk(client: ollama.Client) -> None:
    chunks = list(client.chat(model=MODEL, messages=ASK, tools=[WEATHER], stream=True))
    # The docs tell clients to collect tool_calls across chunks.
    calls = [call for chunk in chunks for call in chunk.message.tool_calls or []]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert [(bool(c.message.tool_calls), c.done) for c in chunks] == [(True, False), (False, True)]
    assert chunks[-1].done_reason == "stop"


def test_the_raw_stream_is_one_ndjson_line_of_calls_then_the_final_line(
    ollama_server: SimulatedOllama, http: httpx.Client
) -> None:
    body = {"model": MODEL, "messages": ASK, "tools": [WEATHER]}
    lines = [
        json.loads(text) for text in http.post(chat_url(ollama_server), json=body).text.splitlines()
    ]
    assert [line["done"] for line in lines] == [False, True]
    (call,) = lines[0]["message"]["tool_calls"]
    assert CALL_ID.fullmatch(call["id"])
    assert call["function"]["index"] == 0
    assert lines[1]["message"] == {"role": "assistant", "content": ""}


def test_a_tool_result_is_answered_in_text(
    client: ollama.Client, ollama_server: SimulatedOllama
) -> None:
    first = client.chat(model=MODEL, messages=ASK, tools=[WEATHER], stream=False)
    history: list[Any] = [
        *ASK,
        first.message,
        {"role": "tool", "tool_name": "get_weather", "content": '{"temp_c": 18}'},
    ]
    result = client.chat(model=MODEL, messages=history, tools=[WEATHER], stream=False)
    assert result.message.content == 'Tool said: {"temp_c": 18}'
    assert not result.message.tool_calls
    sent = ollama_server.requests[-1].body["messages"]
    assert sent[1]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert sent[2] == {"role": "tool", "content": '{"temp_c": 18}', "tool_name": "get_weather"}


def test_a_tool_result_before_a_new_prompt_does_not_count(client: ollama.Client) -> None:
    history = [
        *ASK,
        {"role": "tool", "tool_name": "get_weather", "content": "18"},
        {"role": "user", "content": "And in Tokyo"},
    ]
    result = client.chat(model=MODEL, messages=history, tools=[WEATHER], stream=False)
    calls = result.message.tool_calls or []
    assert [dict(c.function.arguments) for c in calls] == [{"city": "Tokyo"}]


def test_a_schema_format_is_followed(client: ollama.Client, ollama_server: SimulatedOllama) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp_c": {"type": "number"}},
        "required": ["city", "temp_c"],
    }
    result = client.chat(model=MODEL, messages=ASK, format=schema, stream=False)
    assert json.loads(result.message.content or "") == {"city": "Paris", "temp_c": 1.5}
    assert ollama_server.requests[-1].body["format"] == schema


def test_json_format_answers_a_json_object(client: ollama.Client) -> None:
    chunks = list(client.chat(model=MODEL, messages=ASK, format="json", stream=True))
    text = "".join(chunk.message.content or "" for chunk in chunks)
    assert json.loads(text) == {"reply": "Hello from ollama! You said: Weather in Paris"}


def test_images_are_seen_as_bare_base64(
    client: ollama.Client, ollama_server: SimulatedOllama
) -> None:
    messages = [{"role": "user", "content": "What is this?", "images": [PNG, PNG]}]
    result = client.chat(model=MODEL, messages=messages, stream=False)
    assert (result.message.content or "").endswith("(saw 2 images)")
    assert ollama_server.requests[-1].body["messages"][0]["images"] == ["iVBORw0KGgo="] * 2


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            {"role": "user", "content": "x", "images": ["data:image/png;base64,iVBORw0KGgo="]},
            "base64",
        ),
        (
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
                ],
            },
            "cannot unmarshal string",
        ),
    ],
)
def test_what_the_real_server_cannot_decode_is_a_400(
    ollama_server: SimulatedOllama, http: httpx.Client, message: dict[str, Any], error: str
) -> None:
    # Raw, because the SDK itself refuses both before sending.
    body = {"model": MODEL, "messages": [*ASK, message], "stream": False}
    response = http.post(chat_url(ollama_server), json=body)
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_think_brings_thinking_first(client: ollama.Client) -> None:
    chunks = list(client.chat(model=MODEL, messages=ASK, think="low", stream=True))
    thinking = "".join(chunk.message.thinking or "" for chunk in chunks)
    assert thinking == "Let me think about that."
    first_text = next(i for i, chunk in enumerate(chunks) if chunk.message.content)
    assert all(chunk.message.thinking for chunk in chunks[:first_text])
    whole = client.chat(model=MODEL, messages=ASK, think=True, stream=False)
    assert whole.message.thinking == "Let me think about that."


def test_think_false_brings_no_thinking(client: ollama.Client) -> None:
    result = client.chat(model=MODEL, messages=ASK, think=False, stream=False)
    assert result.message.thinking is None

"""Tools, structured output, images and every other field, through a real daemon, per provider.

For each of the seven provider types (see ``provider_matrix``) the official ``openai`` SDK
talks to Cortex, and Cortex to simulated upstreams that speak the provider's exact wire
format, tool calls and all. Each test checks both ends: what the SDK parsed, and what the
upstream received in its native shape. Requests Ollama cannot honour (a required or named
tool choice, an image by URL) are refused with a 400 that names the field.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from provider_matrix import CASES, Matrix, running_matrix
from pydantic import BaseModel

WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the weather in Paris"}
]
PIXEL = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d49484452")).decode()
OPENAI_TYPES = ("openai", "groq", "xai")


class City(BaseModel):
    """The structured answer the json_schema tests ask for."""

    name: str
    population: int


@pytest.fixture(scope="module", params=sorted(CASES))
def surface_daemon(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    """One daemon per provider type, shared by that type's tests."""
    log_dir = tmp_path_factory.mktemp(f"chat-surface-{request.param}")
    with running_matrix(CASES[request.param], log_dir) as matrix:
        yield matrix


@pytest.fixture
def matrix(surface_daemon: Matrix) -> Iterator[Matrix]:
    """The provider type's daemon, settled before and after each test."""
    surface_daemon.settle()
    yield surface_daemon
    surface_daemon.settle()


def sent(matrix: Matrix) -> dict[str, Any]:
    """The body of the one generation request the primary upstream received."""
    chats = matrix.chats(matrix.primary)
    assert len(chats) == 1, chats
    body: dict[str, Any] = chats[0].body
    return body


def native_tool_names(provider: str, body: dict[str, Any]) -> list[str]:
    """The tool names an upstream request declares, read from its native shape."""
    if provider == "anthropic":
        return [tool["name"] for tool in body["tools"]]
    if provider == "gemini":
        return [d["name"] for tool in body["tools"] for d in tool["functionDeclarations"]]
    return [tool["function"]["name"] for tool in body["tools"]]


def test_a_tool_call_comes_back_whole_with_an_id_a_name_and_json_arguments(
    matrix: Matrix,
) -> None:
    answer = matrix.client.chat.completions.create(
        model="auto", messages=ASK, tools=[WEATHER, TIME]
    )

    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert answer.usage is not None
    assert answer.usage.completion_tokens >= 0
    assert native_tool_names(matrix.case.type, sent(matrix)) == ["get_weather", "get_time"]


def test_a_streamed_tool_call_is_assembled_by_the_sdk_without_doubled_ids_or_names(
    matrix: Matrix,
) -> None:
    with matrix.client.chat.completions.stream(
        model="auto", messages=ASK, tools=[WEATHER], stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()

    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert call.id
    assert call.id.count(call.id[:5]) == 1
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert final.usage is not None


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_round_trip_ends_in_an_answer_that_uses_the_result(
    matrix: Matrix, stream: bool
) -> None:
    first = matrix.client.chat.completions.create(model="auto", messages=ASK, tools=[WEATHER])
    [call] = first.choices[0].message.tool_calls or []
    assert call.type == "function"
    history: list[ChatCompletionMessageParam] = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'},
    ]
    matrix.primary.reset()

    if stream:
        chunks = list(
            matrix.client.chat.completions.create(
                model="auto", messages=history, tools=[WEATHER], stream=True
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        answer = matrix.client.chat.completions.create(
            model="auto", messages=history, tools=[WEATHER]
        )
        text, finish = answer.choices[0].message.content or "", answer.choices[0].finish_reason

    assert text == 'Tool said: {"temp_c": 18}'
    assert finish == "stop"
    assert len(matrix.chats(matrix.primary)) == 1


def test_tool_choice_none_answers_in_text(matrix: Matrix) -> None:
    answer = matrix.client.chat.completions.create(
        model="auto", messages=ASK, tools=[WEATHER], tool_choice="none"
    )

    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content == f"Hello from {matrix.primary.name}! You said: " + (
        "What is the weather in Paris"
    )


@pytest.mark.parametrize(
    "choice",
    ["required", {"type": "function", "function": {"name": "get_time"}}],
    ids=["required", "named"],
)
def test_a_required_or_named_tool_choice_is_honoured_or_refused_by_name(
    matrix: Matrix, choice: Any
) -> None:
    def ask() -> openai.types.chat.ChatCompletion:
        return matrix.client.chat.completions.create(
            model="auto", messages=ASK, tools=[WEATHER, TIME], tool_choice=choice
        )

    if matrix.case.type == "ollama":
        with pytest.raises(openai.BadRequestError) as caught:
            ask()
        assert caught.value.code == "unsupported_parameter"
        assert "tool_choice" in caught.value.message
        assert "ollama" in caught.value.message
        assert matrix.chats(matrix.primary) == []
        return
    [call] = ask().choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == ("get_weather" if choice == "required" else "get_time")


def test_json_schema_output_is_parsed_by_the_sdk(matrix: Matrix) -> None:
    answer = matrix.client.chat.completions.parse(
        model="auto",
        messages=[{"role": "user", "content": "Describe the capital of France"}],
        response_format=City,
    )

    assert answer.choices[0].message.parsed == City(name="France", population=1)


def test_json_object_output_is_a_json_object(matrix: Matrix) -> None:
    answer = matrix.client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Answer in JSON please"}],
        response_format={"type": "json_object"},
    )

    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


def test_an_inline_image_reaches_the_model(matrix: Matrix) -> None:
    answer = matrix.client.chat.completions.create(
        model="auto",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PIXEL}", "detail": "low"},
                    },
                ],
            }
        ],
    )

    assert (answer.choices[0].message.content or "").endswith("(saw 1 image)")
    assert PIXEL in json.dumps(sent(matrix))


def test_an_image_by_url_reaches_the_model_or_is_refused_by_name(matrix: Matrix) -> None:
    def ask() -> openai.types.chat.ChatCompletion:
        return matrix.client.chat.completions.create(
            model="auto",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                }
            ],
        )

    if matrix.case.type == "ollama":
        with pytest.raises(openai.BadRequestError) as caught:
            ask()
        assert "image_url (by URL)" in caught.value.message
        return
    assert (ask().choices[0].message.content or "").endswith("(saw 1 image)")
    assert "https://example.com/cat.png" in json.dumps(sent(matrix))


def test_a_field_the_provider_lacks_is_declared_dropped_and_one_it_has_is_forwarded(
    matrix: Matrix,
) -> None:
    raw = matrix.client.chat.completions.with_raw_response.create(
        model="auto",
        messages=ASK,
        logit_bias={"50256": -100},
        seed=7,
        extra_body={"vendor_knob": 3},
    )
    raw.parse()
    dropped = raw.headers.get("X-Cortex-Dropped-Params", "")
    body = sent(matrix)

    if matrix.case.type in OPENAI_TYPES:
        assert dropped == ""
        assert (body["logit_bias"], body["seed"], body["vendor_knob"]) == ({"50256": -100}, 7, 3)
        return
    has_seed = matrix.case.type != "anthropic"  # the Messages API takes no seed
    expected = {"logit_bias", "vendor_knob"} | (set() if has_seed else {"seed"})
    assert {name.strip() for name in dropped.split(",")} == expected
    assert "vendor_knob" not in json.dumps(body)
    assert "logit_bias" not in json.dumps(body)
    assert ("7" in json.dumps(body)) is has_seed  # the seed, in the provider's own place


def test_a_streamed_answer_declares_its_dropped_fields_in_a_header(matrix: Matrix) -> None:
    with matrix.client.chat.completions.with_streaming_response.create(
        model="auto", messages=ASK, stream=True, extra_body={"vendor_knob": 3}
    ) as response:
        dropped = response.headers.get("X-Cortex-Dropped-Params")
        list(response.iter_lines())

    assert dropped == (None if matrix.case.type in OPENAI_TYPES else "vendor_knob")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_several_choices_come_from_providers_that_give_them_and_are_refused_by_the_rest(
    matrix: Matrix, stream: bool
) -> None:
    def ask() -> dict[int, str]:
        if not stream:
            answer = matrix.client.chat.completions.create(model="auto", messages=ASK, n=2)
            return {choice.index: choice.message.content or "" for choice in answer.choices}
        texts: dict[int, str] = {}
        chunks = matrix.client.chat.completions.create(model="auto", messages=ASK, n=2, stream=True)
        for chunk in chunks:
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
        return texts

    if matrix.case.type not in ("openai", "xai"):
        with pytest.raises(openai.BadRequestError) as caught:
            ask()
        assert caught.value.code == "unsupported_parameter"
        assert f"{matrix.case.type}): n" in caught.value.message
        return
    texts = ask()
    expected = f"Hello from {matrix.primary.name}! You said: What is the weather in Paris"
    assert texts == {0: expected, 1: expected}
    assert sent(matrix)["n"] == 2


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_reasoning_effort_reaches_the_provider_and_its_reasoning_comes_back(
    matrix: Matrix, stream: bool
) -> None:
    if stream:
        chunks = list(
            matrix.client.chat.completions.create(
                model="auto", messages=ASK, reasoning_effort="low", stream=True
            )
        )
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
        text = "".join(d.content or "" for d in deltas)
    else:
        message = (
            matrix.client.chat.completions.create(
                model="auto", messages=ASK, reasoning_effort="low"
            )
            .choices[0]
            .message
        )
        reasoning = (message.model_extra or {}).get("reasoning_content") or ""
        text = message.content or ""

    assert text.startswith(f"Hello from {matrix.primary.name}!")
    body = json.dumps(sent(matrix))
    if matrix.case.type in OPENAI_TYPES:
        assert sent(matrix)["reasoning_effort"] == "low"
        return
    assert reasoning  # the provider's thinking, as reasoning_content
    assert reasoning not in text
    assert {"anthropic": '"budget_tokens": 1024', "gemini": '"thinkingBudget": 1024'}.get(
        matrix.case.type, ""
    ) in body

"""SimulatedAnthropic's tools, structured output, images and thinking, read by the anthropic SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, ToolParam
from pydantic import BaseModel

from cortex.simulated import SimulatedAnthropic

KEY = "sk-ant-sim-key-1"
MODEL = "claude-sonnet-4-6"
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Get weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}
NOW: ToolParam = {"name": "now", "input_schema": {"type": "object", "properties": {}}}
ASK: list[MessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


@pytest.fixture(scope="module")
def client(anthropic_module: SimulatedAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=anthropic_module.base_url, api_key=KEY, max_retries=0, timeout=5
    ) as client:
        yield client


def test_a_tool_call_comes_back_as_a_tool_use_block(
    client: anthropic.Anthropic, anthropic_server: SimulatedAnthropic
) -> None:
    message = client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER], messages=ASK)
    block = message.content[0]
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == (
        "toolu_get_weather_1",
        "get_weather",
        {"city": "Paris", "days": 1},
    )
    assert (len(message.content), message.stop_reason) == (1, "tool_use")
    assert anthropic_server.requests[-1].body["tools"] == [WEATHER]


def test_a_streamed_tool_call_is_rebuilt_by_the_sdk(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        tools=[NOW, WEATHER],
        messages=ASK,
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        partials = [event.partial_json for event in stream if event.type == "input_json"]
        final = stream.get_final_message()
    block = final.content[0]
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"city": "Paris", "days": 1})
    assert "".join(partials) == '{"city":"Paris","days":1}'
    assert len(partials) > 2  # an empty first fragment, then the input in pieces
    assert final.stop_reason == "tool_use"


def test_a_tool_without_parameters_streams_an_empty_input(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, tools=[NOW], messages=ASK) as stream:
        final = stream.get_final_message()
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [("tool_use", {})]


def test_tool_choice_none_answers_in_text(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER], tool_choice={"type": "none"}, messages=ASK
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.stop_reason == "end_turn"


def loop(results: list[dict[str, Any]]) -> list[MessageParam]:
    calls = [
        {"type": "tool_use", "id": f"toolu_{n}", "name": "get_weather", "input": {"city": "Paris"}}
        for n in range(len(results))
    ]
    return [*ASK, {"role": "assistant", "content": calls}, {"role": "user", "content": results}]


def test_tool_results_are_answered_in_text(
    client: anthropic.Anthropic, anthropic_server: SimulatedAnthropic
) -> None:
    results = [
        {"type": "tool_result", "tool_use_id": "toolu_0", "content": "18C"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "rain"}],
        },
    ]
    message = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER], messages=loop(results)
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Tool said: 18C | rain"
    assert anthropic_server.requests[-1].body["messages"][2]["content"] == results


@pytest.mark.parametrize(
    ("results", "match"),
    [
        (
            [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}],
            "unexpected `tool_use_id`",
        ),
        ([{"type": "text", "text": "never mind"}], "without `tool_result` blocks"),
    ],
    ids=["a result without its call", "a call without its result"],
)
def test_unpaired_calls_and_results_are_refused(
    client: anthropic.Anthropic, results: list[dict[str, Any]], match: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=match):
        client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER], messages=loop(results))


class City(BaseModel):
    name: str
    population: int


def test_structured_output_is_parsed_by_the_sdk(
    client: anthropic.Anthropic, anthropic_server: SimulatedAnthropic
) -> None:
    answer = client.messages.parse(
        model=MODEL,
        max_tokens=100,
        output_format=City,
        messages=[{"role": "user", "content": "Biggest city?"}],
    )
    assert answer.parsed_output == City(name="city", population=1)
    sent = anthropic_server.requests[-1].body["output_config"]["format"]
    assert (sent["type"], sent["schema"]["required"]) == ("json_schema", ["name", "population"])


def test_images_by_data_and_by_url_are_seen(client: anthropic.Anthropic) -> None:
    content: list[Any] = [
        {"type": "text", "text": "Describe these."},
        {"type": "image", "source": PNG},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text.endswith("(saw 2 images)")


def test_an_image_of_another_media_type_is_refused(client: anthropic.Anthropic) -> None:
    bmp = {"type": "image", "source": {**PNG, "media_type": "image/bmp"}}
    with pytest.raises(anthropic.BadRequestError, match="media_type"):
        client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[{"role": "user", "content": [bmp]}],  # type: ignore[list-item]
        )


THINK: Any = {"type": "enabled", "budget_tokens": 1024}


def test_thinking_comes_first_whole(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=2048, thinking=THINK, messages=ASK)
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "The user wrote: Weather in Paris?"  # type: ignore[union-attr]


def test_streamed_thinking_is_rebuilt_by_the_sdk(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=2048, thinking=THINK, messages=ASK
    ) as stream:
        thoughts = [event.thinking for event in stream if event.type == "thinking"]
        final = stream.get_final_message()
    thinking = final.content[0]
    assert thinking.type == "thinking"
    assert thinking.thinking == "".join(thoughts) == "The user wrote: Weather in Paris?"
    assert thinking.signature
    assert final.content[1].type == "text"


def test_thinking_then_a_tool_call_streams_both(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=2048, thinking=THINK, tools=[WEATHER], messages=ASK
    ) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "tool_use"]
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"tool_choice": {"type": "any"}}, "forces tool use"),
        ({"max_tokens": 1024}, "greater than `thinking.budget_tokens`"),
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "greater than or equal to 1024"),
        (
            {"messages": loop([{"type": "tool_result", "tool_use_id": "toolu_0"}])},
            "must start with a thinking",
        ),
    ],
    ids=["forced tool", "budget not below max_tokens", "budget too small", "tool loop"],
)
def test_thinking_requests_the_api_refuses_are_refused(
    client: anthropic.Anthropic, fields: dict[str, Any], match: str
) -> None:
    request: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 2048,
        "thinking": THINK,
        "tools": [WEATHER],
        "messages": ASK,
    }
    with pytest.raises(anthropic.BadRequestError, match=match):
        client.messages.create(**{**request, **fields})

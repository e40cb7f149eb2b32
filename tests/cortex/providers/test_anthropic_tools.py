"""AnthropicAdapter: tools, images, structured output and thinking, both ways."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from cortex.chat import (
    ChatRequest,
    Finished,
    ImagePart,
    Message,
    ReasoningDelta,
    ResponseFormat,
    StreamFailed,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
    WholeAnswer,
    fold,
    is_incomplete,
)
from cortex.providers.anthropic import AnthropicAdapter
from cortex.providers.anthropic_tools import JSON_TOOL
from cortex.providers.base import Target
from cortex.providers.capabilities import Fit

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode

TARGET = Target("https://api.anthropic.com", "claude-sonnet-4-5", "sk-ant-x")
WEATHER = Tool(
    "get_weather",
    "Get weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
WEATHER_JSON = {
    "name": "get_weather",
    "description": "Get weather for a city",
    "input_schema": WEATHER.parameters,
}
ASK = Message("user", "Weather in Paris?")
PNG = "data:image/png;base64,iVBORw0KGgo="


def body(request: ChatRequest, *, adapter: AnthropicAdapter | None = None) -> dict[str, Any]:
    call = (adapter or AnthropicAdapter()).chat_call(TARGET, request, stream=False)
    assert call.json is not None
    return dict(call.json)


def ask(**fields: Any) -> ChatRequest:
    return ChatRequest((ASK,), **fields)


# -- request: tools and tool choice (table 1.6) --------------------------------------------


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, {"type": "auto"}),
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("none"), None, {"type": "none"}),
        (ToolChoice("required"), None, {"type": "any"}),
        (ToolChoice("required", "get_weather"), None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (
            ToolChoice("required", "get_weather"),
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        (ToolChoice("none"), False, {"type": "none"}),
        (ToolChoice("auto"), True, {"type": "auto"}),
    ],
)
def test_tool_choice_follows_the_mapping_table(
    choice: ToolChoice | None, parallel: bool | None, expected: Mapping[str, Any]
) -> None:
    sent = body(ask(tools=(WEATHER,), tool_choice=choice, parallel_tool_calls=parallel))
    assert sent["tools"] == [WEATHER_JSON]
    assert sent["tool_choice"] == expected


def test_the_tool_request_is_built_byte_for_byte() -> None:
    request = ask(tools=(WEATHER,), parallel_tool_calls=False)
    assert json.dumps(body(request), separators=(",", ":")) == (
        '{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Weather in Paris?"}],'
        '"max_tokens":1024,"stream":false,"tools":[{"name":"get_weather",'
        '"description":"Get weather for a city","input_schema":{"type":"object",'
        '"properties":{"city":{"type":"string"}},"required":["city"]}}],'
        '"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}'
    )


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (Tool("now"), {"name": "now", "input_schema": {"type": "object", "properties": {}}}),
        (
            Tool("f", "does f", {"properties": {"a": {"type": "integer"}}}, strict=True),
            {
                "name": "f",
                "description": "does f",
                "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
                "strict": True,
            },
        ),
    ],
    ids=["no parameters", "schema without a type, strict"],
)
def test_a_tool_definition_always_has_an_object_schema(
    tool: Tool, expected: Mapping[str, Any]
) -> None:
    assert body(ask(tools=(tool,)))["tools"] == [expected]


def test_no_tools_means_no_tool_fields() -> None:
    sent = body(ask(tool_choice=ToolChoice("auto"), parallel_tool_calls=False))
    assert "tools" not in sent
    assert "tool_choice" not in sent


# -- request: the conversation ---------------------------------------------------------------


CALLS = (
    ToolCall("toolu_01A", "get_weather", '{"city":"Paris"}'),
    ToolCall("call_b2", "get_weather", ""),
)


def test_calls_and_their_results_become_tool_use_and_one_user_message_of_results() -> None:
    request = ChatRequest(
        (
            Message("system", "be brief"),
            ASK,
            Message("assistant", "Checking.", tool_calls=CALLS),
            Message("tool", '{"temp_c":18}', tool_call_id="toolu_01A"),
            Message("tool", "", tool_call_id="call_b2"),
            Message("user", "And tomorrow?"),
        )
    )
    sent = body(request)
    assert sent["system"] == "be brief"
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "call_b2", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": '{"temp_c":18}'},
                {"type": "tool_result", "tool_use_id": "call_b2"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


def test_an_assistant_turn_that_only_calls_has_no_text_block() -> None:
    request = ChatRequest((ASK, Message("assistant", "", tool_calls=CALLS[:1])))
    assert body(request)["messages"][1] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_01A",
                "name": "get_weather",
                "input": {"city": "Paris"},
            }
        ],
    }


def test_results_followed_by_an_assistant_turn_stay_their_own_user_message() -> None:
    request = ChatRequest(
        (
            ASK,
            Message("assistant", "", tool_calls=CALLS[:1]),
            Message("tool", "18", tool_call_id="toolu_01A"),
            Message("assistant", "It is 18."),
            Message("user", "Thanks"),
        )
    )
    roles = [(m["role"], m["content"]) for m in body(request)["messages"]]
    assert roles[2:] == [
        ("user", [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18"}]),
        ("assistant", "It is 18."),
        ("user", "Thanks"),
    ]


@pytest.mark.parametrize("arguments", ["[1, 2]", "not json", '"text"', "{"])
def test_arguments_that_are_not_a_json_object_are_a_value_error(arguments: str) -> None:
    request = ChatRequest(
        (ASK, Message("assistant", "", tool_calls=(ToolCall("c", "f", arguments),)))
    )
    with pytest.raises(ValueError, match="arguments of tool call 'c'"):
        AnthropicAdapter().chat_call(TARGET, request, stream=True)


# -- request: images --------------------------------------------------------------------------


def test_images_become_image_blocks_in_order() -> None:
    parts = (
        TextPart("Describe these."),
        ImagePart(PNG),
        ImagePart("https://example.com/cat.jpg"),
        TextPart(""),
    )
    request = ChatRequest((Message("user", "Describe these.", parts=parts),))
    assert body(request)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe these."},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        }
    ]


def test_an_image_only_message_is_kept() -> None:
    request = ChatRequest((Message("user", "", parts=(ImagePart(PNG),)),))
    assert len(body(request)["messages"][0]["content"]) == 1


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("data:image/bmp;base64,Qk0=", "not image/bmp"),
        ("data:image/png,rawtext", "base64 data: URLs or http"),
        ("ftp://example.com/cat.png", "base64 data: URLs or http"),
    ],
)
def test_an_image_anthropic_cannot_take_is_unmet_and_a_value_error(url: str, match: str) -> None:
    request = ChatRequest((Message("user", "look", parts=(TextPart("look"), ImagePart(url))),))
    assert AnthropicAdapter().fit(request).unmet == ("image_url",)
    with pytest.raises(ValueError, match=match):
        AnthropicAdapter().chat_call(TARGET, request, stream=False)


# -- request: structured output ---------------------------------------------------------------


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def test_a_json_schema_becomes_output_config_format() -> None:
    sent = body(ask(response_format=ResponseFormat("json_schema", SCHEMA, name="City")))
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "tools" not in sent


JSON_TOOL_JSON = {
    "name": JSON_TOOL,
    "description": "Give the whole answer as a JSON object.",
    "input_schema": {"type": "object"},
}
FORCED_JSON = {"type": "tool", "name": JSON_TOOL, "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("tools", "choice", "expected_tools", "expected_choice"),
    [
        ((), None, [JSON_TOOL_JSON], FORCED_JSON),
        (
            (WEATHER,),
            None,
            [WEATHER_JSON, JSON_TOOL_JSON],
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        ((WEATHER,), ToolChoice("none"), [WEATHER_JSON, JSON_TOOL_JSON], FORCED_JSON),
        ((WEATHER,), ToolChoice("required"), [WEATHER_JSON], {"type": "any"}),
        (
            (WEATHER,),
            ToolChoice("required", "get_weather"),
            [WEATHER_JSON],
            {"type": "tool", "name": "get_weather"},
        ),
    ],
    ids=["alone", "with tools on auto", "with tools on none", "required", "named"],
)
def test_json_mode_is_a_forced_reserved_tool(
    tools: tuple[Tool, ...],
    choice: ToolChoice | None,
    expected_tools: list[Any],
    expected_choice: Mapping[str, Any],
) -> None:
    request = ask(tools=tools, tool_choice=choice, response_format=ResponseFormat("json_object"))
    sent = body(request)
    assert (sent["tools"], sent["tool_choice"]) == (expected_tools, expected_choice)
    assert "output_config" not in sent


# -- request: reasoning and options -------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "max_tokens", "thinking", "sent_max"),
    [
        ("low", None, {"type": "enabled", "budget_tokens": 1024}, 2048),
        ("medium", 8000, {"type": "enabled", "budget_tokens": 4096}, 8000),
        ("medium", 100, {"type": "enabled", "budget_tokens": 4096}, 4196),
        ("high", 16384, {"type": "enabled", "budget_tokens": 16384}, 32768),
        ("minimal", 50, None, 50),
        (None, 50, None, 50),
    ],
)
def test_reasoning_effort_is_a_thinking_budget_below_max_tokens(
    effort: str | None, max_tokens: int | None, thinking: object, sent_max: int
) -> None:
    request = ask(reasoning_effort=effort, max_tokens=max_tokens)
    sent = body(request)
    assert (sent.get("thinking"), sent["max_tokens"]) == (thinking, sent_max)
    assert AnthropicAdapter().fit(request) == Fit()


IN_LOOP = (
    ASK,
    Message("assistant", "", tool_calls=CALLS[:1]),
    Message("tool", "18", tool_call_id="toolu_01A"),
)


@pytest.mark.parametrize(
    "request_",
    [
        ask(tools=(WEATHER,), tool_choice=ToolChoice("required"), reasoning_effort="high"),
        ask(tools=(WEATHER,), tool_choice=ToolChoice("required", "f"), reasoning_effort="low"),
        ask(response_format=ResponseFormat("json_object"), reasoning_effort="medium"),
        ChatRequest(IN_LOOP, tools=(WEATHER,), reasoning_effort="medium"),
    ],
    ids=["required", "named", "json mode", "inside a tool loop"],
)
def test_thinking_yields_to_forced_tools_and_tool_loops(request_: ChatRequest) -> None:
    assert "thinking" not in body(request_)
    assert AnthropicAdapter().fit(request_).dropped == ("reasoning_effort",)


def test_thinking_keeps_auto_tool_choice() -> None:
    request = ask(tools=(WEATHER,), reasoning_effort="low")
    assert body(request)["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert AnthropicAdapter().fit(request) == Fit()


@pytest.mark.parametrize(
    ("fields", "sent", "dropped"),
    [
        ({"temperature": 0.5, "top_p": 0.9}, {"temperature": 0.5}, ("top_p",)),
        ({"temperature": 1.5}, {}, ("temperature",)),
        ({"top_p": 0.9, "options": {"top_k": 5}}, {"top_p": 0.9, "top_k": 5}, ()),
        (
            {"temperature": 0.5, "top_p": 0.9, "options": {"top_k": 5}, "reasoning_effort": "low"},
            {},
            ("temperature", "top_p", "top_k"),
        ),
        ({"temperature": 1.0, "reasoning_effort": "low"}, {"temperature": 1.0}, ()),
        ({"top_p": 0.97, "reasoning_effort": "low"}, {"top_p": 0.97}, ()),
    ],
    ids=["top_p yields", "above 1", "plain", "thinking drops", "temperature 1", "top_p high"],
)
def test_sampling_that_anthropic_refuses_is_dropped_and_named(
    fields: dict[str, Any], sent: Mapping[str, Any], dropped: tuple[str, ...]
) -> None:
    request = ask(**fields)
    built = body(request)
    assert {key: built[key] for key in ("temperature", "top_p", "top_k") if key in built} == sent
    assert AnthropicAdapter().fit(request).dropped == dropped


def test_user_becomes_metadata_user_id_and_other_options_are_dropped() -> None:
    request = ask(options={"user": "u-42", "seed": 7, "metadata": {"a": "b"}}, extra={"foo": 1})
    sent = body(request)
    assert sent["metadata"] == {"user_id": "u-42"}
    assert "seed" not in sent
    assert "foo" not in sent
    assert AnthropicAdapter().fit(request).dropped == ("metadata", "seed", "foo")


def test_image_detail_and_several_choices_are_reported() -> None:
    message = Message("user", "look", parts=(TextPart("look"), ImagePart(PNG, "low")))
    assert AnthropicAdapter().fit(ChatRequest((message,), n=2)) == Fit(
        ("n",), ("image_url.detail",)
    )


# -- decoding: streams -------------------------------------------------------------------------


def sse(data: Mapping[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def start(index: int, block: Mapping[str, Any]) -> bytes:
    return sse({"type": "content_block_start", "index": index, "content_block": block})


def delta(index: int, **fields: Any) -> bytes:
    return sse({"type": "content_block_delta", "index": index, "delta": fields})


def stop(index: int) -> bytes:
    return sse({"type": "content_block_stop", "index": index})


def ending(reason: str) -> bytes:
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": {"output_tokens": 9},
    }
    return sse(message_delta) + sse({"type": "message_stop"})


HEAD = sse(
    {
        "type": "message_start",
        "message": {"id": "msg_1", "content": [], "usage": {"input_tokens": 4, "output_tokens": 1}},
    }
)


def use(index: int, id_: str, name: str) -> bytes:
    return start(index, {"type": "tool_use", "id": id_, "name": name, "input": {}})


def json_delta(index: int, text: str) -> bytes:
    return delta(index, type="input_json_delta", partial_json=text)


THINKING_AND_CALLS = b"".join(
    [
        HEAD,
        start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, type="thinking_delta", thinking="User wants "),
        delta(0, type="thinking_delta", thinking="weather."),
        delta(0, type="signature_delta", signature="EqQB"),
        stop(0),
        start(1, {"type": "text", "text": ""}),
        delta(1, type="text_delta", text="Checking."),
        stop(1),
        use(2, "toolu_01A", "get_weather"),
        json_delta(2, ""),
        sse({"type": "ping"}),
        json_delta(2, '{"city":'),
        json_delta(2, ' "Paris"}'),
        stop(2),
        use(3, "toolu_01B", "now"),
        json_delta(3, ""),
        stop(3),
        ending("tool_use"),
    ]
)


def test_a_stream_of_thinking_text_and_calls_decodes_in_order(decode: Decode) -> None:
    assert decode(AnthropicAdapter().decoder(), THINKING_AND_CALLS) == [
        ReasoningDelta("User wants "),
        ReasoningDelta("weather."),
        ReasoningDelta("", signature="EqQB"),  # the signature_delta, kept for the client
        TextDelta("Checking."),
        ToolCallDelta(0, "toolu_01A", "get_weather", ""),
        ToolCallDelta(0, arguments='{"city":'),
        ToolCallDelta(0, arguments=' "Paris"}'),
        ToolCallDelta(1, "toolu_01B", "now", ""),
        ToolCallDelta(1, arguments="{}"),
        Finished("tool_calls"),
        Usage(4, 9),
    ]


def test_the_folded_stream_holds_whole_calls_and_reasoning(decode: Decode) -> None:
    answer = fold(decode(AnthropicAdapter().decoder(), THINKING_AND_CALLS), worker="w", model="m")
    assert isinstance(answer, WholeAnswer)
    assert answer.tool_calls == (
        ToolCall("toolu_01A", "get_weather", '{"city": "Paris"}'),
        ToolCall("toolu_01B", "now", "{}"),
    )
    assert (answer.text, answer.reasoning, answer.finish_reason) == (
        "Checking.",
        "User wants weather.",
        "tool_calls",
    )


@pytest.mark.parametrize(
    ("fragments", "text"),
    [(["", '{"rep', 'ly": "hi"}'], '{"reply": "hi"}'), ([""], "{}")],
    ids=["fragments", "empty input"],
)
def test_the_json_tool_streams_as_text_and_finishes_stop(
    decode: Decode, fragments: list[str], text: str
) -> None:
    stream = b"".join(
        [
            HEAD,
            use(0, "toolu_01J", JSON_TOOL),
            *(json_delta(0, fragment) for fragment in fragments),
            stop(0),
            ending("tool_use"),
        ]
    )
    events = decode(AnthropicAdapter().decoder(), stream)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    assert Finished("stop") in events


def test_a_call_beside_the_json_tool_still_finishes_tool_calls(decode: Decode) -> None:
    stream = b"".join(
        [
            HEAD,
            use(0, "toolu_1", JSON_TOOL),
            stop(0),
            use(1, "toolu_2", "f"),
            stop(1),
            ending("tool_use"),
        ]
    )
    events = decode(AnthropicAdapter().decoder(), stream)
    assert events[:3] == [
        TextDelta("{}"),
        ToolCallDelta(0, "toolu_2", "f", ""),
        ToolCallDelta(0, arguments="{}"),
    ]
    assert Finished("tool_calls") in events


def test_a_call_ended_by_max_tokens_finishes_length(decode: Decode) -> None:
    stream = HEAD + use(0, "toolu_1", "f") + json_delta(0, '{"a"') + ending("max_tokens")
    assert Finished("length") in decode(AnthropicAdapter().decoder(), stream)


def test_a_call_stream_without_its_end_signal_is_incomplete(decode: Decode) -> None:
    stream = HEAD + use(0, "toolu_1", "f") + json_delta(0, "{}")
    last = decode(AnthropicAdapter().decoder(), stream)[-1]
    assert isinstance(last, StreamFailed)
    assert is_incomplete(last.failure)


# -- decoding: whole bodies --------------------------------------------------------------------


def message(content: list[Mapping[str, Any]], reason: str) -> bytes:
    payload = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 412, "output_tokens": 96},
    }
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("content", "reason", "events"),
    [
        (
            [
                {"type": "thinking", "thinking": "User wants weather.", "signature": "EqQB"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_01B", "name": "now", "input": {}},
            ],
            "tool_use",
            [
                ReasoningDelta("User wants weather.", signature="EqQB"),
                TextDelta("Checking."),
                ToolCallDelta(0, "toolu_01A", "get_weather", '{"city":"Paris"}'),
                ToolCallDelta(1, "toolu_01B", "now", "{}"),
                Finished("tool_calls"),
            ],
        ),
        (
            [{"type": "tool_use", "id": "toolu_01J", "name": JSON_TOOL, "input": {"reply": "é"}}],
            "tool_use",
            [TextDelta('{"reply":"é"}'), Finished("stop")],
        ),
        (
            [{"type": "text", "text": '{"name":"Paris"}'}],
            "end_turn",
            [TextDelta('{"name":"Paris"}'), Finished("stop")],
        ),
        ([], "refusal", [Finished("content_filter")]),
    ],
    ids=["thinking, text and calls", "json tool", "json schema text", "refusal"],
)
def test_a_whole_message_decodes_in_block_order(
    content: list[Mapping[str, Any]], reason: str, events: list[object]
) -> None:
    assert AnthropicAdapter().parse_completion(message(content, reason)) == [
        *events,
        Usage(412, 96),
    ]


def test_ids_from_another_provider_are_made_acceptable_and_stay_paired() -> None:
    gemini_id = "call~0123456789abcdef~ts~b3BhcXVl+/=="
    request = ChatRequest(
        messages=(
            Message("user", "weather?"),
            Message("assistant", "", tool_calls=(ToolCall(gemini_id, "get_weather", "{}"),)),
            Message("tool", "18", tool_call_id=gemini_id),
        )
    )

    call = AnthropicAdapter().chat_call(Target("http://x", "m"), request, stream=False)
    assert call.json is not None
    use = call.json["messages"][1]["content"][0]  # type: ignore[index]
    result = call.json["messages"][2]["content"][0]  # type: ignore[index]
    assert use["id"] == result["tool_use_id"] == "call_0123456789abcdef_ts_b3BhcXVl____"

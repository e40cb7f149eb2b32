"""CohereAdapter: tools, structured output, images and reasoning, both ways, and fit().

The wire shapes are WIRE_FORMATS_TOOLS.md sections 1.4, 2.4, 3.4, 4.4, 5 and 6.4.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from actors.outcomes import ErrorKind
from cortex.chat import (
    ChatRequest,
    Finished,
    ImagePart,
    Malformed,
    Message,
    ReasoningDelta,
    ResponseFormat,
    StreamEvent,
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
)
from cortex.providers.base import Target
from cortex.providers.capabilities import Fit
from cortex.providers.cohere import CohereAdapter

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode

TARGET = Target("https://api.cohere.com", "command-a-03-2025", "co-key")
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "Get weather for a city", CITY)
CLOCK = Tool("get_time")
ASK = Message("user", "Weather in Paris?")
CALL = ToolCall("get_weather_k3d9x", "get_weather", '{"city":"Paris"}')
USAGE = {
    "billed_units": {"input_tokens": 40, "output_tokens": 20},
    "tokens": {"input_tokens": 900, "output_tokens": 45},
}


def body(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    return dict(CohereAdapter().chat_call(TARGET, request, stream=stream).json or {})


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- request -------------------------------------------------------------------------


def test_a_tool_call_request_is_built_byte_for_byte() -> None:
    request = ChatRequest(
        (ASK,),
        tools=(Tool("get_weather", "Get weather for a city", CITY, strict=True),),
        tool_choice=ToolChoice("required"),
    )
    assert compact(body(request)) == (
        '{"model":"command-a-03-2025","messages":[{"role":"user","content":"Weather in Paris?"}],'
        '"stream":false,"tools":[{"type":"function","function":{"name":"get_weather",'
        '"description":"Get weather for a city","parameters":{"type":"object","properties":'
        '{"city":{"type":"string"}},"required":["city"]}}}],"strict_tools":true,'
        '"tool_choice":"REQUIRED"}'
    )


def test_a_tool_without_parameters_gets_an_empty_object_schema() -> None:
    [tool] = body(ChatRequest((ASK,), tools=(CLOCK,)))["tools"]
    assert tool == {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }


@pytest.mark.parametrize(
    ("choice", "fields"),
    [
        (None, {"tools": ["get_weather", "get_time"]}),
        (ToolChoice("auto"), {"tools": ["get_weather", "get_time"]}),
        (ToolChoice("none"), {"tools": ["get_weather", "get_time"], "tool_choice": "NONE"}),
        (
            ToolChoice("required"),
            {"tools": ["get_weather", "get_time"], "tool_choice": "REQUIRED"},
        ),
        (ToolChoice("required", "get_time"), {"tools": ["get_time"], "tool_choice": "REQUIRED"}),
    ],
    ids=["absent", "auto", "none", "required", "named"],
)
def test_tool_choice_follows_the_mapping_table(
    choice: ToolChoice | None, fields: dict[str, Any]
) -> None:
    sent = body(ChatRequest((ASK,), tools=(WEATHER, CLOCK), tool_choice=choice))
    found = {key: sent[key] for key in ("tools", "tool_choice") if key in sent}
    found["tools"] = [tool["function"]["name"] for tool in found["tools"]]
    assert found == fields


def test_strict_tools_is_left_out_when_no_tool_is_strict() -> None:
    sent = body(ChatRequest((ASK,), tools=(Tool("get_weather", None, CITY, strict=False),)))
    assert "strict_tools" not in sent
    assert "strict" not in sent["tools"][0]["function"]


def test_a_named_choice_outside_the_tools_raises_value_error() -> None:
    request = ChatRequest((ASK,), tools=(WEATHER,), tool_choice=ToolChoice("required", "nope"))
    with pytest.raises(ValueError, match="'nope', which is not among the tools"):
        body(request)


def test_a_tool_round_trip_history_is_sent_in_cohere_shape() -> None:
    request = ChatRequest(
        (
            Message("developer", "Use tools."),
            ASK,
            Message("assistant", "", tool_calls=(CALL,)),
            Message("tool", '{"temp_c": 18}', tool_call_id=CALL.id, name="get_weather"),
        ),
        tools=(WEATHER,),
    )
    assert compact(body(request)["messages"]) == (
        '[{"role":"system","content":"Use tools."},'
        '{"role":"user","content":"Weather in Paris?"},'
        '{"role":"assistant","tool_calls":[{"id":"get_weather_k3d9x","type":"function",'
        '"function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},'
        '{"role":"tool","content":"{\\"temp_c\\": 18}","tool_call_id":"get_weather_k3d9x"}]'
    )


def test_text_beside_tool_calls_becomes_the_tool_plan() -> None:
    message = Message("assistant", "I will look it up.", tool_calls=(CALL,))
    [sent] = body(ChatRequest((message,)))["messages"]
    assert sent["tool_plan"] == "I will look it up."
    assert "content" not in sent


def test_empty_tool_call_arguments_are_sent_as_an_empty_object() -> None:
    message = Message("assistant", "", tool_calls=(ToolCall("t1", "get_time", ""),))
    [sent] = body(ChatRequest((message,)))["messages"]
    assert sent["tool_calls"][0]["function"]["arguments"] == "{}"


@pytest.mark.parametrize("arguments", ["[1, 2]", "not json", '"Paris"'])
def test_tool_call_arguments_that_are_not_a_json_object_raise_value_error(arguments: str) -> None:
    message = Message("assistant", "", tool_calls=(ToolCall("t1", "get_weather", arguments),))
    with pytest.raises(ValueError, match="arguments of tool call 't1'"):
        body(ChatRequest((message,)))


def test_images_are_image_url_parts_in_order() -> None:
    parts = (
        TextPart("What is in these?"),
        ImagePart("data:image/png;base64,iVBORw0KGgo=", "low"),
        ImagePart("https://example.com/cat.png"),
    )
    message = Message("user", "What is in these?", parts=parts)
    assert body(ChatRequest((message,)))["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("format_", "sent"),
    [
        (ResponseFormat("json_object"), {"type": "json_object"}),
        (
            ResponseFormat("json_schema", CITY, name="place", strict=True),
            {"type": "json_object", "json_schema": CITY},
        ),
        (ResponseFormat("json_schema"), {"type": "json_object"}),
    ],
    ids=["json mode", "schema", "schema-less json_schema"],
)
def test_response_format_is_json_object_with_the_schema(
    format_: ResponseFormat, sent: dict[str, Any]
) -> None:
    assert body(ChatRequest((ASK,), response_format=format_))["response_format"] == sent


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("minimal", {"type": "disabled"}),
        ("low", {"type": "enabled", "token_budget": 1024}),
        ("medium", {"type": "enabled", "token_budget": 4096}),
        ("high", {"type": "enabled", "token_budget": 16384}),
    ],
)
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, thinking: dict[str, Any]) -> None:
    assert body(ChatRequest((ASK,), reasoning_effort=effort))["thinking"] == thinking


def test_tuning_options_are_forwarded_under_cohere_names() -> None:
    options = {
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "top_k": 40,
        "logit_bias": {"1": 2},
        "user": "u1",
    }
    sent = body(ChatRequest((ASK,), options=options))
    assert {key: sent[key] for key in list(sent)[3:]} == {
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "k": 40,
    }


# -- fit -------------------------------------------------------------------------------


SCHEMA_FORMAT = ResponseFormat("json_schema", CITY)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (ChatRequest((ASK,)), Fit()),
        (ChatRequest((ASK,), tools=(WEATHER,), tool_choice=ToolChoice("required")), Fit()),
        (ChatRequest((ASK,), tools=(WEATHER,), tool_choice=ToolChoice("required", "x")), Fit()),
        (ChatRequest((ASK,), response_format=SCHEMA_FORMAT), Fit()),
        (
            ChatRequest((ASK,), tools=(WEATHER,), response_format=SCHEMA_FORMAT),
            Fit(unmet=("response_format",)),
        ),
        (
            ChatRequest(
                (ASK,),
                tools=(WEATHER,),
                tool_choice=ToolChoice("none"),
                response_format=SCHEMA_FORMAT,
            ),
            Fit(unmet=("response_format",)),
        ),
        (
            ChatRequest(
                (Message("user", "x", parts=(ImagePart("https://example.com/a.png"),)),),
                reasoning_effort="high",
            ),
            Fit(),
        ),
        (ChatRequest((ASK,), n=2), Fit(unmet=("n",))),
        (
            ChatRequest((ASK,), tools=(WEATHER,), parallel_tool_calls=False),
            Fit(dropped=("parallel_tool_calls",)),
        ),
        (
            ChatRequest((ASK,), options={"seed": 1, "top_k": 3, "user": "u", "logprobs": True}),
            Fit(dropped=("logprobs", "user")),
        ),
        (ChatRequest((ASK,), extra={"foo": 1}), Fit(dropped=("foo",))),
    ],
    ids=[
        "plain",
        "required choice",
        "named choice",
        "structured output",
        "structured output with tools",
        "structured output with tools turned off",
        "image by URL and reasoning",
        "two choices",
        "no parallel switch",
        "options Cohere lacks",
        "unknown field",
    ],
)
def test_fit_table(request_: ChatRequest, expected: Fit) -> None:
    assert CohereAdapter().fit(request_) == expected


# -- stream ------------------------------------------------------------------------------


def event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def message(kind: str, inner: dict[str, Any], index: int | None = None) -> bytes:
    data: dict[str, Any] = {"type": kind, "delta": {"message": inner}}
    if index is not None:
        data["index"] = index
    return event(data)


def call_start(index: int, call_id: str, name: str) -> bytes:
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    return message("tool-call-start", {"tool_calls": call}, index)


def call_delta(index: int, fragment: str) -> bytes:
    return message("tool-call-delta", {"tool_calls": {"function": {"arguments": fragment}}}, index)


def end(reason: str) -> bytes:
    return event({"type": "message-end", "delta": {"finish_reason": reason, "usage": USAGE}})


START = event(
    {
        "id": "c2",
        "type": "message-start",
        "delta": {
            "message": {
                "role": "assistant",
                "content": [],
                "tool_plan": "",
                "tool_calls": [],
                "citations": [],
            }
        },
    }
)
TOOL_STREAM = [
    START,
    message("tool-plan-delta", {"tool_plan": "I will look up"}),
    message("tool-plan-delta", {"tool_plan": " the weather."}),
    call_start(0, "get_weather_k3d9x", "get_weather"),
    call_delta(0, '{"city":'),
    call_delta(0, '"Paris"}'),
    event({"type": "tool-call-end", "index": 0}),
]
TOOL_EVENTS: list[StreamEvent] = [
    ReasoningDelta("I will look up"),
    ReasoningDelta(" the weather."),
    ToolCallDelta(0, "get_weather_k3d9x", "get_weather", ""),
    ToolCallDelta(0, arguments='{"city":'),
    ToolCallDelta(0, arguments='"Paris"}'),
]


def test_a_streamed_tool_call_becomes_reasoning_and_call_fragments(decode: Decode) -> None:
    events = decode(CohereAdapter().decoder(), b"".join([*TOOL_STREAM, end("TOOL_CALL")]))
    assert events == [*TOOL_EVENTS, Finished("tool_calls"), Usage(900, 45)]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("TOOL_CALL", "tool_calls"), ("COMPLETE", "tool_calls"), ("MAX_TOKENS", "length")],
)
def test_an_answer_that_made_calls_finishes_with_tool_calls_unless_cut(
    reason: str, finish: str
) -> None:
    events = CohereAdapter().decoder().feed(b"".join([*TOOL_STREAM, end(reason)]))
    assert events[-2] == Finished(finish)


def test_two_streamed_calls_are_numbered_from_zero(decode: Decode) -> None:
    stream = [
        START,
        call_start(3, "a1", "get_weather"),
        call_delta(3, '{"city":"Paris"}'),
        call_start(4, "b2", "get_time"),
        call_delta(4, "{}"),
        end("TOOL_CALL"),
    ]
    answer = fold(decode(CohereAdapter().decoder(), b"".join(stream)), worker="w", model="m")
    assert isinstance(answer, WholeAnswer)
    assert answer.tool_calls == (
        ToolCall("a1", "get_weather", '{"city":"Paris"}'),
        ToolCall("b2", "get_time", "{}"),
    )
    assert answer.finish_reason == "tool_calls"


def test_a_streamed_tool_call_folds_into_the_whole_answer(decode: Decode) -> None:
    events = decode(CohereAdapter().decoder(), b"".join([*TOOL_STREAM, end("TOOL_CALL")]))
    answer = fold(events, worker="w", model="m")
    assert isinstance(answer, WholeAnswer)
    assert answer.tool_calls == (CALL,)
    assert answer.reasoning == "I will look up the weather."
    assert answer.text == ""


def test_a_tool_call_stream_without_message_end_is_incomplete(decode: Decode) -> None:
    events = decode(CohereAdapter().decoder(), b"".join(TOOL_STREAM))
    assert events[:-1] == TOOL_EVENTS
    assert isinstance(events[-1], StreamFailed)
    assert events[-1].failure.kind is ErrorKind.UPSTREAM_ERROR


def test_an_argument_fragment_before_any_call_is_malformed() -> None:
    [skipped] = CohereAdapter().decoder().feed(call_delta(0, "{}"))
    assert isinstance(skipped, Malformed)


def test_streamed_thinking_becomes_reasoning_before_the_text(decode: Decode) -> None:
    def content(kind: str, index: int, inner: dict[str, Any]) -> bytes:
        return message(kind, {"content": inner}, index)

    stream = [
        START,
        content("content-start", 0, {"type": "thinking", "thinking": ""}),
        content("content-delta", 0, {"thinking": "17*23 = 391"}),
        event({"type": "content-end", "index": 0}),
        content("content-start", 1, {"type": "text", "text": ""}),
        content("content-delta", 1, {"text": "391"}),
        event({"type": "content-end", "index": 1}),
        end("COMPLETE"),
    ]
    assert decode(CohereAdapter().decoder(), b"".join(stream)) == [
        ReasoningDelta("17*23 = 391"),
        TextDelta("391"),
        Finished("stop"),
        Usage(900, 45),
    ]


# -- whole ------------------------------------------------------------------------------


def parse(payload: dict[str, Any]) -> list[StreamEvent]:
    return CohereAdapter().parse_completion(json.dumps(payload).encode())


def test_a_whole_tool_call_answer_is_one_fragment_per_call() -> None:
    second = {
        "id": "get_time_2",
        "type": "function",
        "function": {"name": "get_time", "arguments": "{}"},
    }
    first = {
        "id": "get_weather_k3d9x",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    events = parse(
        {
            "id": "c1",
            "finish_reason": "TOOL_CALL",
            "message": {
                "role": "assistant",
                "tool_plan": "I will look up the weather in Paris.",
                "tool_calls": [first, second],
            },
            "usage": USAGE,
        }
    )
    assert events == [
        ReasoningDelta("I will look up the weather in Paris."),
        ToolCallDelta(0, "get_weather_k3d9x", "get_weather", '{"city":"Paris"}'),
        ToolCallDelta(1, "get_time_2", "get_time", "{}"),
        Finished("tool_calls"),
        Usage(900, 45),
    ]


def test_a_whole_answer_with_thinking_gives_reasoning_then_text() -> None:
    content = [{"type": "thinking", "thinking": "17*23=391"}, {"type": "text", "text": "391"}]
    events = parse(
        {
            "id": "c5",
            "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": content},
        }
    )
    assert events == [ReasoningDelta("17*23=391"), TextDelta("391"), Finished("stop")]


def test_a_whole_answer_without_content_or_calls_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"message\.content or message\.tool_calls"):
        parse({"id": "c", "finish_reason": "COMPLETE", "message": {"role": "assistant"}})

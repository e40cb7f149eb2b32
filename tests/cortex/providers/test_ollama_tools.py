"""OllamaAdapter: tools, images, JSON output and thinking, both ways (WIRE_FORMATS_TOOLS.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from cortex.chat import (
    ChatRequest,
    Finished,
    ImagePart,
    Message,
    Part,
    ReasoningDelta,
    ResponseFormat,
    StreamEvent,
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
from cortex.providers.capabilities import TUNING_OPTIONS, Fit
from cortex.providers.ollama import CARRIES, OllamaAdapter

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode

TARGET = Target("http://localhost:11434", "qwen3")
WEATHER = Tool(
    "get_weather",
    "Get weather for a city",
    {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}},
)
ASK = Message("user", "Weather in Paris?")
PNG = "data:image/png;base64,iVBORw0KGgo="
CALL = ToolCall("call_k3d9x0ab", "get_weather", '{"city": "Paris"}')
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def body_of(request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
    call = OllamaAdapter().chat_call(TARGET, request, stream=stream)
    assert isinstance(call.json, dict)
    return call.json


def line(message: dict[str, Any], *, done: bool = False, **final: Any) -> dict[str, Any]:
    base = {"model": "qwen3", "created_at": "2026-12-04T00:00:00Z", "message": message}
    return {**base, "done": done, **final}


def ndjson(*objects: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


COUNTS: dict[str, Any] = {"prompt_eval_count": 169, "eval_count": 15, "total_duration": 182242375}
PARIS: dict[str, Any] = {
    "id": "call_k3d9x0ab",
    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
}
TOKYO: dict[str, Any] = {
    "id": "call_p0q1r2s3",
    "function": {"index": 1, "name": "get_weather", "arguments": {"city": "Tokyo"}},
}


# -- request ------------------------------------------------------------------------


def test_a_tool_round_trip_request_is_built_byte_for_byte() -> None:
    request = ChatRequest(
        (
            Message("developer", "be brief"),
            Message("user", "Weather here?", parts=(TextPart("Weather here?"), ImagePart(PNG))),
            Message("assistant", "", tool_calls=(CALL,)),
            Message("tool", '{"temp_c": 18}', tool_call_id="call_k3d9x0ab"),
        ),
        tools=(WEATHER,),
        reasoning_effort="low",
        options={"seed": 7, "top_k": 40},
        max_tokens=100,
    )
    assert json.dumps(body_of(request, stream=True), separators=(",", ":")) == (
        '{"model":"qwen3","messages":['
        '{"role":"system","content":"be brief"},'
        '{"role":"user","content":"Weather here?","images":["iVBORw0KGgo="]},'
        '{"role":"assistant","content":"","tool_calls":[{"id":"call_k3d9x0ab",'
        '"function":{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}}]},'
        '{"role":"tool","content":"{\\"temp_c\\": 18}","tool_name":"get_weather",'
        '"tool_call_id":"call_k3d9x0ab"}],'
        '"stream":true,'
        '"tools":[{"type":"function","function":{"name":"get_weather",'
        '"description":"Get weather for a city","parameters":{"type":"object",'
        '"required":["city"],"properties":{"city":{"type":"string"}}}}}],'
        '"think":"low",'
        '"options":{"num_predict":100,"seed":7,"top_k":40}}'
    )


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (None, True),
        (ToolChoice("auto"), True),
        (ToolChoice("none"), False),
        (ToolChoice("required"), True),
        (ToolChoice("required", "get_weather"), True),
    ],
)
def test_tools_are_sent_unless_the_choice_is_none(choice: ToolChoice | None, sent: bool) -> None:
    body = body_of(ChatRequest((ASK,), tools=(WEATHER,), tool_choice=choice))
    assert ("tools" in body) is sent
    assert "tool_choice" not in body


def test_strict_is_left_out_of_the_tool_definition() -> None:
    strict = Tool("f", None, {"type": "object"}, strict=True)
    body = body_of(ChatRequest((ASK,), tools=(strict,)))
    assert body["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]


@pytest.mark.parametrize(
    ("format_", "sent"),
    [
        (ResponseFormat("json_object"), "json"),
        (ResponseFormat("json_schema", SCHEMA, "weather", strict=True), SCHEMA),
        (ResponseFormat("json_schema"), "json"),
    ],
)
def test_response_format_becomes_format(format_: ResponseFormat, sent: object) -> None:
    assert body_of(ChatRequest((ASK,), response_format=format_))["format"] == sent


@pytest.mark.parametrize(
    ("effort", "think"),
    [("minimal", False), ("low", "low"), ("medium", "medium"), ("high", "high")],
)
def test_reasoning_effort_becomes_think(effort: str, think: object) -> None:
    sent = body_of(ChatRequest((ASK,), reasoning_effort=effort))["think"]
    assert (sent, type(sent)) == (think, type(think))


def test_no_reasoning_effort_sends_no_think() -> None:
    assert "think" not in body_of(ChatRequest((ASK,)))


@pytest.mark.parametrize("name", sorted(CARRIES.options))
def test_every_option_ollama_carries_is_forwarded_inside_options(name: str) -> None:
    body = body_of(ChatRequest((ASK,), options={name: 3}))
    assert body["options"] == {name: 3}


@pytest.mark.parametrize("name", sorted(TUNING_OPTIONS - CARRIES.options))
def test_every_other_option_is_left_out_and_reported_dropped(name: str) -> None:
    request = ChatRequest((ASK,), options={name: 3})
    assert body_of(request) == body_of(ChatRequest((ASK,)))
    assert OllamaAdapter().fit(request).dropped == (name,)


def test_two_calls_in_one_message_are_indexed_and_each_result_named() -> None:
    other = ToolCall("call_2", "get_time", "")
    messages = (
        ASK,
        Message("assistant", "Checking.", tool_calls=(CALL, other)),
        Message("tool", "18", tool_call_id="call_2"),
        Message("tool", "noon", tool_call_id="call_k3d9x0ab"),
    )
    sent = body_of(ChatRequest(messages))["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_k3d9x0ab",
                "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
            },
            {"id": "call_2", "function": {"index": 1, "name": "get_time", "arguments": {}}},
        ],
    }
    assert [(m["tool_name"], m["tool_call_id"]) for m in sent[2:]] == [
        ("get_time", "call_2"),
        ("get_weather", "call_k3d9x0ab"),
    ]


@pytest.mark.parametrize(
    ("result", "named"),
    [
        (Message("tool", "x", tool_call_id="call_unknown", name="lookup"), "lookup"),
        (Message("tool", "x", tool_call_id="call_unknown"), None),
    ],
)
def test_a_result_for_an_unknown_call_falls_back_to_its_own_name(
    result: Message, named: str | None
) -> None:
    sent = body_of(ChatRequest((ASK, result)))["messages"][1]
    assert sent.get("tool_name") == named
    assert sent["tool_call_id"] == "call_unknown"


def test_a_repeated_call_id_names_the_latest_call() -> None:
    messages = (
        ASK,
        Message("assistant", "", tool_calls=(ToolCall("call_0", "first", "{}"),)),
        Message("tool", "a", tool_call_id="call_0"),
        Message("user", "again"),
        Message("assistant", "", tool_calls=(ToolCall("call_0", "second", "{}"),)),
        Message("tool", "b", tool_call_id="call_0"),
    )
    sent = body_of(ChatRequest(messages))["messages"]
    assert (sent[2]["tool_name"], sent[5]["tool_name"]) == ("first", "second")


@pytest.mark.parametrize("images", [(PNG,), (PNG, "data:image/webp;base64,UklGRg==")])
def test_images_go_in_order_as_bare_base64(images: tuple[str, ...]) -> None:
    parts: tuple[Part, ...] = (TextPart("see"), *(ImagePart(url) for url in images))
    sent = body_of(ChatRequest((Message("user", "see", parts=parts),)))["messages"][0]
    assert sent == {
        "role": "user",
        "content": "see",
        "images": [u.partition(",")[2] for u in images],
    }


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (Message("assistant", "", tool_calls=(ToolCall("c", "f", "[1, 2]"),)), "not a JSON object"),
        (Message("assistant", "", tool_calls=(ToolCall("c", "f", "{oops"),)), "not JSON"),
        (Message("user", "", parts=(ImagePart("https://example.com/cat.png"),)), "only inline"),
        (Message("user", "", parts=(ImagePart("data:image/png,%89PNG"),)), "only as base64"),
        (Message("user", "", parts=(ImagePart("data:image/gif;base64,R0lGOD=="),)), "image/gif"),
    ],
)
def test_what_ollama_cannot_take_raises_a_clear_value_error(message: Message, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        body_of(ChatRequest((message,)))


# -- fit ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (ChatRequest((ASK,), tools=(WEATHER,)), Fit()),
        (
            ChatRequest((ASK,), tools=(WEATHER,), tool_choice=ToolChoice("required")),
            Fit(("tool_choice",)),
        ),
        (
            ChatRequest(
                (ASK,), tools=(WEATHER,), tool_choice=ToolChoice("required", "get_weather")
            ),
            Fit(("tool_choice",)),
        ),
        (ChatRequest((ASK,), tools=(WEATHER,), tool_choice=ToolChoice("none")), Fit()),
        (
            ChatRequest((ASK,), tools=(WEATHER,), parallel_tool_calls=False),
            Fit((), ("parallel_tool_calls",)),
        ),
        (ChatRequest((ASK,), tools=(Tool("f", strict=True),)), Fit((), ("tools.strict",))),
        (
            ChatRequest((ASK,), tools=(Tool("f", strict=True),), tool_choice=ToolChoice("none")),
            Fit(),
        ),
        (ChatRequest((ASK,), response_format=ResponseFormat("json_schema", SCHEMA)), Fit()),
        (ChatRequest((ASK,), reasoning_effort="high"), Fit()),
        (ChatRequest((Message("user", "", parts=(ImagePart(PNG),)),)), Fit()),
        (
            ChatRequest((Message("user", "", parts=(ImagePart("https://example.com/a.png"),)),)),
            Fit(("image_url (by URL)",)),
        ),
        (
            ChatRequest(
                (Message("user", "", parts=(ImagePart("data:image/gif;base64,R0lGOD=="),)),)
            ),
            Fit(("image_url (image/gif)",)),
        ),
        (
            ChatRequest(
                (ASK, Message("assistant", "", tool_calls=(ToolCall("c", "f", '"text"'),)))
            ),
            Fit(("tool_calls (arguments not a JSON object)",)),
        ),
        (ChatRequest((ASK,), n=2), Fit(("n",))),
        (ChatRequest((ASK,), extra={"keep_alive": "5m"}), Fit((), ("keep_alive",))),
    ],
)
def test_fit_names_what_ollama_cannot_honour_or_leaves_out(
    request_: ChatRequest, expected: Fit
) -> None:
    assert OllamaAdapter().fit(request_) == expected


# -- answers ------------------------------------------------------------------------

THINKING_STREAM = ndjson(
    line({"role": "assistant", "content": "", "thinking": "Need the "}),
    line({"role": "assistant", "content": "", "thinking": "weather tool."}),
    line({"role": "assistant", "content": "", "tool_calls": [PARIS]}),
    line({"role": "assistant", "content": ""}, done=True, done_reason="stop", **COUNTS),
)


def test_the_documented_stream_decodes_to_reasoning_one_call_and_tool_calls(decode: Decode) -> None:
    assert decode(OllamaAdapter().decoder(), THINKING_STREAM) == [
        ReasoningDelta("Need the "),
        ReasoningDelta("weather tool."),
        ToolCallDelta(0, "call_k3d9x0ab", "get_weather", '{"city":"Paris"}'),
        Finished("tool_calls"),
        Usage(169, 15),
    ]


def test_calls_in_separate_lines_are_numbered_across_the_stream(decode: Decode) -> None:
    stream = ndjson(
        line({"role": "assistant", "content": "Let me look."}),
        line({"role": "assistant", "content": "", "tool_calls": [PARIS]}),
        line(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [TOKYO | {"function": TOKYO["function"] | {"index": 0}}],
            }
        ),
        line({"role": "assistant", "content": ""}, done=True, done_reason="stop"),
    )
    assert decode(OllamaAdapter().decoder(), stream) == [
        TextDelta("Let me look."),
        ToolCallDelta(0, "call_k3d9x0ab", "get_weather", '{"city":"Paris"}'),
        ToolCallDelta(1, "call_p0q1r2s3", "get_weather", '{"city":"Tokyo"}'),
        Finished("tool_calls"),
    ]


def test_calls_without_ids_get_stable_made_up_ones(decode: Decode) -> None:
    bare = [
        {"function": {"name": "f", "arguments": {}}},
        {"function": {"name": "g", "arguments": {"q": "é ü"}}},
    ]
    stream = ndjson(
        line({"role": "assistant", "content": "", "tool_calls": bare}),
        line({"role": "assistant", "content": ""}, done=True, done_reason="stop"),
    )
    assert decode(OllamaAdapter().decoder(), stream)[:2] == [
        ToolCallDelta(0, "call_0", "f", "{}"),
        ToolCallDelta(1, "call_1", "g", '{"q":"é ü"}'),
    ]


@pytest.mark.parametrize(("done_reason", "finish"), [("stop", "tool_calls"), ("length", "length")])
def test_a_stop_after_calls_is_tool_calls_but_length_stays(done_reason: str, finish: str) -> None:
    stream = ndjson(
        line({"role": "assistant", "content": "", "tool_calls": [PARIS]}),
        line({"role": "assistant", "content": ""}, done=True, done_reason=done_reason),
    )
    assert OllamaAdapter().decoder().feed(stream)[-1] == Finished(finish)


def test_each_stream_counts_its_own_calls() -> None:
    adapter = OllamaAdapter()
    stream = ndjson(line({"role": "assistant", "content": ""}, done=True, done_reason="stop"))
    adapter.decoder().feed(
        ndjson(line({"role": "assistant", "content": "", "tool_calls": [PARIS]}))
    )
    assert adapter.decoder().feed(stream) == [Finished("stop")]


def test_a_stream_of_calls_without_its_done_line_is_incomplete(decode: Decode) -> None:
    stream = ndjson(line({"role": "assistant", "content": "", "tool_calls": [PARIS]}))
    events = decode(OllamaAdapter().decoder(), stream)
    answer = fold(events, worker="w", model="m")
    assert not isinstance(answer, WholeAnswer)
    assert answer.code == "incomplete"


def test_the_documented_whole_body_holds_reasoning_two_calls_and_tool_calls() -> None:
    body = line(
        {
            "role": "assistant",
            "content": "",
            "thinking": "Need the weather tool.",
            "tool_calls": [PARIS, TOKYO],
        },
        done=True,
        done_reason="stop",
        **COUNTS,
    )
    events = OllamaAdapter().parse_completion(json.dumps(body).encode())
    assert events == [
        ReasoningDelta("Need the weather tool."),
        ToolCallDelta(0, "call_k3d9x0ab", "get_weather", '{"city":"Paris"}'),
        ToolCallDelta(1, "call_p0q1r2s3", "get_weather", '{"city":"Tokyo"}'),
        Finished("tool_calls"),
        Usage(169, 15),
    ]
    answer = fold(events, worker="w", model="m")
    assert isinstance(answer, WholeAnswer)
    assert answer.tool_calls == (
        ToolCall("call_k3d9x0ab", "get_weather", '{"city":"Paris"}'),
        ToolCall("call_p0q1r2s3", "get_weather", '{"city":"Tokyo"}'),
    )
    assert (answer.reasoning, answer.finish_reason) == ("Need the weather tool.", "tool_calls")


def test_thinking_comes_before_text_in_one_line() -> None:
    body = line(
        {"role": "assistant", "content": "Hi", "thinking": "hmm"}, done=True, done_reason="stop"
    )
    events: list[StreamEvent] = OllamaAdapter().parse_completion(json.dumps(body).encode())
    assert events == [ReasoningDelta("hmm"), TextDelta("Hi"), Finished("stop")]

"""GeminiAdapter with tools, images, structured output and reasoning, both ways."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from cortex.chat import (
    ChatRequest,
    Finished,
    ImagePart,
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
from cortex.providers.gemini import GeminiAdapter
from cortex.providers.gemini_tools import (
    MADE_UP,
    client_call_id,
    image_part,
    native_call,
    tool_result,
)

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode

TARGET = Target("https://generativelanguage.googleapis.com", "gemini-2.5-flash", "AIza-k")
SIG = "b3BhcXVlLXNpZ25hdHVyZS1ieXRlcw=="
WEATHER = Tool(
    "get_weather",
    "Get weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
USER = Message("user", "Weather in Paris and Tokyo?")


def body(request: ChatRequest) -> dict[str, Any]:
    call = GeminiAdapter().chat_call(TARGET, request, stream=False)
    assert call.json is not None
    return dict(call.json)


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\r\n\r\n"


def candidate(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"index": 0, "content": {"role": "model", "parts": parts}}
    if finish:
        found["finishReason"] = finish
    return {"candidates": [found], "responseId": "r2"}


# -- request ---------------------------------------------------------------------------


def test_a_tool_loop_is_built_field_for_field() -> None:
    """Calls go in one model content, their results in one user content, ids and signature back."""
    calls = (
        ToolCall(f"fc_1~ts~{SIG}", "get_weather", '{"city":"Paris"}'),
        ToolCall(f"{MADE_UP}0123456789abcdef", "get_weather", '{"city": "Tokyo"}'),
    )
    request = ChatRequest(
        (
            Message("system", "be brief"),
            USER,
            Message("assistant", "", tool_calls=calls),
            Message("tool", '{"temp_c": 18}', tool_call_id=calls[0].id),
            Message("tool", "city not found", tool_call_id=calls[1].id),
        ),
        tools=(WEATHER,),
    )
    assert json.dumps(body(request), separators=(",", ":")) == (
        '{"contents":['
        '{"role":"user","parts":[{"text":"Weather in Paris and Tokyo?"}]},'
        '{"role":"model","parts":['
        '{"functionCall":{"id":"fc_1","name":"get_weather","args":{"city":"Paris"}},'
        f'"thoughtSignature":"{SIG}"}},'
        '{"functionCall":{"name":"get_weather","args":{"city":"Tokyo"}}}]},'
        '{"role":"user","parts":['
        '{"functionResponse":{"id":"fc_1","name":"get_weather","response":{"temp_c":18}}},'
        '{"functionResponse":{"name":"get_weather","response":{"output":"city not found"}}}]}],'
        '"systemInstruction":{"parts":[{"text":"be brief"}]},'
        '"tools":[{"functionDeclarations":[{"name":"get_weather",'
        '"description":"Get weather for a city","parametersJsonSchema":{"type":"object",'
        '"properties":{"city":{"type":"string"}},"required":["city"]}}]}]}'
    )


@pytest.mark.parametrize(
    ("parameters", "declared"),
    [
        (None, {"name": "now"}),
        ({"type": "object", "properties": {}}, {"name": "now"}),
        ({"type": "object", "properties": {}, "additionalProperties": False}, {"name": "now"}),
        (
            {"type": "object", "additionalProperties": {"type": "string"}},
            {
                "name": "now",
                "parametersJsonSchema": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
            },
        ),
        (
            {"$schema": "x", "type": "object", "properties": {"a": {"const": 1}}},
            {
                "name": "now",
                "parametersJsonSchema": {
                    "$schema": "x",
                    "type": "object",
                    "properties": {"a": {"const": 1}},
                },
            },
        ),
    ],
)
def test_tool_parameters_pass_through_and_an_empty_object_is_left_out(
    parameters: dict[str, Any] | None, declared: dict[str, Any]
) -> None:
    request = ChatRequest((USER,), tools=(Tool("now", None, parameters),))
    assert body(request)["tools"] == [{"functionDeclarations": [declared]}]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, None),
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("required"), {"mode": "ANY"}),
        (
            ToolChoice("required", "get_weather"),
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_becomes_a_function_calling_mode(
    choice: ToolChoice | None, config: dict[str, Any] | None
) -> None:
    sent = body(ChatRequest((USER,), tools=(WEATHER,), tool_choice=choice))
    expected = {"functionCallingConfig": config} if config else None
    assert sent.get("toolConfig") == expected


@pytest.mark.parametrize(
    ("format_", "config"),
    [
        (ResponseFormat("json_object"), {"responseMimeType": "application/json"}),
        (ResponseFormat("json_schema"), {"responseMimeType": "application/json"}),
        (
            ResponseFormat(
                "json_schema",
                {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "properties": {"n": {"type": ["integer", "null"]}, "k": {"const": "a"}},
                    "additionalProperties": False,
                },
                name="City",
                strict=True,
            ),
            {
                "responseMimeType": "application/json",
                "responseJsonSchema": {
                    "type": "object",
                    "properties": {
                        "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "k": {"enum": ["a"]},
                    },
                    "additionalProperties": False,
                },
            },
        ),
    ],
)
def test_response_format_becomes_a_json_mime_type_and_schema(
    format_: ResponseFormat, config: dict[str, Any]
) -> None:
    assert body(ChatRequest((USER,), response_format=format_))["generationConfig"] == config


@pytest.mark.parametrize(
    ("effort", "budget"), [("minimal", 0), ("low", 1024), ("medium", 8192), ("high", 24576)]
)
def test_reasoning_effort_becomes_a_thinking_budget_with_thoughts(effort: str, budget: int) -> None:
    config = body(ChatRequest((USER,), reasoning_effort=effort))["generationConfig"]
    assert config == {"thinkingConfig": {"thinkingBudget": budget, "includeThoughts": True}}


def test_carried_options_are_forwarded_and_the_rest_reported_dropped() -> None:
    options = {"seed": 7, "presence_penalty": 0.5, "frequency_penalty": -0.5, "top_k": 40}
    request = ChatRequest((USER,), options={**options, "logit_bias": {"1": 2}, "user": "u"})
    assert body(request)["generationConfig"] == {
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "topK": 40,
    }
    assert GeminiAdapter().fit(request).dropped == ("logit_bias", "user")


@pytest.mark.parametrize(
    ("request_", "unmet", "dropped"),
    [
        (ChatRequest((USER,), tools=(WEATHER,), tool_choice=ToolChoice("required", "x")), (), ()),
        (
            ChatRequest((USER,), tools=(WEATHER,), parallel_tool_calls=False),
            (),
            ("parallel_tool_calls",),
        ),
        (ChatRequest((USER,), response_format=ResponseFormat("json_object")), (), ()),
        (ChatRequest((USER,), reasoning_effort="high"), (), ()),
        (ChatRequest((Message("user", "x", (ImagePart("https://e/c.png"),)),)), (), ()),
        (ChatRequest((USER,), n=2), ("n",), ()),
    ],
)
def test_fit_reports_what_the_wire_cannot_carry(
    request_: ChatRequest, unmet: tuple[str, ...], dropped: tuple[str, ...]
) -> None:
    assert (GeminiAdapter().fit(request_).unmet, GeminiAdapter().fit(request_).dropped) == (
        unmet,
        dropped,
    )


@pytest.mark.parametrize(
    ("url", "part"),
    [
        (
            "data:image/png;base64,iVBORw0KGgo=",
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        ),
        (
            "https://example.com/cat.png",
            {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}},
        ),
        (
            "https://example.com/cat.webp?size=2",
            {
                "fileData": {
                    "mimeType": "image/webp",
                    "fileUri": "https://example.com/cat.webp?size=2",
                }
            },
        ),
        (
            "http://example.com/photo",
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "http://example.com/photo"}},
        ),
    ],
)
def test_images_become_inline_or_file_data(url: str, part: dict[str, Any]) -> None:
    assert image_part(ImagePart(url)) == part


def test_text_and_images_keep_their_order() -> None:
    parts = (TextPart("Describe"), ImagePart("data:image/png;base64,AA=="), TextPart("briefly"))
    sent = body(ChatRequest((Message("user", "Describe briefly", parts),)))
    assert sent["contents"][0]["parts"] == [
        {"text": "Describe"},
        {"inlineData": {"mimeType": "image/png", "data": "AA=="}},
        {"text": "briefly"},
    ]


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ((Message("assistant", "", tool_calls=(ToolCall("c", "f", "[1]"),)),), "not a JSON object"),
        ((Message("assistant", "", tool_calls=(ToolCall("c", "f", "{x"),)),), "not JSON"),
        ((USER, Message("tool", "18", tool_call_id="nobody")), "no assistant message made"),
        ((Message("user", "x", (ImagePart("ftp://e/c.png"),)),), "data: URL or an http"),
        ((Message("user", "x", (ImagePart("data:image/png,raw"),)),), "data: URL or an http"),
    ],
)
def test_what_gemini_cannot_take_is_a_value_error(
    messages: tuple[Message, ...], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        GeminiAdapter().chat_call(TARGET, ChatRequest(messages), stream=True)


@pytest.mark.parametrize(
    ("content", "response"),
    [
        ('{"temp_c": 18}', {"temp_c": 18}),
        ("[1, 2]", {"output": "[1, 2]"}),
        ("sunny", {"output": "sunny"}),
        ("", {"output": ""}),
    ],
)
def test_a_tool_result_is_its_json_object_or_wrapped_text(
    content: str, response: dict[str, Any]
) -> None:
    assert tool_result(content) == response


@pytest.mark.parametrize(
    ("native", "signature", "client", "back"),
    [
        ("fc_1", None, "fc_1", ("fc_1", None)),
        ("fc_1", SIG, f"fc_1~ts~{SIG}", ("fc_1", SIG)),
        (None, None, "call~made", (None, None)),
        (None, SIG, f"call~made~ts~{SIG}", (None, SIG)),
    ],
)
def test_the_client_call_id_carries_the_native_id_and_signature(
    native: str | None, signature: str | None, client: str, back: tuple[str | None, str | None]
) -> None:
    assert client_call_id(native, signature, "call~made") == client
    assert native_call(client) == back


def test_a_call_id_from_another_provider_is_sent_as_is() -> None:
    assert native_call("call_abc123") == ("call_abc123", None)


def test_empty_turns_are_dropped_but_calls_and_results_are_kept() -> None:
    call = ToolCall("fc_9", "now", "")
    request = ChatRequest(
        (
            USER,
            Message("assistant", "  "),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "", tool_call_id="fc_9"),
        )
    )
    assert [c["role"] for c in body(request)["contents"]] == ["user", "model", "user"]


# -- answers ---------------------------------------------------------------------------

STREAM = (
    sse(
        {
            **candidate([{"text": "**Planning** I need the weather tool.", "thought": True}]),
            "usageMetadata": {"promptTokenCount": 50, "totalTokenCount": 50},
        }
    )
    + sse(
        candidate(
            [
                {
                    "functionCall": {
                        "id": "fc_1",
                        "name": "get_weather",
                        "args": {"city": "Paris"},
                    },
                    "thoughtSignature": SIG,
                }
            ]
        )
    )
    + sse(
        candidate(
            [{"functionCall": {"id": "fc_2", "name": "get_weather", "args": {"city": "Tokyo"}}}]
        )
    )
    + sse(
        {
            **candidate([{"text": ""}], "STOP"),
            "usageMetadata": {
                "promptTokenCount": 50,
                "candidatesTokenCount": 20,
                "thoughtsTokenCount": 30,
            },
        }
    )
)


def test_a_stream_of_whole_calls_becomes_one_fragment_per_call(decode: Decode) -> None:
    assert decode(GeminiAdapter().decoder(), STREAM) == [
        ReasoningDelta("**Planning** I need the weather tool."),
        ToolCallDelta(0, f"fc_1~ts~{SIG}", "get_weather", '{"city":"Paris"}'),
        ToolCallDelta(1, "fc_2", "get_weather", '{"city":"Tokyo"}'),
        Finished("tool_calls"),
        Usage(50, 50),
    ]


def whole(payload: dict[str, Any]) -> WholeAnswer:
    answer = fold(
        GeminiAdapter().parse_completion(json.dumps(payload).encode()), worker="w", model="m"
    )
    assert isinstance(answer, WholeAnswer), answer
    return answer


def test_a_whole_answer_with_text_and_parallel_calls_folds_to_tool_calls() -> None:
    answer = whole(
        candidate(
            [
                {"text": "Let me check."},
                {"functionCall": {"id": "a", "name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"id": "b", "name": "get_weather", "args": {}}},
            ],
            "STOP",
        )
    )
    assert (answer.text, answer.finish_reason) == ("Let me check.", "tool_calls")
    assert answer.tool_calls == (
        ToolCall("a", "get_weather", '{"city":"Paris"}'),
        ToolCall("b", "get_weather", "{}"),
    )


def test_calls_without_ids_get_stable_distinct_made_up_ids() -> None:
    call = {"functionCall": {"name": "now", "args": {}}}
    payload = candidate([{**call, "thoughtSignature": SIG}, call], "STOP")
    first, second = whole(payload).tool_calls
    assert whole(payload).tool_calls == (first, second)
    assert first.id.startswith(MADE_UP)
    assert first.id.endswith(f"~ts~{SIG}")
    assert second.id.startswith(MADE_UP)
    assert first.id.partition("~ts~")[0] != second.id
    assert native_call(first.id) == (None, SIG)


def test_a_signature_on_its_own_part_goes_with_the_next_call() -> None:
    parts: list[dict[str, Any]] = [
        {"text": "thinking", "thought": True},
        {"text": "", "thoughtSignature": SIG},
        {"functionCall": {"id": "x", "name": "now"}},
    ]
    answer = whole(candidate(parts, "STOP"))
    assert (answer.reasoning, answer.tool_calls) == (
        "thinking",
        (ToolCall(f"x~ts~{SIG}", "now", "{}"),),
    )


def test_a_call_cut_at_max_tokens_finishes_with_length() -> None:
    call = {"functionCall": {"id": "x", "name": "now", "args": {}}}
    assert whole(candidate([call], "MAX_TOKENS")).finish_reason == "length"


@pytest.mark.parametrize(
    "reason",
    [
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "MISSING_THOUGHT_SIGNATURE",
        "OTHER",
    ],
)
def test_a_failed_call_finish_is_an_upstream_failure(reason: str, decode: Decode) -> None:
    payload = candidate([{"text": "Let me"}], reason)
    payload["candidates"][0]["finishMessage"] = "Malformed function call: print(x"
    events: list[StreamEvent] = decode(GeminiAdapter().decoder(), sse(payload))
    assert events[0] == TextDelta("Let me")
    assert isinstance(events[1], StreamFailed)
    assert events[1].failure.code == reason
    assert "Malformed function call" in events[1].failure.message
    assert len(events) == 2
    with pytest.raises(ValueError, match=reason):
        GeminiAdapter().parse_completion(json.dumps(payload).encode())

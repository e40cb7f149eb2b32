"""Tool calls and reasoning in answers: folded whole, rendered as the OpenAI SDKs read them."""

from __future__ import annotations

import json

import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from cortex.chat import (
    Finished,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    WholeAnswer,
    fold,
)
from cortex.http import render

STREAM: list[StreamEvent] = [
    ReasoningDelta("thinking "),
    ReasoningDelta("hard"),
    ToolCallDelta(0, "call_a", "get_weather", ""),
    ToolCallDelta(0, None, None, '{"city"'),
    ToolCallDelta(1, "call_b", "get_time", '{"city": "Tokyo"}'),
    ToolCallDelta(0, "call_a", "get_weather", ': "Paris"}'),  # an upstream that repeats ids
    Finished("tool_calls"),
    Usage(10, 5),
]
CALLS = (
    ToolCall("call_a", "get_weather", '{"city": "Paris"}'),
    ToolCall("call_b", "get_time", '{"city": "Tokyo"}'),
)


def test_the_fold_joins_fragments_by_index_keeping_the_first_id_and_name() -> None:
    whole = fold(STREAM, worker="w", model="m")

    assert not isinstance(whole, openai.APIError)
    assert whole.tool_calls == CALLS  # type: ignore[union-attr]
    assert whole.reasoning == "thinking hard"  # type: ignore[union-attr]
    assert whole.text == ""  # type: ignore[union-attr]


def test_parsed_arguments_are_an_object_and_anything_else_is_refused() -> None:
    assert CALLS[0].parsed_arguments() == {"city": "Paris"}
    assert ToolCall("c", "f", "").parsed_arguments() == {}
    for bad in ("[1]", "{nope"):
        with pytest.raises(ValueError, match="'c'"):
            ToolCall("c", "f", bad).parsed_arguments()


def test_streamed_chunks_are_assembled_by_the_openai_sdk_into_the_same_calls() -> None:
    writer = render.ChunkWriter(cid="chatcmpl-1", model="m", include_usage=True)
    frames = [writer.role()]
    for event in STREAM:
        match event:
            case ToolCallDelta():
                frames.append(writer.tool_call(event))
            case ReasoningDelta(text=text):
                frames.append(writer.reasoning(text))
            case TextDelta(text=text):
                frames.append(writer.text(text))
            case Finished(reason=reason):
                frames.append(writer.finish(reason))
            case Usage():
                frames.append(writer.usage(event))
    state = ChatCompletionStreamState()
    for frame in b"".join(frames).split(b"\n\n"):
        if frame.startswith(b"data: "):
            state.handle_chunk(ChatCompletionChunk.model_validate_json(frame[6:]))
    final = state.get_final_completion()

    message = final.choices[0].message
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []] == [
        (c.id, c.name, c.arguments) for c in CALLS
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.model_extra is not None
    assert message.model_extra.get("reasoning_content") == "thinking hard"


def test_a_repeated_fragment_without_arguments_is_not_sent_again() -> None:
    writer = render.ChunkWriter(cid="c", model="m", include_usage=False)

    assert writer.tool_call(ToolCallDelta(0, "call_a", "f", ""))
    assert writer.tool_call(ToolCallDelta(0, "call_a", "f", "")) == b""
    later = json.loads(writer.tool_call(ToolCallDelta(0, None, None, "{}"))[6:])
    assert later["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "function": {"arguments": "{}"}}
    ]


def test_a_whole_answer_with_calls_has_null_content_and_the_calls() -> None:
    answer = WholeAnswer("w", "m", (), "tool_calls", tool_calls=CALLS, reasoning="why")
    body = render.completion(answer, cid="c")

    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "why"
    assert message["tool_calls"][1] == {
        "id": "call_b",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"city": "Tokyo"}'},
    }
    parsed = openai.types.chat.ChatCompletion.model_validate(body)
    assert parsed.choices[0].message.tool_calls is not None


def test_alternative_choices_fold_apart_and_each_needs_its_end_signal() -> None:
    events: list[StreamEvent] = [
        TextDelta("A"),
        TextDelta("B", 1),
        Finished("stop"),
        TextDelta("b", 1),
        Finished("length", 1),
    ]

    whole = fold(events, worker="w", model="m")
    unfinished = fold(events[:3], worker="w", model="m")

    assert isinstance(whole, WholeAnswer)
    assert (whole.text, whole.finish_reason) == ("A", "stop")
    assert [(a.text, a.finish_reason) for a in whole.alternatives] == [("Bb", "length")]
    assert not isinstance(unfinished, WholeAnswer)

"""Unit tests for rendering: SSE framing and the OpenAI chunk and completion shapes."""

from __future__ import annotations

import json
from typing import Any

from actors.outcomes import ErrorKind, UpstreamFailure
from cortex.chat import (
    Continued,
    Finished,
    ReasoningDelta,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    Usage,
    WholeAnswer,
)
from cortex.http.render import (
    ChunkWriter,
    CompletionChunks,
    completion,
    completion_id,
    sse,
    usage_json,
)

CHUNK_KEYS = {"id", "object", "created", "model", "choices"}


def frame_json(frame: bytes) -> Any:
    assert frame.startswith(b"data: ")
    assert frame.endswith(b"\n\n")
    return json.loads(frame[len(b"data: ") : -2])


def test_sse_frames_data_as_compact_json() -> None:
    assert sse({"a": 1, "b": [1, 2]}) == b'data: {"a":1,"b":[1,2]}\n\n'


def test_sse_sends_a_string_as_is() -> None:
    assert sse("[DONE]") == b"data: [DONE]\n\n"


def test_sse_puts_the_event_name_before_the_data() -> None:
    assert sse({"x": "y"}, event="error") == b'event: error\ndata: {"x":"y"}\n\n'


def test_sse_keeps_non_ascii_text_as_escaped_json() -> None:
    assert frame_json(sse({"t": "héllo ✓"})) == {"t": "héllo ✓"}


def test_done_is_the_openai_terminator() -> None:
    assert ChunkWriter.done() == b"data: [DONE]\n\n"


def test_completion_ids_are_unique_and_openai_styled() -> None:
    first, second = completion_id(), completion_id()
    assert first.startswith("chatcmpl-")
    assert first != second


def test_role_chunk_announces_the_assistant() -> None:
    chunk = frame_json(ChunkWriter(cid="c1", model="m", include_usage=False).role())
    assert set(chunk) == CHUNK_KEYS
    assert (chunk["id"], chunk["object"], chunk["model"]) == ("c1", "chat.completion.chunk", "m")
    assert isinstance(chunk["created"], int)
    assert chunk["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]


def test_text_chunk_carries_a_content_delta() -> None:
    chunk = frame_json(ChunkWriter(cid="c1", model="m", include_usage=False).text("Hel"))
    assert chunk["choices"] == [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]


def test_finish_chunk_carries_the_reason_and_an_empty_delta() -> None:
    chunk = frame_json(ChunkWriter(cid="c1", model="m", include_usage=False).finish("length"))
    assert chunk["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]


def test_every_chunk_of_one_answer_shares_id_and_created() -> None:
    writer = ChunkWriter(cid="c9", model="m", include_usage=False)
    chunks = [frame_json(f) for f in (writer.role(), writer.text("a"), writer.finish("stop"))]
    assert {(c["id"], c["created"]) for c in chunks} == {("c9", chunks[0]["created"])}


def test_a_continued_answer_names_the_new_model_in_the_same_stream() -> None:
    writer = ChunkWriter(cid="c9", model="first", include_usage=True, created=1_700_000_000)
    later = writer.for_model("second")
    before, after = frame_json(writer.text("a")), frame_json(later.text("b"))
    assert (before["model"], after["model"]) == ("first", "second")
    assert (after["id"], after["created"], after["usage"]) == ("c9", 1_700_000_000, None)


def test_usage_chunk_is_empty_when_the_client_did_not_ask() -> None:
    writer = ChunkWriter(cid="c1", model="m", include_usage=False)
    assert writer.usage(Usage(1, 2)) == b""


def test_usage_chunk_has_no_choices_and_the_token_counts_when_asked() -> None:
    chunk = frame_json(ChunkWriter(cid="c1", model="m", include_usage=True).usage(Usage(3, 4)))
    assert chunk["choices"] == []
    assert chunk["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_content_chunks_carry_null_usage_when_usage_was_asked() -> None:
    chunk = frame_json(ChunkWriter(cid="c1", model="m", include_usage=True).text("a"))
    assert chunk["usage"] is None


def test_content_chunks_carry_no_usage_key_when_usage_was_not_asked() -> None:
    chunk = frame_json(ChunkWriter(cid="c1", model="m", include_usage=False).text("a"))
    assert "usage" not in chunk


def test_error_chunk_has_the_openai_error_shape() -> None:
    chunk = frame_json(ChunkWriter.error("boom", "upstream_error", None))
    assert chunk == {"error": {"message": "boom", "type": "upstream_error", "code": None}}


def test_usage_json_is_none_without_usage() -> None:
    assert usage_json(None) is None


def test_completion_has_the_openai_shape() -> None:
    body = completion(WholeAnswer("w", "m", ("Hi", "!"), "stop", Usage(5, 2)), cid="c1")
    assert isinstance(body.pop("created"), int)
    assert body == {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def test_alternative_answers_are_choices_in_order() -> None:
    second = WholeAnswer("w", "m", ("B",), "length")
    body = completion(WholeAnswer("w", "m", ("A",), "stop", alternatives=(second,)), cid="c")

    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]


def test_completion_without_usage_reports_zero_tokens() -> None:
    body = completion(WholeAnswer("w", "m", (), "stop"), cid="c1")
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _writer(include_usage: bool = True) -> ChunkWriter:
    return ChunkWriter(cid="chatcmpl-1", model="m", include_usage=include_usage, created=1)


BATCHES: list[list[StreamEvent]] = [
    [TextDelta("Hel"), ReasoningDelta("hmm", 1)],
    [ToolCallDelta(0, "call_1", "f", "{"), ToolCallDelta(0, None, None, "}"), Usage(3, 4)],
    [Continued("backup", "other-model"), TextDelta("lo"), TextDelta(""), Finished("stop")],
]


def test_completion_chunks_render_each_batch_as_its_events_chunks_in_one_piece() -> None:
    chunks, reference = CompletionChunks(_writer()), _writer()
    calls = [ToolCallDelta(0, "call_1", "f", "{"), ToolCallDelta(0, None, None, "}")]
    taken = []
    for batch in BATCHES:
        assert not chunks.add(batch)
        taken.append(chunks.take())
    chunks.add_usage()
    taken.append(chunks.take())

    expected = [
        reference.role() + reference.text("Hel") + reference.reasoning("hmm", 1),
        reference.tool_call(calls[0]) + reference.tool_call(calls[1]),
    ]
    later = reference.for_model("other-model")
    expected += [later.text("lo") + later.finish("stop"), later.usage(Usage(3, 4))]
    assert taken == expected


def test_completion_chunks_stop_at_a_failure_after_its_error_chunk() -> None:
    failure = UpstreamFailure(ErrorKind.OVERLOADED, "busy")
    chunks, reference = CompletionChunks(_writer(False)), _writer(False)

    assert chunks.add([TextDelta("a"), StreamFailed(failure), TextDelta("never")])
    assert chunks.take() == (
        reference.role()
        + reference.text("a")
        + reference.error("busy", "upstream_error", "overloaded")
    )

"""Answers and errors rendered in Anthropic's Messages format, byte for byte where it matters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actors.outcomes import ErrorKind
from cortex.chat import ToolCall, ToolCallDelta, Usage, WholeAnswer
from cortex.errors import (
    AllRateLimited,
    AllUpstreamsFailed,
    BadRequest,
    DeadlineExceeded,
    GatewayError,
    MissingGatewayKey,
    NotFound,
    NothingAvailable,
    PayloadTooLarge,
    UnreadableAnswer,
)
from cortex.http import anthropic_render
from cortex.http.anthropic_render import EventWriter


def events(frames: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, data) pairs of SSE frames; every frame must name its event."""
    out = []
    for frame in frames.decode().split("\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name_line.removeprefix("event: ")
        out.append((data["type"], data))
    return out


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons_become_stop_reasons(finish: str | None, stop: str) -> None:
    assert anthropic_render.stop_reason(finish) == stop


def test_a_whole_answer_is_a_message_with_thinking_text_and_tool_use_blocks() -> None:
    answer = WholeAnswer(
        "w",
        "claude-x",
        ("Check", "ing."),
        "tool_calls",
        Usage(12, 7),
        tool_calls=(ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),),
        reasoning="Weather.",
    )

    message = anthropic_render.message(answer, mid="msg_1")

    assert message == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Weather.", "signature": ""},
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def test_tool_arguments_that_are_not_an_object_cannot_be_a_message() -> None:
    answer = WholeAnswer("w", "m", (), "tool_calls", tool_calls=(ToolCall("c", "f", "[1]"),))

    with pytest.raises(UnreadableAnswer):
        anthropic_render.message(answer, mid="msg_1")


def test_a_stream_numbers_its_blocks_in_order_and_ends_with_the_stop_reason_and_usage() -> None:
    writer = EventWriter(mid="msg_2", model="m")
    frames = writer.start() + writer.thinking("Hm.") + writer.text("Hi") + writer.text(" there")
    frames += writer.tool_call(ToolCallDelta(0, "toolu_a", "get_weather", ""))
    frames += writer.tool_call(ToolCallDelta(0, arguments='{"city": "Pa'))
    frames += writer.tool_call(ToolCallDelta(0, arguments='ris"}'))
    writer.finish("tool_calls")
    frames += writer.end(Usage(5, 9))

    assert [(name, data.get("index")) for name, data in events(frames)] == [
        ("message_start", None),
        ("ping", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    parsed = events(frames)
    assert parsed[0][1]["message"]["content"] == []
    assert parsed[0][1]["message"]["stop_reason"] is None
    assert parsed[2][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert parsed[9][1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_a",
        "name": "get_weather",
        "input": {},
    }
    partial = "".join(data["delta"]["partial_json"] for name, data in parsed[10:12])
    assert json.loads(partial) == {"city": "Paris"}
    assert parsed[13][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert parsed[13][1]["usage"] == {"input_tokens": 5, "output_tokens": 9}


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (BadRequest("x"), 400, "invalid_request_error"),
        (MissingGatewayKey(), 401, "authentication_error"),
        (NotFound("x"), 404, "not_found_error"),
        (PayloadTooLarge("x"), 413, "request_too_large"),
        (AllRateLimited([], 3), 429, "rate_limit_error"),
        (AllUpstreamsFailed([]), 502, "api_error"),
        (NothingAvailable("x"), 529, "overloaded_error"),
        (DeadlineExceeded(), 504, "timeout_error"),
        (GatewayError("x"), 500, "api_error"),
    ],
)
def test_errors_take_anthropics_status_and_type(
    error: GatewayError, status: int, kind: str
) -> None:
    body = anthropic_render.error_body(error, "req_1")

    assert anthropic_render.error_status(error) == status
    assert body == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": "req_1",
    }


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ErrorKind.OVERLOADED, "overloaded_error"),
        (ErrorKind.RATE_LIMITED, "rate_limit_error"),
        (ErrorKind.UPSTREAM_ERROR, "api_error"),
    ],
)
def test_a_mid_stream_failure_is_a_named_error_event(kind: ErrorKind, expected: str) -> None:
    frame = anthropic_render.error_event(anthropic_render.stream_error_type(kind), "broke")

    assert events(frame) == [
        ("error", {"type": "error", "error": {"type": expected, "message": "broke"}})
    ]


@pytest.mark.parametrize(
    ("path", "anthropic"),
    [
        ("/v1/messages", True),
        ("/v1/messages/count_tokens", True),
        ("/v1/messagesx", False),
        ("/v1/chat/completions", False),
    ],
)
def test_only_the_messages_paths_speak_anthropic(path: str, anthropic: bool) -> None:
    assert anthropic_render.speaks(path) is anthropic


def test_a_thinking_signature_is_kept_in_the_message_and_the_stream() -> None:
    answer = WholeAnswer("w", "m", ("Hi",), "stop", reasoning="hmm", reasoning_signature="sig==")
    whole = anthropic_render.message(answer, mid="msg_1")
    writer = anthropic_render.EventWriter(mid="msg_1", model="m")
    streamed = writer.thinking("hmm") + writer.thinking("", "sig==")

    assert whole["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": "sig=="}
    assert b'"type":"signature_delta","signature":"sig=="' in streamed
    assert streamed.count(b"event: content_block_start") == 1

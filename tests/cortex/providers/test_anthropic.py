"""AnthropicAdapter: the Messages API with named SSE events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

from actors.outcomes import ErrorKind
from cortex.chat import ChatRequest, Finished, Message, StreamFailed, TextDelta, Usage
from cortex.providers.anthropic import AnthropicAdapter
from cortex.providers.base import Target

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode, Whole

KEY = "sk-ant-api03-SECRETSECRETSECRET"
TARGET = Target("https://api.anthropic.com/", "claude-sonnet-4-5", KEY)
REQUEST = ChatRequest(
    messages=(
        Message("system", "be brief"),
        Message("user", "hi"),
        Message("assistant", "hello"),
        Message("developer", "no emoji"),
        Message("user", "how are you?"),
    ),
    temperature=0.5,
    top_p=0.9,
    max_tokens=64,
    stop=("END",),
)


def event(name: str, data: Mapping[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def text_delta(text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})


START = event(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5",
            "stop_reason": None,
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 2,
                "cache_read_input_tokens": 3,
                "output_tokens": 1,
            },
        },
    },
)


def message_delta(reason: str) -> bytes:
    return event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": 7},
        },
    )


STREAM = b"".join(
    [
        START,
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        event("ping", {"type": "ping"}),
        text_delta("Hel"),
        text_delta("lo ü😀"),
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        message_delta("end_turn"),
        event("message_stop", {"type": "message_stop"}),
    ]
)


def test_streaming_call_is_built_byte_for_byte() -> None:
    call = AnthropicAdapter().chat_call(TARGET, REQUEST, stream=True)
    assert (call.method, call.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert dict(call.headers) == {"anthropic-version": "2023-06-01", "x-api-key": KEY}
    assert json.dumps(call.json, separators=(",", ":")) == (
        '{"model":"claude-sonnet-4-5","system":"be brief\\n\\nno emoji",'
        '"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},'
        '{"role":"user","content":"how are you?"}],"max_tokens":64,"stream":true,'
        '"temperature":0.5,"stop_sequences":["END"]}'
    )


def test_max_tokens_defaults_when_the_request_has_none() -> None:
    call = AnthropicAdapter().chat_call(TARGET, ChatRequest((Message("user", "hi"),)), stream=False)
    assert call.json == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 1024,
        "stream": False,
    }


def test_default_max_tokens_is_a_constructor_argument() -> None:
    adapter = AnthropicAdapter(default_max_tokens=4096)
    call = adapter.chat_call(TARGET, ChatRequest((Message("user", "hi"),)), stream=False)
    assert call.json is not None
    assert call.json["max_tokens"] == 4096


def test_stream_decodes_to_text_finish_and_usage(decode: Decode) -> None:
    assert decode(AnthropicAdapter().decoder(), STREAM) == [
        TextDelta("Hel"),
        TextDelta("lo ü😀"),
        Finished("stop"),
        Usage(15, 7),
    ]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reason_maps_to_finish_reason(stop_reason: str, finish: str) -> None:
    assert AnthropicAdapter().decoder().feed(message_delta(stop_reason)) == [Finished(finish)]


def test_non_text_deltas_are_ignored() -> None:
    delta = {"type": "input_json_delta", "partial_json": '{"a"'}
    data = event("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": delta})
    assert AnthropicAdapter().decoder().feed(data) == []


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", ErrorKind.OVERLOADED),
        ("api_error", ErrorKind.UPSTREAM_ERROR),
        ("rate_limit_error", ErrorKind.RATE_LIMITED),
        ("unknown_error", ErrorKind.UPSTREAM_ERROR),
    ],
)
def test_an_error_event_becomes_stream_failed(error_type: str, kind: ErrorKind) -> None:
    error = {"type": "error", "error": {"type": error_type, "message": "Overloaded"}}
    events = AnthropicAdapter().decoder().feed(START + text_delta("a") + event("error", error))
    assert events[0] == TextDelta("a")
    assert isinstance(events[1], StreamFailed)
    assert (events[1].failure.kind, events[1].failure.code) == (kind, error_type)


def test_non_streamed_answer_is_parsed(whole: Whole) -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "x"},
            {"type": "text", "text": "Hi "},
            {"type": "text", "text": "there"},
        ],
        "stop_reason": "max_tokens",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 8},
    }
    completion = AnthropicAdapter().parse_completion(json.dumps(body).encode())
    assert whole(completion) == ("Hi there", "length", Usage(5, 8))


@pytest.mark.parametrize("body", [b"", b"[]", b'{"type":"message"}', b'{"content":"text"}'])
def test_an_invalid_completion_body_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|expected|content"):
        AnthropicAdapter().parse_completion(body)


def error_body(error_type: str, message: str = "failed") -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_1"}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, error_body("invalid_request_error"), ErrorKind.BAD_REQUEST),
        (
            400,
            error_body("invalid_request_error", "Your credit balance is too low"),
            ErrorKind.QUOTA_EXHAUSTED,
        ),
        (401, error_body("authentication_error"), ErrorKind.INVALID_KEY),
        (402, error_body("billing_error"), ErrorKind.QUOTA_EXHAUSTED),
        (403, error_body("permission_error"), ErrorKind.INVALID_KEY),
        (404, error_body("not_found_error"), ErrorKind.BAD_REQUEST),
        (413, error_body("request_too_large"), ErrorKind.BAD_REQUEST),
        (429, error_body("rate_limit_error"), ErrorKind.RATE_LIMITED),
        (500, error_body("api_error"), ErrorKind.UPSTREAM_ERROR),
        (504, error_body("timeout_error"), ErrorKind.TIMEOUT),
        (529, error_body("overloaded_error"), ErrorKind.OVERLOADED),
        (529, b"<html>overloaded</html>", ErrorKind.OVERLOADED),
        (503, b"", ErrorKind.OVERLOADED),
    ],
)
def test_classification_table(status: int, body: bytes, kind: ErrorKind) -> None:
    failure = AnthropicAdapter().classify(status, {}, body)
    assert (failure.kind, failure.status) == (kind, status)


def test_a_spend_limit_429_is_quota_exhausted() -> None:
    body = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "spend limit",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
    }
    failure = AnthropicAdapter().classify(429, {}, json.dumps(body).encode())
    assert failure.kind is ErrorKind.QUOTA_EXHAUSTED


def test_classification_keeps_type_message_and_retry_after() -> None:
    failure = AnthropicAdapter().classify(
        429, {"retry-after": "12"}, error_body("rate_limit_error", "Number of requests exceeded")
    )
    assert (failure.code, failure.message, failure.retry_after) == (
        "rate_limit_error",
        "Number of requests exceeded",
        12.0,
    )


def test_models_call_uses_the_chat_headers() -> None:
    call = AnthropicAdapter().models_call("https://api.anthropic.com", KEY)
    assert (call.method, call.url) == ("GET", "https://api.anthropic.com/v1/models")
    assert dict(call.headers) == {"anthropic-version": "2023-06-01", "x-api-key": KEY}


def test_model_list_is_parsed() -> None:
    body = (
        b'{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"S"}],"has_more":false}'
    )
    assert AnthropicAdapter().parse_models(body) == ("claude-sonnet-4-5",)

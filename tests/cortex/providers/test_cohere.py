"""CohereAdapter: Chat v2 with SSE events named like their type."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from actors.outcomes import ErrorKind
from cortex.chat import ChatRequest, Finished, Message, StreamFailed, TextDelta, Usage
from cortex.providers.base import Target
from cortex.providers.cohere import CohereAdapter

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode, Whole

KEY = "co-SECRET-0123456789"
TARGET = Target("https://api.cohere.com/", "command-a-03-2025", KEY)
REQUEST = ChatRequest(
    messages=(Message("system", "be brief"), Message("user", "hi")),
    temperature=0.1,
    top_p=0.75,
    max_tokens=50,
    stop=("x",),
)
USAGE = {
    "billed_units": {"input_tokens": 5, "output_tokens": 8},
    "tokens": {"input_tokens": 70, "output_tokens": 8},
}


def event(data: dict[str, object]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def content_delta(text: str) -> bytes:
    delta = {"message": {"content": {"text": text}}}
    return event({"type": "content-delta", "index": 0, "delta": delta})


def message_end(reason: str, error: str | None = None) -> bytes:
    delta = {"finish_reason": reason, "usage": USAGE, "error": error}
    return event({"type": "message-end", "delta": delta})


START = event(
    {
        "id": "c1",
        "type": "message-start",
        "delta": {
            "message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}
        },
    }
)
STREAM = b"".join(
    [
        START,
        event(
            {
                "type": "content-start",
                "index": 0,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            }
        ),
        content_delta("Hel"),
        content_delta("lo ü😀"),
        event({"type": "content-end", "index": 0}),
        message_end("COMPLETE"),
    ]
)


def test_streaming_call_is_built_byte_for_byte() -> None:
    call = CohereAdapter().chat_call(TARGET, REQUEST, stream=True)
    assert (call.method, call.url) == ("POST", "https://api.cohere.com/v2/chat")
    assert dict(call.headers) == {"Authorization": f"Bearer {KEY}"}
    assert json.dumps(call.json, separators=(",", ":")) == (
        '{"model":"command-a-03-2025","messages":[{"role":"system","content":"be brief"},'
        '{"role":"user","content":"hi"}],"stream":true,"temperature":0.1,"p":0.75,'
        '"max_tokens":50,"stop_sequences":["x"]}'
    )


def test_stream_decodes_to_text_finish_and_usage(decode: Decode) -> None:
    assert decode(CohereAdapter().decoder(), STREAM) == [
        TextDelta("Hel"),
        TextDelta("lo ü😀"),
        Finished("stop"),
        Usage(70, 8),
    ]


def test_a_done_sentinel_after_message_end_is_accepted(decode: Decode) -> None:
    events = decode(CohereAdapter().decoder(), STREAM + b"data: [DONE]\n\n")
    assert events[-2:] == [Finished("stop"), Usage(70, 8)]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
    ],
)
def test_finish_reason_is_mapped(reason: str, finish: str) -> None:
    assert CohereAdapter().decoder().feed(message_end(reason))[0] == Finished(finish)


@pytest.mark.parametrize(
    ("reason", "kind"), [("ERROR", ErrorKind.UPSTREAM_ERROR), ("TIMEOUT", ErrorKind.TIMEOUT)]
)
def test_a_failed_generation_becomes_stream_failed(reason: str, kind: ErrorKind) -> None:
    events = (
        CohereAdapter().decoder().feed(content_delta("a") + message_end(reason, "model crashed"))
    )
    assert events[0] == TextDelta("a")
    assert isinstance(events[1], StreamFailed)
    assert (events[1].failure.kind, events[1].failure.message) == (kind, "model crashed")


def test_billed_units_are_used_when_token_counts_are_missing() -> None:
    data = event(
        {
            "type": "message-end",
            "delta": {
                "finish_reason": "COMPLETE",
                "usage": {"billed_units": {"input_tokens": 5.0, "output_tokens": 8.0}},
            },
        }
    )
    assert CohereAdapter().decoder().feed(data) == [Finished("stop"), Usage(5, 8)]


def test_non_streamed_answer_is_parsed(whole: Whole) -> None:
    body = {
        "id": "c1",
        "finish_reason": "MAX_TOKENS",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi there"}]},
        "usage": USAGE,
    }
    completion = CohereAdapter().parse_completion(json.dumps(body).encode())
    assert whole(completion) == ("Hi there", "length", Usage(70, 8))


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"message": {}}', b'{"finish_reason":"ERROR","message":{"content":[]}}'],
)
def test_an_invalid_completion_body_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|expected|content|ERROR"):
        CohereAdapter().parse_completion(body)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, b'{"message":"invalid request: message must not be empty"}', ErrorKind.BAD_REQUEST),
        (401, b'{"message":"invalid api token"}', ErrorKind.INVALID_KEY),
        (402, b'{"message":"Please add or update your payment method"}', ErrorKind.QUOTA_EXHAUSTED),
        (404, b'{"message":"model not found"}', ErrorKind.BAD_REQUEST),
        (
            429,
            b'{"message":"You are using a Trial key, which is limited to 10 API calls / minute."}',
            ErrorKind.RATE_LIMITED,
        ),
        (
            429,
            b'{"message":"You are using a Trial key, which is limited to 1000 API calls / month."}',
            ErrorKind.QUOTA_EXHAUSTED,
        ),
        (498, b'{"message":"blocked: unsafe request"}', ErrorKind.BAD_REQUEST),
        (499, b'{"message":"request cancelled"}', ErrorKind.UPSTREAM_ERROR),
        (500, b'{"message":"internal server error"}', ErrorKind.UPSTREAM_ERROR),
        (503, b'{"message":"service unavailable"}', ErrorKind.OVERLOADED),
        (504, b"", ErrorKind.TIMEOUT),
    ],
)
def test_classification_table(status: int, body: bytes, kind: ErrorKind) -> None:
    failure = CohereAdapter().classify(status, {}, body)
    assert (failure.kind, failure.status) == (kind, status)


def test_classification_keeps_the_message() -> None:
    failure = CohereAdapter().classify(401, {}, b'{"message":"invalid api token"}')
    assert failure.message == "invalid api token"


def test_models_call_lists_models_with_the_key() -> None:
    call = CohereAdapter().models_call("https://api.cohere.com", KEY)
    assert (call.method, call.url) == ("GET", "https://api.cohere.com/v1/models")
    assert dict(call.headers) == {"Authorization": f"Bearer {KEY}"}


def test_model_list_is_parsed() -> None:
    body = b'{"models":[{"name":"command-a-03-2025","endpoints":["chat"]}],"next_page_token":null}'
    assert CohereAdapter().parse_models(body) == ("command-a-03-2025",)

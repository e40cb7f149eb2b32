"""OpenAIAdapter: the Chat Completions wire format used for openai, groq and xai."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from actors.outcomes import ErrorKind
from cortex.chat import (
    ChatRequest,
    Finished,
    Malformed,
    Message,
    StreamFailed,
    TextDelta,
    Usage,
)
from cortex.providers.base import Target
from cortex.providers.openai import OpenAIAdapter

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode, Whole

KEY = "sk-test-0123456789abcdef"
TARGET = Target("https://api.openai.com/v1/", "gpt-4o-mini", KEY)
REQUEST = ChatRequest(
    messages=(Message("system", "be brief"), Message("user", "hi")),
    temperature=0.2,
    top_p=0.9,
    max_tokens=50,
    stop=("x",),
)


def sse(*payloads: object) -> bytes:
    return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1710000000,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13},
}
STREAM = (
    sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo wörld 😀"}),
        chunk({}, "stop"),
        USAGE_CHUNK,
    )
    + b"data: [DONE]\n\n"
)


def test_streaming_call_is_built_byte_for_byte() -> None:
    call = OpenAIAdapter().chat_call(TARGET, REQUEST, stream=True)
    assert (call.method, call.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert dict(call.headers) == {"Authorization": f"Bearer {KEY}"}
    assert json.dumps(call.json, separators=(",", ":")) == (
        '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},'
        '{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},'
        '"temperature":0.2,"top_p":0.9,"max_tokens":50,"stop":["x"]}'
    )


def test_non_streaming_call_sends_no_stream_options() -> None:
    call = OpenAIAdapter().chat_call(TARGET, REQUEST, stream=False)
    assert call.json is not None
    assert call.json["stream"] is False
    assert "stream_options" not in call.json


def test_unset_sampling_fields_are_left_out() -> None:
    call = OpenAIAdapter().chat_call(TARGET, ChatRequest((Message("user", "hi"),)), stream=False)
    assert call.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


def test_max_tokens_field_can_be_renamed_for_reasoning_models() -> None:
    adapter = OpenAIAdapter(max_tokens_field="max_completion_tokens")
    call = adapter.chat_call(TARGET, REQUEST, stream=False)
    assert call.json is not None
    assert call.json["max_completion_tokens"] == 50
    assert "max_tokens" not in call.json


def test_a_keyless_target_gets_no_authorization_header() -> None:
    target = Target("http://localhost:11434/v1", "llama3.2")
    assert dict(OpenAIAdapter().chat_call(target, REQUEST, stream=True).headers) == {}


def test_stream_decodes_to_text_finish_and_usage(decode: Decode) -> None:
    assert decode(OpenAIAdapter().decoder(), STREAM) == [
        TextDelta("Hel"),
        TextDelta("lo wörld 😀"),
        Finished("stop"),
        Usage(5, 8),
    ]


def test_groq_usage_in_x_groq_is_reported_once(decode: Decode) -> None:
    finish = chunk({}, "length") | {
        "x_groq": {"usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    }
    events = decode(OpenAIAdapter().decoder(), sse(chunk({"content": "a"}), finish, USAGE_CHUNK))
    assert events == [TextDelta("a"), Finished("length"), Usage(5, 8)]


def test_usage_is_still_reported_when_the_stream_ends_without_done() -> None:
    decoder = OpenAIAdapter().decoder()
    events = decoder.feed(sse(chunk({"content": "a"}), chunk({}, "stop"), USAGE_CHUNK))
    assert events + decoder.close() == [TextDelta("a"), Finished("stop"), Usage(5, 8)]


def test_bytes_after_done_are_ignored() -> None:
    decoder = OpenAIAdapter().decoder()
    ended = sse(chunk({}, "stop")) + b'data: [DONE]\n\ndata: {"choices": 1}\n\n'
    assert decoder.feed(ended) == [Finished("stop")]
    assert decoder.feed(b"garbage\n\n") == []


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "Internal error", "type": "server_error"}, ErrorKind.UPSTREAM_ERROR),
        ({"message": "slow down", "code": "rate_limit_exceeded"}, ErrorKind.RATE_LIMITED),
        ({"message": "no credit", "type": "insufficient_quota"}, ErrorKind.QUOTA_EXHAUSTED),
        ({"message": "busy", "code": 503}, ErrorKind.OVERLOADED),
        ("plain text error", ErrorKind.UPSTREAM_ERROR),
    ],
)
def test_an_error_object_in_the_stream_becomes_stream_failed(
    error: object, kind: ErrorKind
) -> None:
    decoder = OpenAIAdapter().decoder()
    events = decoder.feed(sse(chunk({"content": "a"}), {"error": error}))
    assert events[0] == TextDelta("a")
    assert isinstance(events[1], StreamFailed)
    assert events[1].failure.kind is kind
    assert decoder.close() == []


def test_an_unreadable_chunk_is_skipped_and_the_stream_goes_on() -> None:
    decoder = OpenAIAdapter().decoder()
    good = b'data: {"choices": [{"index": 0, "delta": {"content": "ok"}}]}\n\n'
    end = sse(chunk({}, "stop")) + b"data: [DONE]\n\n"
    events = decoder.feed(b'data: {"choices": [\n\n' + good + end)
    assert isinstance(events[0], Malformed)
    assert TextDelta("ok") in events
    assert not any(isinstance(e, StreamFailed) for e in events)


def test_non_streamed_answer_is_parsed(whole: Whole) -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!", "refusal": None},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    completion = OpenAIAdapter().parse_completion(json.dumps(body).encode())
    assert whole(completion) == ("Hi!", "length", Usage(5, 2))


def test_a_null_content_parses_as_empty_text(whole: Whole) -> None:
    body = (
        b'{"choices":[{"message":{"role":"assistant","content":null},'
        b'"finish_reason":"tool_calls"}]}'
    )
    assert whole(OpenAIAdapter().parse_completion(body)) == ("", "tool_calls", None)


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502</html>", b"[]", b'{"choices": []}', b'{"choices": [{"message": "x"}]}'],
)
def test_an_invalid_completion_body_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|expected"):
        OpenAIAdapter().parse_completion(body)


def error_body(message: str, kind: str | None, code: str | None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            429,
            error_body("Rate limit reached", "tokens", "rate_limit_exceeded"),
            ErrorKind.RATE_LIMITED,
            "rate_limit_exceeded",
        ),
        (
            429,
            error_body("You exceeded your quota", "insufficient_quota", "insufficient_quota"),
            ErrorKind.QUOTA_EXHAUSTED,
            "insufficient_quota",
        ),
        (
            429,
            error_body("quota", "insufficient_quota", None),
            ErrorKind.QUOTA_EXHAUSTED,
            "insufficient_quota",
        ),
        (
            401,
            error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
            ErrorKind.INVALID_KEY,
            "invalid_api_key",
        ),
        (
            403,
            error_body(
                "Country not supported", "request_forbidden", "unsupported_country_region_territory"
            ),
            ErrorKind.INVALID_KEY,
            "unsupported_country_region_territory",
        ),
        (
            400,
            error_body(
                "maximum context length", "invalid_request_error", "context_length_exceeded"
            ),
            ErrorKind.BAD_REQUEST,
            "context_length_exceeded",
        ),
        (
            404,
            error_body("The model does not exist", "invalid_request_error", "model_not_found"),
            ErrorKind.BAD_REQUEST,
            "model_not_found",
        ),
        (
            413,
            error_body("too large", "invalid_request_error", None),
            ErrorKind.BAD_REQUEST,
            "invalid_request_error",
        ),
        (422, error_body("unprocessable", None, None), ErrorKind.BAD_REQUEST, None),
        (408, error_body("timeout", None, None), ErrorKind.TIMEOUT, None),
        (
            500,
            error_body("server error", "server_error", None),
            ErrorKind.UPSTREAM_ERROR,
            "server_error",
        ),
        (502, b"<html>Bad gateway</html>", ErrorKind.UPSTREAM_ERROR, None),
        (503, error_body("overloaded", "server_error", None), ErrorKind.OVERLOADED, "server_error"),
        (529, b"", ErrorKind.OVERLOADED, None),
    ],
)
def test_classification_table(status: int, body: bytes, kind: ErrorKind, code: str | None) -> None:
    failure = OpenAIAdapter().classify(status, {}, body)
    assert (failure.kind, failure.code, failure.status) == (kind, code, status)


def test_classification_keeps_the_providers_message() -> None:
    body = error_body(
        "This model's maximum context length is 8192 tokens.",
        "invalid_request_error",
        "context_length_exceeded",
    )
    failure = OpenAIAdapter().classify(400, {}, body)
    assert failure.message == "This model's maximum context length is 8192 tokens."


def test_xai_numeric_codes_are_kept_as_text() -> None:
    failure = OpenAIAdapter().classify(400, {}, b'{"error": {"message": "bad", "code": 400}}')
    assert failure.code == "400"


def test_retry_after_header_is_read() -> None:
    failure = OpenAIAdapter().classify(429, {"Retry-After": "7"}, error_body("slow", None, None))
    assert failure.retry_after == 7.0


def test_retry_after_ms_header_is_read() -> None:
    failure = OpenAIAdapter().classify(429, {"retry-after-ms": "250"}, b"")
    assert failure.retry_after == 0.25


def test_an_unreadable_error_body_gets_a_fallback_message() -> None:
    failure = OpenAIAdapter().classify(502, {}, b"<html><title>502 Bad Gateway</title></html>")
    assert failure.message.startswith("upstream answered HTTP 502")


def test_a_key_echoed_by_the_upstream_is_redacted() -> None:
    body = error_body(
        f"Incorrect API key provided: {KEY}.", "invalid_request_error", "invalid_api_key"
    )
    failure = OpenAIAdapter().classify(401, {}, body)
    assert KEY not in failure.message
    assert "Incorrect API key provided" in failure.message


def test_models_call_lists_models_with_the_key() -> None:
    call = OpenAIAdapter().models_call("https://api.groq.com/openai/v1", "gsk_abc")
    assert (call.method, call.url) == ("GET", "https://api.groq.com/openai/v1/models")
    assert dict(call.headers) == {"Authorization": "Bearer gsk_abc"}


def test_model_list_is_parsed() -> None:
    body = (
        b'{"object":"list","data":[{"id":"gpt-4o","object":"model"},{"id":"o3","object":"model"}]}'
    )
    assert OpenAIAdapter().parse_models(body) == ("gpt-4o", "o3")


@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"object":"list"}', b'{"data": {}}'])
def test_an_invalid_model_list_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|expected|listing"):
        OpenAIAdapter().parse_models(body)

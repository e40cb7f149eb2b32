"""GeminiAdapter: generateContent and streamGenerateContent?alt=sse."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

from actors.outcomes import ErrorKind
from cortex.chat import (
    ChatRequest,
    Finished,
    Message,
    ReasoningDelta,
    StreamFailed,
    TextDelta,
    Usage,
)
from cortex.providers.base import Target
from cortex.providers.gemini import GeminiAdapter

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode, Whole

KEY = "AIzaSyA-SECRETSECRETSECRETSECRET12"
TARGET = Target("https://generativelanguage.googleapis.com/", "gemini-2.5-flash", KEY)
REQUEST = ChatRequest(
    messages=(Message("system", "be brief"), Message("user", "hi"), Message("assistant", "yo")),
    temperature=0.2,
    top_p=0.8,
    max_tokens=50,
    stop=("x",),
)


def chunk(text: str | None = None, finish: str | None = None, usage: bool = False) -> bytes:
    candidate: dict[str, object] = {"index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish:
        candidate["finishReason"] = finish
    payload: dict[str, object] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash"}
    payload["usageMetadata"] = (
        {"promptTokenCount": 5, "candidatesTokenCount": 8, "thoughtsTokenCount": 2}
        if usage
        else {"promptTokenCount": 5}
    )
    return b"data: " + json.dumps(payload).encode() + b"\r\n\r\n"


STREAM = chunk("Hel") + chunk("lo ü😀") + chunk("", "STOP", usage=True)


def test_streaming_call_is_built_byte_for_byte() -> None:
    call = GeminiAdapter().chat_call(TARGET, REQUEST, stream=True)
    assert (call.method, call.url) == (
        "POST",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
        ":streamGenerateContent?alt=sse",
    )
    assert dict(call.headers) == {"x-goog-api-key": KEY}
    assert json.dumps(call.json, separators=(",", ":")) == (
        '{"contents":[{"role":"user","parts":[{"text":"hi"}]},'
        '{"role":"model","parts":[{"text":"yo"}]}],'
        '"systemInstruction":{"parts":[{"text":"be brief"}]},'
        '"generationConfig":{"temperature":0.2,"maxOutputTokens":50,"topP":0.8,'
        '"stopSequences":["x"]}}'
    )


def test_non_streaming_call_uses_generate_content_without_empty_config() -> None:
    target = Target("https://generativelanguage.googleapis.com", "models/gemini-2.5-pro", KEY)
    call = GeminiAdapter().chat_call(target, ChatRequest((Message("user", "hi"),)), stream=False)
    assert call.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"
    )
    assert call.json == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_a_base_url_that_names_a_version_is_not_versioned_twice() -> None:
    adapter = GeminiAdapter(api_version="v1beta")
    call = adapter.models_call("https://generativelanguage.googleapis.com/v1", KEY)
    assert call.url == "https://generativelanguage.googleapis.com/v1/models"


def test_stream_decodes_to_text_finish_and_usage(decode: Decode) -> None:
    assert decode(GeminiAdapter().decoder(), STREAM) == [
        TextDelta("Hel"),
        TextDelta("lo ü😀"),
        Finished("stop"),
        Usage(5, 10),
    ]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("LANGUAGE", "stop"),
    ],
)
def test_finish_reason_is_mapped(reason: str, finish: str) -> None:
    assert GeminiAdapter().decoder().feed(chunk(None, reason)) == [Finished(finish)]


def test_thought_parts_are_reasoning_not_answer_text() -> None:
    parts = [{"text": "thinking...", "thought": True}, {"text": "answer"}]
    payload = {"candidates": [{"content": {"role": "model", "parts": parts}}]}
    data = b"data: " + json.dumps(payload).encode() + b"\n\n"
    assert GeminiAdapter().decoder().feed(data) == [
        ReasoningDelta("thinking..."),
        TextDelta("answer"),
    ]


def test_an_error_object_in_the_stream_becomes_stream_failed() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    decoder = GeminiAdapter().decoder()
    events = decoder.feed(chunk("a") + b"data: " + json.dumps(error).encode() + b"\n\n")
    assert events[0] == TextDelta("a")
    assert isinstance(events[1], StreamFailed)
    assert (events[1].failure.kind, events[1].failure.code) == (ErrorKind.OVERLOADED, "UNAVAILABLE")
    assert decoder.close() == []


def test_non_streamed_answer_is_parsed(whole: Whole) -> None:
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hi"}, {"text": "!"}]},
                "finishReason": "MAX_TOKENS",
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 8, "totalTokenCount": 13},
    }
    completion = GeminiAdapter().parse_completion(json.dumps(body).encode())
    assert whole(completion) == ("Hi!", "length", Usage(5, 8))


def test_a_blocked_prompt_is_a_content_filter_finish(whole: Whole) -> None:
    body = b'{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}'
    assert whole(GeminiAdapter().parse_completion(body)) == ("", "content_filter", Usage(4, 0))


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b'{"candidates": "x"}'])
def test_an_invalid_completion_body_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|expected|candidates"):
        GeminiAdapter().parse_completion(body)


def google_error(code: int, status: str, message: str, *details: Mapping[str, object]) -> bytes:
    error = {"code": code, "message": message, "status": status, "details": list(details)}
    return json.dumps({"error": error}).encode()


KEY_INVALID = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
RETRY = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}
BILLING = "You exceeded your current quota, please check your plan and billing details."


def quota(quota_id: str) -> Mapping[str, object]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generate_content_free_tier_requests", "quotaId": quota_id}],
    }


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            google_error(400, "INVALID_ARGUMENT", "API key not valid.", KEY_INVALID),
            ErrorKind.INVALID_KEY,
        ),
        (400, google_error(400, "INVALID_ARGUMENT", "bad field"), ErrorKind.BAD_REQUEST),
        (
            400,
            google_error(400, "FAILED_PRECONDITION", "User location is not supported"),
            ErrorKind.UPSTREAM_ERROR,
        ),
        (403, google_error(403, "PERMISSION_DENIED", "denied"), ErrorKind.INVALID_KEY),
        (401, google_error(401, "UNAUTHENTICATED", "no auth"), ErrorKind.INVALID_KEY),
        (404, google_error(404, "NOT_FOUND", "models/x is not found"), ErrorKind.BAD_REQUEST),
        (
            429,
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                BILLING,
                quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                RETRY,
            ),
            ErrorKind.RATE_LIMITED,
        ),
        (
            429,
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                BILLING,
                quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
                RETRY,
            ),
            ErrorKind.QUOTA_EXHAUSTED,
        ),
        (429, google_error(429, "RESOURCE_EXHAUSTED", BILLING), ErrorKind.QUOTA_EXHAUSTED),
        (
            429,
            google_error(
                429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
            ),
            ErrorKind.RATE_LIMITED,
        ),
        (
            429,
            google_error(
                429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: x, limit: 0, model: y", RETRY
            ),
            ErrorKind.QUOTA_EXHAUSTED,
        ),
        (500, google_error(500, "INTERNAL", "internal"), ErrorKind.UPSTREAM_ERROR),
        (503, google_error(503, "UNAVAILABLE", "The model is overloaded."), ErrorKind.OVERLOADED),
        (504, google_error(504, "DEADLINE_EXCEEDED", "deadline"), ErrorKind.TIMEOUT),
        (502, b"<html>502</html>", ErrorKind.UPSTREAM_ERROR),
    ],
)
def test_classification_table(status: int, body: bytes, kind: ErrorKind) -> None:
    failure = GeminiAdapter().classify(status, {}, body)
    assert (failure.kind, failure.status) == (kind, status)


def test_retry_delay_in_the_body_becomes_retry_after() -> None:
    body = google_error(429, "RESOURCE_EXHAUSTED", "slow down", RETRY)
    assert GeminiAdapter().classify(429, {}, body).retry_after == 17.0


def test_an_error_wrapped_in_a_list_is_read() -> None:
    body = b"[" + google_error(503, "UNAVAILABLE", "busy") + b"]"
    failure = GeminiAdapter().classify(503, {}, body)
    assert (failure.code, failure.message) == ("UNAVAILABLE", "busy")


def test_models_call_uses_the_versioned_root() -> None:
    call = GeminiAdapter().models_call("https://generativelanguage.googleapis.com", KEY)
    assert (call.method, call.url) == (
        "GET",
        "https://generativelanguage.googleapis.com/v1beta/models",
    )
    assert dict(call.headers) == {"x-goog-api-key": KEY}


def test_model_names_lose_their_models_prefix() -> None:
    body = (
        b'{"models":[{"name":"models/gemini-2.5-flash","displayName":"Flash"}],"nextPageToken":"x"}'
    )
    assert GeminiAdapter().parse_models(body) == ("gemini-2.5-flash",)

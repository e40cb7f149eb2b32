"""OllamaAdapter: the native /api/chat NDJSON format."""

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
from cortex.providers.ollama import OllamaAdapter

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode, Whole

TARGET = Target("http://localhost:11434/", "llama3.2")
REQUEST = ChatRequest(
    messages=(Message("developer", "be brief"), Message("user", "hi")),
    temperature=0.1,
    top_p=0.5,
    max_tokens=50,
    stop=("x",),
)


def part(text: str) -> dict[str, object]:
    return {
        "model": "llama3.2",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": text},
        "done": False,
    }


def final(reason: str = "stop") -> dict[str, object]:
    return {
        "model": "llama3.2",
        "created_at": "2025-01-01T00:00:01Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": reason,
        "total_duration": 1000,
        "load_duration": 10,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 100,
        "eval_count": 3,
        "eval_duration": 200,
    }


def ndjson(*objects: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def test_streaming_call_is_built_byte_for_byte() -> None:
    call = OllamaAdapter().chat_call(TARGET, REQUEST, stream=True)
    assert (call.method, call.url) == ("POST", "http://localhost:11434/api/chat")
    assert dict(call.headers) == {}
    assert json.dumps(call.json, separators=(",", ":")) == (
        '{"model":"llama3.2","messages":[{"role":"system","content":"be brief"},'
        '{"role":"user","content":"hi"}],"stream":true,'
        '"options":{"temperature":0.1,"top_p":0.5,"num_predict":50,"stop":["x"]}}'
    )


def test_stream_false_is_sent_explicitly_and_empty_options_are_left_out() -> None:
    call = OllamaAdapter().chat_call(TARGET, ChatRequest((Message("user", "hi"),)), stream=False)
    assert call.json == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


def test_a_cloud_key_is_sent_as_bearer() -> None:
    target = Target("https://ollama.com", "gpt-oss:120b", "ollama-key-123")
    call = OllamaAdapter().chat_call(target, REQUEST, stream=True)
    assert dict(call.headers) == {"Authorization": "Bearer ollama-key-123"}


def test_stream_decodes_to_text_finish_and_usage(decode: Decode) -> None:
    stream = ndjson(part("Hel"), part("lo ü😀"), final())
    assert decode(OllamaAdapter().decoder(), stream) == [
        TextDelta("Hel"),
        TextDelta("lo ü😀"),
        Finished("stop"),
        Usage(26, 3),
    ]


@pytest.mark.parametrize(
    ("done_reason", "finish"),
    [("stop", "stop"), ("length", "length"), ("load", "stop"), ("unknown", "stop")],
)
def test_done_reason_maps_to_finish_reason(done_reason: str, finish: str) -> None:
    events = OllamaAdapter().decoder().feed(ndjson(final(done_reason)))
    assert events[0] == Finished(finish)


def test_a_final_line_without_newline_is_decoded_on_close() -> None:
    decoder = OllamaAdapter().decoder()
    assert decoder.feed(json.dumps(final()).encode()) == []
    assert decoder.close() == [Finished("stop"), Usage(26, 3)]


def test_an_error_line_in_the_stream_becomes_stream_failed(decode: Decode) -> None:
    events = decode(OllamaAdapter().decoder(), ndjson(part("a"), {"error": "out of memory"}))
    assert events[0] == TextDelta("a")
    assert isinstance(events[1], StreamFailed)
    assert (events[1].failure.kind, events[1].failure.message) == (
        ErrorKind.UPSTREAM_ERROR,
        "out of memory",
    )


def test_a_non_json_line_is_reported_malformed_and_the_stream_goes_on() -> None:
    decoder = OllamaAdapter().decoder()
    events = decoder.feed(b"not json\n" + ndjson(part("a")))
    assert isinstance(events[0], Malformed)
    assert events[1:] == [TextDelta("a")]


def test_non_streamed_answer_is_parsed(whole: Whole) -> None:
    body = final("length") | {"message": {"role": "assistant", "content": "Hi there"}}
    completion = OllamaAdapter().parse_completion(json.dumps(body).encode())
    assert whole(completion) == ("Hi there", "length", Usage(26, 3))


@pytest.mark.parametrize("body", [b"", b"[]", b'{"done": true}', b'{"error": "model not found"}'])
def test_an_invalid_completion_body_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|expected|not found"):
        OllamaAdapter().parse_completion(body)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            404,
            b'{"error":"model \\"nope\\" not found, try pulling it first"}',
            ErrorKind.BAD_REQUEST,
        ),
        (400, b'{"error":"invalid options"}', ErrorKind.BAD_REQUEST),
        (401, b'{"error":"unauthorized"}', ErrorKind.INVALID_KEY),
        (429, b'{"error":"too many requests"}', ErrorKind.RATE_LIMITED),
        (500, b'{"error":"llama runner process has terminated"}', ErrorKind.UPSTREAM_ERROR),
        (
            503,
            b'{"error":"server busy, please try again.  maximum pending requests exceeded"}',
            ErrorKind.OVERLOADED,
        ),
        (502, b"Bad Gateway", ErrorKind.UPSTREAM_ERROR),
    ],
)
def test_classification_table(status: int, body: bytes, kind: ErrorKind) -> None:
    failure = OllamaAdapter().classify(status, {}, body)
    assert (failure.kind, failure.status) == (kind, status)


def test_classification_keeps_the_servers_message() -> None:
    failure = OllamaAdapter().classify(404, {}, b'{"error":"model \\"x\\" not found"}')
    assert failure.message == 'model "x" not found'


def test_models_call_reads_the_local_tags() -> None:
    call = OllamaAdapter().models_call("http://gpu-1:11434", None)
    assert (call.method, call.url, dict(call.headers)) == ("GET", "http://gpu-1:11434/api/tags", {})


def test_model_list_is_parsed() -> None:
    body = b'{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":1}]}'
    assert OllamaAdapter().parse_models(body) == ("llama3.2:latest",)


@pytest.mark.parametrize("body", [b"Ollama is running", b'{"models": null}'])
def test_an_invalid_model_list_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"JSON|listing"):
        OllamaAdapter().parse_models(body)

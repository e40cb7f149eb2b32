"""Table-driven translation across every adapter: the same requests and answers, five formats.

Requests: one chat request per case (system prompt, multi-turn history, stop sequences,
max tokens, empty content, unicode) and, per adapter, the exact body it must send.
Answers: one answer per case (plain, unicode, empty, cut by max tokens, ended by a stop
sequence) rendered in each provider's native stream and whole-body format, and the events
and completion every adapter must decode from them, whatever the chunking.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from structlog.testing import capture_logs

from cortex.chat import ChatRequest, Finished, Message, StreamEvent, TextDelta, Usage
from cortex.providers.base import Target
from cortex.providers.catalog import adapter_for

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode, Whole

M = Message
REQUESTS = {
    "system prompt": ChatRequest((M("system", "Be brief."), M("user", "Hi"))),
    "multi-turn history": ChatRequest(
        (M("user", "Hi"), M("assistant", "Hello!"), M("user", "How are you?"))
    ),
    "stop sequences": ChatRequest((M("user", "Count"),), stop=("5", "END")),
    "max tokens": ChatRequest((M("user", "Hi"),), max_tokens=7),
    "empty content": ChatRequest(
        (M("system", ""), M("user", "Hi"), M("assistant", " "), M("user", "Go on"))
    ),
    "unicode": ChatRequest((M("system", "Réponds 🇫🇷"), M("user", "Ça va? 日本語"))),
}

# The same conversations in each format. Anthropic and Gemini drop messages without text
# (they reject them); the others forward them as they are.
_CHAT = {
    "system prompt": '[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]',
    "multi-turn history": '[{"role":"user","content":"Hi"},{"role":"assistant","content":'
    '"Hello!"},{"role":"user","content":"How are you?"}]',
    "stop sequences": '[{"role":"user","content":"Count"}]',
    "max tokens": '[{"role":"user","content":"Hi"}]',
    "empty content": '[{"role":"system","content":""},{"role":"user","content":"Hi"},'
    '{"role":"assistant","content":" "},{"role":"user","content":"Go on"}]',
    "unicode": '[{"role":"system","content":"Réponds 🇫🇷"},'
    '{"role":"user","content":"Ça va? 日本語"}]',
}
_ANTHROPIC_TAIL = '"max_tokens":1024,"stream":false'


def _flat(case: str, extra: str = "") -> str:
    """The body of the formats that keep OpenAI's flat message list (OpenAI, Cohere, Ollama)."""
    return f'{{"model":"m","messages":{_CHAT[case]},"stream":false{extra}}}'


BODIES: dict[str, dict[str, str]] = {
    "openai": {case: _flat(case) for case in _CHAT}
    | {
        "stop sequences": _flat("stop sequences", ',"stop":["5","END"]'),
        "max tokens": _flat("max tokens", ',"max_tokens":7'),
    },
    "cohere": {case: _flat(case) for case in _CHAT}
    | {
        "stop sequences": _flat("stop sequences", ',"stop_sequences":["5","END"]'),
        "max tokens": _flat("max tokens", ',"max_tokens":7'),
    },
    "ollama": {case: _flat(case) for case in _CHAT}
    | {
        "stop sequences": _flat("stop sequences", ',"options":{"stop":["5","END"]}'),
        "max tokens": _flat("max tokens", ',"options":{"num_predict":7}'),
    },
    "anthropic": {
        "system prompt": '{"model":"m","system":"Be brief.","messages":'
        f'[{{"role":"user","content":"Hi"}}],{_ANTHROPIC_TAIL}}}',
        "multi-turn history": f'{{"model":"m","messages":{_CHAT["multi-turn history"]},'
        f"{_ANTHROPIC_TAIL}}}",
        "stop sequences": f'{{"model":"m","messages":{_CHAT["stop sequences"]},'
        f'{_ANTHROPIC_TAIL},"stop_sequences":["5","END"]}}',
        "max tokens": f'{{"model":"m","messages":{_CHAT["max tokens"]},'
        '"max_tokens":7,"stream":false}',
        "empty content": '{"model":"m","messages":[{"role":"user","content":"Hi"},'
        f'{{"role":"user","content":"Go on"}}],{_ANTHROPIC_TAIL}}}',
        "unicode": '{"model":"m","system":"Réponds 🇫🇷","messages":'
        f'[{{"role":"user","content":"Ça va? 日本語"}}],{_ANTHROPIC_TAIL}}}',
    },
    "gemini": {
        "system prompt": '{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],'
        '"systemInstruction":{"parts":[{"text":"Be brief."}]}}',
        "multi-turn history": '{"contents":[{"role":"user","parts":[{"text":"Hi"}]},'
        '{"role":"model","parts":[{"text":"Hello!"}]},'
        '{"role":"user","parts":[{"text":"How are you?"}]}]}',
        "stop sequences": '{"contents":[{"role":"user","parts":[{"text":"Count"}]}],'
        '"generationConfig":{"stopSequences":["5","END"]}}',
        "max tokens": '{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],'
        '"generationConfig":{"maxOutputTokens":7}}',
        "empty content": '{"contents":[{"role":"user","parts":[{"text":"Hi"}]},'
        '{"role":"user","parts":[{"text":"Go on"}]}]}',
        "unicode": '{"contents":[{"role":"user","parts":[{"text":"Ça va? 日本語"}]}],'
        '"systemInstruction":{"parts":[{"text":"Réponds 🇫🇷"}]}}',
    },
}
ADAPTERS = sorted(BODIES)


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("case", list(REQUESTS))
@pytest.mark.parametrize("provider", ADAPTERS)
def test_every_adapter_sends_each_request_case_byte_for_byte(provider: str, case: str) -> None:
    call = adapter_for(provider).chat_call(Target("http://h", "m"), REQUESTS[case], stream=False)

    assert compact(call.json) == BODIES[provider][case]


@pytest.mark.parametrize("provider", ADAPTERS)
def test_unicode_survives_the_ascii_escaped_encoding_on_the_wire(provider: str) -> None:
    call = adapter_for(provider).chat_call(
        Target("http://h", "m"), REQUESTS["unicode"], stream=True
    )
    wire = json.dumps(call.json).encode("ascii")  # what aiohttp's json= sends

    assert "Ça va? 日本語" in json.dumps(json.loads(wire), ensure_ascii=False)
    assert "Réponds 🇫🇷" in json.dumps(json.loads(wire), ensure_ascii=False)


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("openai", "http://h/chat/completions"),
        ("anthropic", "http://h/v1/messages"),
        ("gemini", "http://h/v1beta/models/m:streamGenerateContent?alt=sse"),
        ("cohere", "http://h/v2/chat"),
        ("ollama", "http://h/api/chat"),
    ],
)
def test_every_adapter_asks_for_a_stream_where_its_format_says(provider: str, url: str) -> None:
    call = adapter_for(provider).chat_call(
        Target("http://h", "m"), REQUESTS["max tokens"], stream=True
    )

    assert call.url == url
    if provider != "gemini":  # Gemini streams by method, not by a body field
        assert call.json is not None
        assert call.json["stream"] is True


def test_anthropic_drops_top_p_when_temperature_is_given_and_says_so_at_debug() -> None:
    request = ChatRequest((M("user", "Hi"),), temperature=0.4, top_p=0.9)

    with capture_logs() as logs:
        call = adapter_for("anthropic").chat_call(Target("http://h", "m"), request, stream=False)

    assert call.json is not None
    assert (call.json["temperature"], "top_p" in call.json) == (0.4, False)
    assert [(e["event"], e["field"], e["log_level"]) for e in logs] == [
        ("request_field_dropped", "top_p", "debug")
    ]


def test_anthropic_drops_a_temperature_above_its_range_and_keeps_top_p() -> None:
    request = ChatRequest((M("user", "Hi"),), temperature=1.5, top_p=0.9)

    with capture_logs() as logs:
        call = adapter_for("anthropic").chat_call(Target("http://h", "m"), request, stream=False)

    assert call.json is not None
    assert ("temperature" in call.json, call.json["top_p"]) == (False, 0.9)
    assert [e["field"] for e in logs] == ["temperature"]


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_messages_without_text_are_dropped_with_a_debug_log(provider: str) -> None:
    with capture_logs() as logs:
        adapter_for(provider).chat_call(
            Target("http://h", "m"), REQUESTS["empty content"], stream=False
        )

    assert [(e["event"], e["provider"], e["count"]) for e in logs] == [
        ("request_field_dropped", provider, 2)
    ]


# --- answers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: its streamed pieces and why it ended."""

    pieces: tuple[str, ...]
    ending: str  # "stop", "length" or "stop_sequence"
    finish_reason: str  # what every adapter must report

    @property
    def text(self) -> str:
        return "".join(self.pieces)


USAGE = Usage(4, 3)  # every rendering below reports 4 prompt and 3 completion tokens
ANSWERS = {
    "plain": Answer(("Hello", " there", "!"), "stop", "stop"),
    "unicode": Answer(("Ça", " va 🇫🇷", " 日本語"), "stop", "stop"),
    "empty": Answer((), "stop", "stop"),
    "cut by max tokens": Answer(("One", " two"), "length", "length"),
    "ended by a stop sequence": Answer(("1 2 3",), "stop_sequence", "stop"),
}
NATIVE_ENDINGS = {
    "openai": {"stop": "stop", "length": "length", "stop_sequence": "stop"},
    "anthropic": {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence"},
    "gemini": {"stop": "STOP", "length": "MAX_TOKENS", "stop_sequence": "STOP"},
    "cohere": {"stop": "COMPLETE", "length": "MAX_TOKENS", "stop_sequence": "STOP_SEQUENCE"},
    "ollama": {"stop": "stop", "length": "length", "stop_sequence": "stop"},
}


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def openai_wire(answer: Answer, end: str) -> tuple[bytes, dict[str, Any]]:
    usage = {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": p}}]} for p in answer.pieces
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": end}]})
    chunks.append({"choices": [], "usage": usage})
    stream = b"".join(sse(c) for c in chunks) + b"data: [DONE]\n\n"
    message = {"role": "assistant", "content": answer.text}
    return stream, {"choices": [{"message": message, "finish_reason": end}], "usage": usage}


def anthropic_wire(answer: Answer, end: str) -> tuple[bytes, dict[str, Any]]:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 4, "output_tokens": 1}}}
    deltas = [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        for p in answer.pieces
    ]
    ending = {"type": "message_delta", "delta": {"stop_reason": end}, "usage": {"output_tokens": 3}}
    events: list[dict[str, Any]] = [start, *deltas, ending, {"type": "message_stop"}]
    stream = b"".join(sse(e, e["type"]) for e in events)
    blocks = [{"type": "text", "text": answer.text}] if answer.pieces else []
    usage = {"input_tokens": 4, "output_tokens": 3}
    return stream, {"type": "message", "content": blocks, "stop_reason": end, "usage": usage}


def gemini_wire(answer: Answer, end: str) -> tuple[bytes, dict[str, Any]]:
    def response(text: str, finish: str | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate]}

    usage = {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7}
    chunks = [response(p, None) for p in answer.pieces]
    chunks.append({**response("", end), "usageMetadata": usage})
    return b"".join(sse(c) for c in chunks), {**response(answer.text, end), "usageMetadata": usage}


def cohere_wire(answer: Answer, end: str) -> tuple[bytes, dict[str, Any]]:
    usage = {"tokens": {"input_tokens": 4, "output_tokens": 3}}
    events: list[dict[str, Any]] = [
        {"type": "message-start", "delta": {"message": {"role": "assistant"}}},
        *(
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": p}}}}
            for p in answer.pieces
        ),
        {"type": "message-end", "delta": {"finish_reason": end, "usage": usage}},
    ]
    content = [{"type": "text", "text": answer.text}] if answer.pieces else []
    body = {"finish_reason": end, "message": {"role": "assistant", "content": content}}
    return b"".join(sse(e, e["type"]) for e in events), {**body, "usage": usage}


def ollama_wire(answer: Answer, end: str) -> tuple[bytes, dict[str, Any]]:
    def line(data: dict[str, Any]) -> bytes:
        return json.dumps(data, ensure_ascii=False).encode() + b"\n"

    counts = {"done_reason": end, "prompt_eval_count": 4, "eval_count": 3}
    parts = [{"message": {"role": "assistant", "content": p}, "done": False} for p in answer.pieces]
    final = {"message": {"role": "assistant", "content": ""}, "done": True, **counts}
    body = {"message": {"role": "assistant", "content": answer.text}, "done": True, **counts}
    return b"".join(line(p) for p in [*parts, final]), body


WIRES: dict[str, Callable[[Answer, str], tuple[bytes, dict[str, Any]]]] = {
    "openai": openai_wire,
    "anthropic": anthropic_wire,
    "gemini": gemini_wire,
    "cohere": cohere_wire,
    "ollama": ollama_wire,
}


def render(provider: str, answer: Answer) -> tuple[bytes, bytes]:
    """The answer as ``provider`` streams it and as its whole-body response."""
    stream, body = WIRES[provider](answer, NATIVE_ENDINGS[provider][answer.ending])
    return stream, json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize("case", list(ANSWERS))
@pytest.mark.parametrize("provider", ADAPTERS)
def test_every_adapter_decodes_each_streamed_answer_case(
    provider: str, case: str, decode: Decode
) -> None:
    answer = ANSWERS[case]
    stream, _ = render(provider, answer)

    events = decode(adapter_for(provider).decoder(), stream)

    expected: list[StreamEvent] = [TextDelta(p) for p in answer.pieces]
    assert events == [*expected, Finished(answer.finish_reason), USAGE]


@pytest.mark.parametrize("case", list(ANSWERS))
@pytest.mark.parametrize("provider", ADAPTERS)
def test_every_adapter_decodes_each_whole_answer_case(
    provider: str, case: str, whole: Whole
) -> None:
    answer = ANSWERS[case]
    _, body = render(provider, answer)

    completion = adapter_for(provider).parse_completion(body)

    assert whole(completion) == (answer.text, answer.finish_reason, USAGE)

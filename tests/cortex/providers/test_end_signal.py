"""Every adapter: an answer is complete only when its provider's end signal arrived.

One table per wire format of streams that end (the sentinel, or the body closing) with or
without the format's end signal, decoded in every chunking; and one table of whole bodies
without their finish reason. A stream without its end signal must end in the
``incomplete`` failure, never in a ``Finished`` that nobody sent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from actors.outcomes import ErrorKind, UpstreamFailure
from cortex.chat import (
    INCOMPLETE,
    Finished,
    StreamEvent,
    StreamFailed,
    TextDelta,
    fold,
    incomplete,
    is_incomplete,
)
from cortex.providers.catalog import adapter_for

if TYPE_CHECKING:  # type only: a run-time "import conftest" is ambiguous
    from conftest import Decode

COMPLETE, CUT = "complete", "cut"


def sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def typed(*events: dict[str, Any]) -> bytes:
    return b"".join(sse(e, e["type"]) for e in events)


def lines(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def openai_text(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


OPENAI_FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
OPENAI_USAGE = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}

ANTHROPIC_START = {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}


def anthropic_text(text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}}


ANTHROPIC_DELTA = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
ANTHROPIC_STOP = {"type": "message_stop"}


def gemini_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate]}


COHERE_START = {"type": "message-start", "delta": {"message": {"role": "assistant"}}}


def cohere_text(text: str) -> dict[str, Any]:
    return {"type": "content-delta", "delta": {"message": {"content": {"text": text}}}}


COHERE_END = {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}


def ollama_line(text: str, *, done: bool = False) -> dict[str, Any]:
    return {"message": {"role": "assistant", "content": text}, "done": done}


STREAMS: dict[str, dict[str, tuple[bytes, str]]] = {
    "openai": {
        "finish_reason, usage and [DONE]": (
            sse(openai_text("Hi")) + sse(OPENAI_FINISH) + sse(OPENAI_USAGE) + sse("[DONE]"),
            COMPLETE,
        ),
        "finish_reason without [DONE]": (sse(openai_text("Hi")) + sse(OPENAI_FINISH), COMPLETE),
        "closed after a few chunks": (sse(openai_text("The")) + sse(openai_text(" quick")), CUT),
        "[DONE] without a finish_reason": (sse(openai_text("Hi")) + sse("[DONE]"), CUT),
        "usage without a finish_reason": (sse(openai_text("Hi")) + sse(OPENAI_USAGE), CUT),
        "nothing at all": (b"", CUT),
    },
    "anthropic": {
        "stop_reason and message_stop": (
            typed(ANTHROPIC_START, anthropic_text("Hi"), ANTHROPIC_DELTA, ANTHROPIC_STOP),
            COMPLETE,
        ),
        "stop_reason without message_stop": (
            typed(ANTHROPIC_START, anthropic_text("Hi"), ANTHROPIC_DELTA),
            COMPLETE,
        ),
        "message_stop without a stop_reason": (
            typed(ANTHROPIC_START, anthropic_text("Hi"), ANTHROPIC_STOP),
            COMPLETE,
        ),
        "closed after a few deltas": (
            typed(ANTHROPIC_START, anthropic_text("The"), anthropic_text(" quick")),
            CUT,
        ),
        "message_delta without a stop_reason": (
            typed(ANTHROPIC_START, anthropic_text("Hi"), {"type": "message_delta", "delta": {}}),
            CUT,
        ),
    },
    "gemini": {
        "finishReason on the last chunk": (
            sse(gemini_chunk("Hi")) + sse(gemini_chunk("", "STOP")),
            COMPLETE,
        ),
        "a blocked prompt": (sse({"promptFeedback": {"blockReason": "SAFETY"}}), COMPLETE),
        "closed after a few chunks": (sse(gemini_chunk("The")) + sse(gemini_chunk(" quick")), CUT),
        "an unspecified finishReason": (
            sse(gemini_chunk("Hi", "FINISH_REASON_UNSPECIFIED")),
            CUT,
        ),
    },
    "cohere": {
        "message-end": (typed(COHERE_START, cohere_text("Hi"), COHERE_END), COMPLETE),
        "message-end without a finish_reason": (
            typed(COHERE_START, cohere_text("Hi"), {"type": "message-end", "delta": {}}),
            COMPLETE,
        ),
        "closed after a few deltas": (
            typed(COHERE_START, cohere_text("The"), cohere_text(" quick")),
            CUT,
        ),
        "content-end without message-end": (
            typed(COHERE_START, cohere_text("Hi"), {"type": "content-end", "index": 0}),
            CUT,
        ),
    },
    "ollama": {
        "done: true": (lines(ollama_line("Hi"), ollama_line("", done=True)), COMPLETE),
        "closed after a few lines": (lines(ollama_line("The"), ollama_line(" quick")), CUT),
        "a last line with done: false": (lines(ollama_line("Hi", done=False)), CUT),
    },
}
STREAM_CASES = [
    pytest.param(provider, case, id=f"{provider}: {case}")
    for provider, cases in STREAMS.items()
    for case in cases
]


@pytest.mark.parametrize(("provider", "case"), STREAM_CASES)
def test_a_stream_is_complete_only_when_its_end_signal_arrived(
    provider: str, case: str, decode: Decode
) -> None:
    stream, verdict = STREAMS[provider][case]

    events = decode(adapter_for(provider).decoder(), stream)

    failures = [e.failure for e in events if isinstance(e, StreamFailed)]
    if verdict == COMPLETE:
        assert failures == []
        assert sum(isinstance(e, Finished) for e in events) == 1
    else:
        assert not any(isinstance(e, Finished) for e in events)
        assert events[-1] == incomplete()
        assert len(failures) == 1
        assert failures[0].kind is ErrorKind.UPSTREAM_ERROR
        assert INCOMPLETE in failures[0].message


BODIES: dict[str, dict[str, Any]] = {
    "openai": {"choices": [{"index": 0, "message": {"role": "assistant", "content": "The"}}]},
    "anthropic": {"type": "message", "content": [{"type": "text", "text": "The"}]},
    "gemini": gemini_chunk("The"),
    "cohere": {"message": {"role": "assistant", "content": [{"type": "text", "text": "The"}]}},
    "ollama": ollama_line("The", done=False),
}


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_a_whole_body_without_its_finish_reason_is_refused(provider: str) -> None:
    body = json.dumps(BODIES[provider]).encode()

    with pytest.raises(ValueError, match=r"finish|stop_reason|complete"):
        adapter_for(provider).parse_completion(body)


def test_folding_events_without_a_finish_reason_invents_none() -> None:
    folded = fold([TextDelta("The quick brown")], worker="w", model="m")
    assert isinstance(folded, UpstreamFailure)
    assert is_incomplete(folded)
    assert INCOMPLETE in folded.message


def test_only_the_decoders_own_verdict_counts_as_incomplete() -> None:
    events: list[StreamEvent] = [incomplete()]
    (failed,) = events
    assert isinstance(failed, StreamFailed)
    assert is_incomplete(failed.failure)
    provider_error = adapter_for("openai").decoder().feed(sse({"error": {"message": "boom"}}))
    assert isinstance(provider_error[0], StreamFailed)
    assert not is_incomplete(provider_error[0].failure)

"""Reading SSE data as bytes (orjson straight from the stream) decides exactly as reading text.

Each SSE adapter's decoder reads its frames' data as bytes (:class:`RawSseFrames`); the
text path (:class:`SseParser`, every frame decoded before parsing) is the reference. For
a corpus of upstream streams, cut into pieces of every size, the events must be the same.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cortex.chat import StreamEvent
from cortex.providers import anthropic, cohere, gemini, openai
from cortex.providers.sse import RawSseFrames, SseParser
from cortex.providers.stream import Framer, JsonStreamDecoder, StreamHandler

HANDLERS: dict[str, Callable[[], StreamHandler]] = {
    "openai": openai._ChunkHandler,
    "anthropic": anthropic._EventHandler,
    "cohere": cohere._EventHandler,
    "gemini": gemini._ChunkHandler,
}

HEAD = b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
OPENAI_STREAMS = {
    "text": b"".join(
        b"data: " + HEAD + b'[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\n\n' % t
        for t in (b"Hel", b"lo \\u00e9\xc3\xa9", b"\\ud83d\\ude00!")
    )
    + b"data: "
    + HEAD
    + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    + b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}\n\n'
    + b"data: [DONE]\n\n",
    "tool calls": b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1",'
    b'"type":"function","function":{"name":"f","arguments":""}}]}}]}\n\n'
    b"data: " + HEAD + b'[{"index":0,"delta":{"tool_calls":[{"index":0,"function":'
    b'{"arguments":"{\\"a\\":1}"}}]}}]}\n\n'
    b"data: " + HEAD + b'[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n'
    b"data: [DONE]\n\n",
    "reasoning": b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"reasoning_content":"think"}}]}\n\n'
    + b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"reasoning":"more","content":"ok"},"finish_reason":"stop"}]}\n\n',
    "several choices": b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}\n\n'
    b"data: " + HEAD + b'[{"index":1,"delta":{},"finish_reason":"stop"},'
    b'{"index":0,"delta":{},"finish_reason":"length"}]}\n\n'
    b'data: {"choices":[],"x_groq":{"usage":{"prompt_tokens":1,"completion_tokens":2}}}\n\n',
    "error mid-stream": b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"a"}}]}\n\n'
    + b'data: {"error":{"message":"overloaded","type":"server_error","code":503}}\n\n'
    + b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"never"}}]}\n\n',
    "malformed chunk": b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"a"}}]}\n\n'
    + b"data: {not json\n\n"
    + b"data: [1, 2]\n\n"
    + b'data: {"choices":[{"index":0,"delta":{"content":NaN}}]}\n\n'
    + b'data: {"choices":[{"index":0,"delta":{"content":"\xff\xfe bad utf-8"}}]}\n\n'
    + b'data: {"choices":"oops"}\n\n'
    + b'data: {"choices":[7]}\n\n'
    + b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}]}\n\n',
    "sse oddities": b"\xef\xbb\xbf: comment\r\n"
    + b"event: chunk\r\nid: 7\r\n"
    + b'data: {"choices":[{"index":0,\r\ndata: "delta":{"content":"two lines"}}]}\r\n\r\n'
    + b"data:\n\n"
    + b"data:  \n\n"
    + b"data: "
    + HEAD
    + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\r'
    + b"\rdata:  [DONE] \n\n"
    + b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"after done"}}]}\n\n',
    "ends without end signal": b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"cut"}}]}\n\n'
    + b"data: "
    + HEAD
    + b'[{"index":0,"delta":{"content":"half',
}
OTHER_STREAMS = {
    "anthropic": b"event: message_start\n"
    b'data: {"type":"message_start","message":{"usage":{"input_tokens":3}}}\n\n'
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
    b"event: content_block_delta\ndata: {broken\n\n"
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    "cohere": b'data: {"type":"content-delta","delta":{"message":{"content":{"text":"hi"}}}}\n\n'
    b'data: {"type":"message-end","delta":{"finish_reason":"COMPLETE",'
    b'"usage":{"billed_units":{"input_tokens":1,"output_tokens":2}}}}\n\n',
    "gemini": b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}\r\n\r\n'
    b'data: {"candidates":[{"content":{"parts":[{"text":"!"}]},"finishReason":"STOP"}],'
    b'"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2}}\r\n\r\n',
}
CASES = [("openai", name, body) for name, body in OPENAI_STREAMS.items()] + [
    (format_, format_, body) for format_, body in OTHER_STREAMS.items()
]


def _decode(framer: Framer, handler: StreamHandler, body: bytes, size: int) -> list[StreamEvent]:
    decoder = JsonStreamDecoder(framer, handler)
    events: list[StreamEvent] = []
    for start in range(0, len(body), size):
        events.extend(decoder.feed(body[start : start + size]))
    return events + decoder.close()


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1 << 20])
@pytest.mark.parametrize(("format_", "name", "body"), CASES, ids=[c[1] for c in CASES])
def test_bytes_and_text_framing_give_the_same_events(
    format_: str, name: str, body: bytes, size: int
) -> None:
    handler = HANDLERS[format_]
    expected = _decode(SseParser(), handler(), body, size)
    assert expected, name
    assert _decode(RawSseFrames(), handler(), body, size) == expected


def test_an_endless_line_fails_the_stream_on_either_path() -> None:
    body = b"data: " + b"x" * 100
    raw = JsonStreamDecoder(RawSseFrames(max_line_bytes=50), openai._ChunkHandler())
    text = JsonStreamDecoder(SseParser(max_line_bytes=50), openai._ChunkHandler())
    assert raw.feed(body) == text.feed(body)
    assert raw.close() == text.close() == []

"""A streamed chat completion is, byte for byte, the rendering of its upstream's decoded events.

Through a real daemon in front of the simulated OpenAI upstream. The daemon reads the
upstream's frames as bytes and writes every chunk one upstream read made ready in one
write; the reference here is the plain path: the same upstream bytes (asked for again
with the body the daemon sent) decoded as text, frame by frame, and each event rendered
as its own chunk. Only the stream's id, ``created`` and model are taken from what the
daemon sent; every byte else must match. A streamed answer is then cached whole and
replayed as it streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cache_harness import deterministic, start_daemon
from daemon_harness import PRIMARY_KEYS, CortexProcess

from cortex.chat import (
    Finished,
    Malformed,
    ReasoningDelta,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from cortex.http.render import ChunkWriter
from cortex.providers.openai import _ChunkHandler
from cortex.providers.sse import SseParser
from cortex.providers.stream import JsonStreamDecoder
from cortex.simulated import Fault, SimulatedOpenAI

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
USAGE = {"stream_options": {"include_usage": True}}
CASES: dict[str, tuple[dict[str, Any], Fault | None]] = {
    "text": ({}, None),
    "text with usage": (USAGE, None),
    "tool call": ({"tools": [TOOL], **USAGE}, None),
    "two choices": ({"n": 2, **USAGE}, None),
    "malformed chunk": (USAGE, Fault.MALFORMED_CHUNK),
}
"""Answers whose whole stream reaches the daemon in one read: one batch, one write."""
SLOW_CASES: dict[str, tuple[dict[str, Any], Fault | None]] = {
    "text, chunk by chunk": (USAGE, None),
    "error mid-stream": ({}, Fault.STREAM_ERROR),
    "malformed chunk, chunk by chunk": (USAGE, Fault.MALFORMED_CHUNK),
}
"""Answers whose chunks come one read at a time; an in-stream error after the first token
is the client's (one that comes with the first token fails over instead)."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, upstream: SimulatedOpenAI) -> Iterator[Any]:
    process = start_daemon(tmp_path_factory, upstream)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.02) as server:
        yield server


@pytest.fixture(scope="module")
def slow_daemon(
    tmp_path_factory: pytest.TempPathFactory, slow_upstream: SimulatedOpenAI
) -> Iterator[Any]:
    process = start_daemon(tmp_path_factory, slow_upstream)
    yield process
    process.stop()


def _frames(body: bytes) -> list[bytes]:
    """The SSE frames of a body, each with its blank-line terminator."""
    return [frame + b"\n\n" for frame in body.split(b"\n\n") if frame]


def _upstream_bytes(upstream: SimulatedOpenAI, prompt: str) -> bytes:
    """The upstream's stream for the body the daemon sent it for ``prompt``, asked again."""
    [sent] = [
        r
        for r in upstream.requests
        if r.path.endswith("/chat/completions") and prompt in json.dumps(r.body)
    ]
    response = requests.post(
        upstream.base_url + "/chat/completions",
        json=sent.body,
        headers={"Authorization": f"Bearer {sent.api_key}"},
        timeout=10,
    )
    assert response.status_code == 200
    return response.content


def _decoded(raw: bytes) -> list[StreamEvent]:
    """The reference decoding: every frame decoded as text, fed one byte at a time."""
    decoder = JsonStreamDecoder(SseParser(), _ChunkHandler())
    events: list[StreamEvent] = []
    for index in range(len(raw)):
        events.extend(decoder.feed(raw[index : index + 1]))
    return events + decoder.close()


def _rendered(events: list[StreamEvent], writer: ChunkWriter) -> bytes:
    """Each event as its own chunk, usage held back to the end, as the plain path renders."""
    frames, usage = [writer.role()], None
    for event in events:
        match event:
            case Malformed():
                continue
            case Usage():
                usage = event
            case TextDelta(text=text, choice=choice) if text:
                frames.append(writer.text(text, choice))
            case ToolCallDelta():
                frames.append(writer.tool_call(event))
            case ReasoningDelta(text=text, choice=choice) if text:
                frames.append(writer.reasoning(text, choice))
            case Finished(reason=reason, choice=choice):
                frames.append(writer.finish(reason, choice))
            case StreamFailed(failure=failure):
                frames.append(writer.error(failure.message, "upstream_error", failure.kind.value))
                return b"".join([*frames, writer.done()])
    return b"".join([*frames, writer.usage(usage), writer.done()])


def _stream(daemon: CortexProcess, body: dict[str, Any]) -> requests.Response:
    response = daemon.post("/v1/chat/completions", json={**body, "stream": True})
    assert response.status_code == 200
    return response


def _writer_for(received: bytes, body: dict[str, Any]) -> ChunkWriter:
    """A writer with the stream constants the daemon chose (id, created, model)."""
    first = json.loads(_frames(received)[0].removeprefix(b"data: "))
    include_usage = bool(body.get("stream_options", {}).get("include_usage"))
    return ChunkWriter(
        cid=first["id"], model=first["model"], include_usage=include_usage, created=first["created"]
    )


def _check(
    daemon: CortexProcess,
    upstream: SimulatedOpenAI,
    case: str,
    extra: dict[str, Any],
    fault: Fault | None,
) -> None:
    prompt = f"What is the weather in Paris? ({case}, bytes)"
    body = {**deterministic(prompt), **extra}
    if fault is not None:
        upstream.set_fault(fault, times=2)  # the daemon's request, then the reference's
    try:
        received = _stream(daemon, body).content
        events = _decoded(_upstream_bytes(upstream, prompt))
    finally:
        upstream.clear_faults()

    assert events, "the reference decoded nothing"
    assert received == _rendered(events, _writer_for(received, body))


@pytest.mark.parametrize("case", list(CASES))
def test_a_streamed_answer_is_the_rendering_of_its_upstream_events_byte_for_byte(
    daemon: CortexProcess, upstream: SimulatedOpenAI, case: str
) -> None:
    _check(daemon, upstream, case, *CASES[case])


@pytest.mark.parametrize("case", list(SLOW_CASES))
def test_a_stream_read_chunk_by_chunk_is_the_same_rendering_byte_for_byte(
    slow_daemon: CortexProcess, slow_upstream: SimulatedOpenAI, case: str
) -> None:
    _check(slow_daemon, slow_upstream, case, *SLOW_CASES[case])


def test_a_streamed_answer_is_cached_whole_and_replayed_as_it_streamed(
    daemon: CortexProcess, upstream: SimulatedOpenAI
) -> None:
    prompt = "What is the weather in Rome? (bytes, cached)"
    body = {**deterministic(prompt), "stream_options": {"include_usage": True}}
    live = _stream(daemon, body)
    replay = _stream(daemon, body)

    assert live.headers["X-Cortex-Cache"] == "miss"
    assert replay.headers["X-Cortex-Cache"] == "hit"
    events = _decoded(_upstream_bytes(upstream, prompt))  # one upstream request only
    assert live.content == _rendered(events, _writer_for(live.content, body))
    assert replay.content == _rendered(events, _writer_for(replay.content, body))

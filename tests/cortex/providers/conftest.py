"""Shared fixtures for the adapter tests: feed a stream to a decoder in awkward chunkings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cortex.chat import StreamEvent, Usage, WholeAnswer, fold
from cortex.providers.base import StreamDecoder

Decode = Callable[[StreamDecoder, bytes], list[StreamEvent]]
Whole = Callable[[list[StreamEvent]], tuple[str, str, Usage | None]]

CHUNK_SIZES = {"whole": 0, "one byte": 1, "two bytes": 2, "seven bytes": 7}


def pieces(data: bytes, size: int) -> list[bytes]:
    """Split ``data`` into pieces of ``size`` bytes (``0``: one piece)."""
    if size == 0:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture(params=list(CHUNK_SIZES))
def decode(request: pytest.FixtureRequest) -> Decode:
    """Run a whole stream through a decoder, chunked as the parameter says, then close it."""
    size = CHUNK_SIZES[request.param]

    def run(decoder: StreamDecoder, data: bytes) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for piece in pieces(data, size):
            events.extend(decoder.feed(piece))
        events.extend(decoder.close())
        return events

    return run


@pytest.fixture
def whole() -> Whole:
    """Fold a parsed non-streamed body with the gateway's one fold: its text, finish and usage."""

    def run(events: list[StreamEvent]) -> tuple[str, str, Usage | None]:
        answer = fold(events, worker="w", model="m")
        assert isinstance(answer, WholeAnswer), answer
        return answer.text, answer.finish_reason, answer.usage

    return run

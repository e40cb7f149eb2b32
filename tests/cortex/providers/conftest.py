"""Shared fixtures for the adapter tests: feed a stream to a decoder in awkward chunkings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cortex.chat import StreamEvent
from cortex.providers.base import StreamDecoder

Decode = Callable[[StreamDecoder, bytes], list[StreamEvent]]

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

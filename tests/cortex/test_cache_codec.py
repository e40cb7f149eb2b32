"""Cached answers survive the trip through bytes, and anything else reads as a miss."""

from __future__ import annotations

import orjson
import pytest

from cortex.cache.codec import LAYOUT, decode, encode
from cortex.chat import CachedAnswer, Embeddings, ToolCall, Usage, WholeAnswer

ANSWERS: list[CachedAnswer] = [
    WholeAnswer("primary", "gpt-4o-mini", ("Hel", "lo"), "stop", Usage(3, 2)),
    WholeAnswer("primary", "gpt-4o-mini", (), "tool_calls", None),
    WholeAnswer(
        "primary",
        "claude",
        ("Paris ", "é\u2028😀"),
        "length",
        Usage(10, 20),
        workers=("primary", "backup"),
        tool_calls=(ToolCall("call_1", "weather", '{"city": "Paris"}'),),
        reasoning="thinking",
        reasoning_signature="sig",
        dropped=("seed",),
        substituted_for="gpt-4o",
        alternatives=(WholeAnswer("primary", "claude", ("Lyon",), "stop"),),
    ),
    Embeddings("embedder", "text-embedding-3-small", ((0.5, -1.25), (3.0, 0.0)), 7, ("user",)),
    Embeddings("embedder", "m", (), 0),
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_an_answer_decodes_to_an_equal_answer(answer: CachedAnswer) -> None:
    assert decode(encode(answer)) == answer


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"{}",
        b"[]",
        orjson.dumps([LAYOUT + 1, "w", []]),
        orjson.dumps([LAYOUT, "x", []]),
        orjson.dumps([LAYOUT, "w", ["primary"]]),
        orjson.dumps([LAYOUT, "e", ["w", "m", [["a"]], 0, []]]),
        encode(ANSWERS[0])[:-3],
    ],
)
def test_bytes_that_are_not_an_answer_of_this_layout_decode_to_none(raw: bytes) -> None:
    assert decode(raw) is None

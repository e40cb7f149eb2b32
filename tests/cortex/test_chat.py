"""The chat vocabulary's one fold (events into a whole answer) and its pin reading, table-driven."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

import pytest

from actors.outcomes import ErrorKind, UpstreamFailure
from cortex.chat import (
    AnswerFold,
    Continued,
    Finished,
    LiveAnswer,
    Malformed,
    StreamEvent,
    StreamFailed,
    TextDelta,
    Usage,
    WholeAnswer,
    fold,
    gather,
    is_incomplete,
    split_pin,
)

BROKE = UpstreamFailure(ErrorKind.UPSTREAM_ERROR, "connection reset")
LATER = UpstreamFailure(ErrorKind.TIMEOUT, "stalled")


def answer(
    pieces: tuple[str, ...], finish: str = "stop", usage: Usage | None = None, *more: str
) -> WholeAnswer:
    return WholeAnswer("w", "m", pieces, finish, usage, ("w", *more))


FOLDS: dict[str, tuple[Sequence[StreamEvent], WholeAnswer | UpstreamFailure]] = {
    "text, finish and usage": (
        [TextDelta("Hel"), TextDelta("lo"), Finished("stop"), Usage(3, 2)],
        answer(("Hel", "lo"), "stop", Usage(3, 2)),
    ),
    "empty deltas carry no piece": (
        [TextDelta(""), TextDelta("Hi"), TextDelta(""), Finished("length")],
        answer(("Hi",), "length"),
    ),
    "no text at all": ([Finished("content_filter")], answer((), "content_filter")),
    "the last usage counts": (
        [TextDelta("a"), Usage(3, 1), Finished("stop"), Usage(3, 2)],
        answer(("a",), "stop", Usage(3, 2)),
    ),
    "a continuation names its worker": (
        [TextDelta("a"), Continued("w2", "m2"), TextDelta("b"), Finished("stop")],
        answer(("a", "b"), "stop", None, "w2"),
    ),
    "a skipped chunk leaves the text": (
        [TextDelta("a"), Malformed("bad json"), Finished("stop")],
        answer(("a",), "stop"),
    ),
    "a failure is the verdict": ([TextDelta("a"), StreamFailed(BROKE)], BROKE),
    "a failure wins over a finish": ([Finished("stop"), StreamFailed(BROKE)], BROKE),
    "the first failure wins": ([StreamFailed(BROKE), StreamFailed(LATER)], BROKE),
}


@pytest.mark.parametrize(("events", "expected"), list(FOLDS.values()), ids=list(FOLDS))
def test_fold(events: Sequence[StreamEvent], expected: WholeAnswer | UpstreamFailure) -> None:
    assert fold(events, worker="w", model="m") == expected


@pytest.mark.parametrize(
    "events",
    [[], [TextDelta("The quick brown")], [TextDelta("a"), Usage(1, 1)]],
    ids=["nothing", "text only", "text and usage"],
)
def test_an_answer_without_a_finish_reason_is_incomplete_never_whole(
    events: list[StreamEvent],
) -> None:
    folded = fold(events, worker="w", model="m")
    assert isinstance(folded, UpstreamFailure)
    assert is_incomplete(folded)


def test_the_fold_counts_skipped_chunks() -> None:
    folding = AnswerFold("w", "m")
    for event in (Malformed("x"), TextDelta("a"), Malformed("y"), Finished("stop")):
        folding.add(event)
    assert folding.skipped == 2


def test_a_whole_answer_written_by_one_worker_names_it() -> None:
    assert WholeAnswer("w", "m", ("a",), "stop").workers == ("w",)
    assert WholeAnswer("w", "m", ("a", "b"), "stop").text == "ab"


def test_gather_reads_a_live_answer_and_stops_at_its_failure() -> None:
    read: list[StreamEvent] = []
    closed = asyncio.Event()

    async def events() -> AsyncGenerator[StreamEvent, None]:
        try:
            for event in (TextDelta("a"), StreamFailed(BROKE), TextDelta("never")):
                read.append(event)
                yield event
        finally:
            closed.set()

    gathered = asyncio.run(asyncio.wait_for(gather(LiveAnswer("w", "m", events())), 5.0))

    assert gathered == BROKE
    assert read == [TextDelta("a"), StreamFailed(BROKE)]
    assert closed.is_set()


WORKERS = {"groq", "ollama-1"}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        pytest.param(None, (None, None), id="no model"),
        pytest.param("auto", (None, "auto"), id="auto"),
        pytest.param("llama3", (None, "llama3"), id="bare model"),
        pytest.param("groq/llama3", ("groq", "llama3"), id="worker/model"),
        pytest.param("groq/", ("groq", None), id="worker/ means its default"),
        pytest.param("groq/auto", ("groq", None), id="worker/auto means its default"),
        pytest.param("groq/meta-llama/L-3", ("groq", "meta-llama/L-3"), id="first slash only"),
        pytest.param("meta-llama/L-3", (None, "meta-llama/L-3"), id="no such worker: a name"),
        pytest.param("/llama3", (None, "/llama3"), id="empty worker: a name"),
    ],
)
def test_split_pin(model: str | None, expected: tuple[str | None, str | None]) -> None:
    assert split_pin(model, WORKERS.__contains__) == expected

"""How a streamed answer written by several workers reports its usage: table-driven."""

from __future__ import annotations

import pytest

from cortex.chat import Usage
from cortex.dataplane.contributions import Contribution, answer_usage, shares
from cortex.observability.observe import (
    AnswerOutcome,
    NullObserver,
    RequestRecord,
    RequestTracker,
    report_parts,
    tracking,
)


def part(worker: str, chunks: int, usage: Usage | None = None, *, broke: bool = False):
    return Contribution(worker, f"{worker}-model", chunks, usage, broke)


CASES = {
    "one worker: exactly what it reported": (
        [part("a", 9, Usage(3, 10))],
        [Usage(3, 10)],
        Usage(3, 10),
    ),
    "one worker that reported nothing": ([part("a", 9)], [None], None),
    "the broken worker reported nothing: its chunks, the prompt less the prefill": (
        [part("a", 2, broke=True), part("b", 8, Usage(5, 8))],
        [Usage(3, 2), Usage(0, 8)],
        Usage(3, 10),
    ),
    "the broken worker reported its prompt before it broke": (
        [part("a", 2, Usage(4, 1), broke=True), part("b", 8, Usage(7, 8))],
        [Usage(4, 2), Usage(0, 8)],
        Usage(4, 10),
    ),
    "a reported count above the chunks wins for a broken part": (
        [part("a", 2, Usage(4, 6), broke=True), part("b", 8, Usage(10, 8))],
        [Usage(4, 6), Usage(0, 8)],
        Usage(4, 14),
    ),
    "three workers: the prompt is taken from the last, less both prefills": (
        [part("a", 2, broke=True), part("b", 3, broke=True), part("c", 4, Usage(8, 4))],
        [Usage(3, 2), Usage(0, 3), Usage(0, 4)],
        Usage(3, 9),
    ),
    "the last worker reported nothing: its chunks count": (
        [part("a", 2, Usage(3, 2), broke=True), part("b", 5)],
        [Usage(3, 2), Usage(0, 5)],
        Usage(3, 7),
    ),
    "nobody reported anything: unknown": (
        [part("a", 2, broke=True), part("b", 5)],
        [None, None],
        None,
    ),
}


@pytest.mark.parametrize(("parts", "expected_shares", "expected_total"), CASES.values(), ids=CASES)
def test_a_continued_answer_counts_the_prompt_once_and_every_delivered_token(
    parts: list[Contribution], expected_shares: list[Usage | None], expected_total: Usage | None
) -> None:
    assert shares(parts) == expected_shares
    assert answer_usage(parts) == expected_total


class Recorder(NullObserver):
    def __init__(self) -> None:
        self.finished: list[tuple[str, Usage | None, AnswerOutcome]] = []

    def answer_finished(
        self, worker: str, model: str, usage: Usage | None, outcome: AnswerOutcome
    ) -> None:
        self.finished.append((worker, usage, outcome))


def test_each_part_is_reported_with_its_share_and_the_broken_ones_as_failed() -> None:
    recorder = Recorder()
    parts = [part("a", 2, broke=True), part("b", 8, Usage(5, 8))]

    report_parts(recorder, parts, AnswerOutcome.COMPLETED)

    assert recorder.finished == [
        ("a", Usage(3, 2), AnswerOutcome.FAILED),
        ("b", Usage(0, 8), AnswerOutcome.COMPLETED),
    ]


def test_the_request_record_names_every_worker_and_adds_up_their_shares() -> None:
    tracker, record = RequestTracker(), RequestRecord()
    with tracking(record):
        tracker.answer_started("a", "a-model", 10.0)
        tracker.answer_continued("b", "b-model", 20.0)
        report_parts(
            tracker, [part("a", 2, broke=True), part("b", 8, Usage(5, 8))], AnswerOutcome.COMPLETED
        )

    fields = record.log_fields()
    assert (fields["worker"], fields["workers"]) == ("a", ["a", "b"])
    assert (fields["tokens_in"], fields["tokens_out"], fields["outcome"]) == (3, 10, "completed")


def test_an_answer_started_anew_forgets_the_abandoned_one() -> None:
    tracker, record = RequestTracker(), RequestRecord()
    with tracking(record):
        tracker.answer_started("a", "a-model", 10.0)
        tracker.answer_finished("a", "a-model", Usage(3, 1), AnswerOutcome.FAILED)
        tracker.answer_started("b", "b-model", 20.0)
        tracker.answer_finished("b", "b-model", Usage(3, 8), AnswerOutcome.COMPLETED)

    fields = record.log_fields()
    assert (fields["worker"], fields["workers"]) == ("b", ["b"])
    assert (fields["tokens_in"], fields["tokens_out"], fields["outcome"]) == (3, 8, "completed")

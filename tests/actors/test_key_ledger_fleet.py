"""The key ledger's side of a fleet: what it tells its observer, and what it takes back."""

from __future__ import annotations

import math

import pytest

from actors.keys import KeyCounts, KeyLedger, KeyRest, RotationStrategy, key_id, merged_count
from actors.outcomes import ErrorKind, UpstreamFailure

SECRETS = ("sk-alpha-0123456789", "sk-bravo-0123456789")
A, B = (key_id(s) for s in SECRETS)
WALL = 1_700_000_000.0


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A KeyObserver that records what it is told."""

    def __init__(self) -> None:
        self.rests: list[KeyRest] = []
        self.unblocks: list[tuple[str, str]] = []

    def rested(self, rest: KeyRest) -> None:
        self.rests.append(rest)

    def unblocked(self, worker: str, key_id: str) -> None:
        self.unblocks.append((worker, key_id))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def ledger(clock: Clock, recorder: Recorder) -> KeyLedger:
    ledger = KeyLedger(default_block_seconds=60.0, clock=clock, wall_clock=lambda: WALL + clock.now)
    ledger.configure("groq", SECRETS)
    ledger.observe(recorder)
    return ledger


def failure(kind: ErrorKind, retry_after: float | None = None) -> UpstreamFailure:
    return UpstreamFailure(kind, "no", 429, retry_after)


def view(ledger: KeyLedger, kid: str) -> object:
    return next(v for v in ledger.snapshot()["groq"] if v.key_id == kid)


def test_a_rest_taken_here_is_told_with_its_reason_and_wall_clock_end(ledger, recorder, clock):
    ledger.report_failure("groq", A, failure(ErrorKind.RATE_LIMITED, 30.0))

    assert recorder.rests == [KeyRest("groq", A, ErrorKind.RATE_LIMITED, WALL + clock.now + 30.0)]


def test_an_invalid_key_is_told_as_resting_for_ever(ledger, recorder):
    ledger.report_failure("groq", A, failure(ErrorKind.INVALID_KEY))

    assert recorder.rests[0].until == math.inf


def test_a_shorter_rest_than_the_current_one_is_not_told(ledger, recorder):
    ledger.report_failure("groq", A, failure(ErrorKind.RATE_LIMITED, 30.0))
    ledger.report_failure("groq", A, failure(ErrorKind.RATE_LIMITED, 5.0))

    assert len(recorder.rests) == 1


def test_failures_that_do_not_rest_a_key_are_not_told(ledger, recorder):
    ledger.report_failure("groq", A, failure(ErrorKind.UPSTREAM_ERROR))

    assert recorder.rests == []


def test_an_unblock_is_told_but_an_expiry_is_not(ledger, recorder, clock):
    ledger.report_failure("groq", A, failure(ErrorKind.RATE_LIMITED, 30.0))
    ledger.report_failure("groq", B, failure(ErrorKind.RATE_LIMITED, 30.0))
    ledger.unblock("groq", A)
    clock.now += 31
    ledger.unblock_expired()

    assert recorder.unblocks == [("groq", A)]


def test_a_reload_that_clears_an_invalid_mark_is_told_as_an_unblock(ledger, recorder):
    ledger.report_failure("groq", A, failure(ErrorKind.INVALID_KEY))
    ledger.configure("groq", SECRETS)

    assert recorder.unblocks == [("groq", A)]


def test_a_remote_rest_rests_the_key_here_without_telling_the_observer(ledger, recorder, clock):
    rest = KeyRest("groq", A, ErrorKind.RATE_LIMITED, WALL + clock.now + 20.0)

    assert ledger.apply_remote_rest(rest) is True
    assert view(ledger, A).block_reason is ErrorKind.RATE_LIMITED
    assert ledger.checkout("groq").key_id == B
    clock.now += 21
    assert ledger.available("groq") == 2
    assert recorder.rests == []


@pytest.mark.parametrize(
    ("local", "remote", "applied"),
    [
        (None, 20.0, True),
        (10.0, 20.0, True),
        (30.0, 20.0, False),
        (None, -1.0, False),
    ],
)
def test_a_remote_rest_never_shortens_one_and_an_ended_one_is_ignored(
    ledger, clock, local, remote, applied
):
    if local is not None:
        ledger.report_failure("groq", A, failure(ErrorKind.RATE_LIMITED, local))
    rest = KeyRest("groq", A, ErrorKind.RATE_LIMITED, WALL + clock.now + remote)

    assert ledger.apply_remote_rest(rest) is applied


def test_a_remote_invalid_mark_lasts_until_a_reload(ledger, clock):
    ledger.apply_remote_rest(KeyRest("groq", A, ErrorKind.INVALID_KEY, WALL + clock.now + 5.0))
    clock.now += 10_000

    assert ledger.available("groq") == 1


def test_remote_news_about_unknown_keys_is_ignored(ledger, clock):
    rest = KeyRest("groq", "knope", ErrorKind.RATE_LIMITED, WALL + clock.now + 20.0)

    assert ledger.apply_remote_rest(rest) is False
    assert ledger.apply_remote_unblock("other", A) is False


def test_a_remote_unblock_lifts_the_rest_without_telling_the_observer(ledger, recorder):
    ledger.report_failure("groq", A, failure(ErrorKind.RATE_LIMITED, 30.0))

    assert ledger.apply_remote_unblock("groq", A) is True
    assert ledger.available("groq") == 2
    assert recorder.unblocks == []


def test_rests_lists_every_current_rest(ledger, clock):
    ledger.report_failure("groq", A, failure(ErrorKind.QUOTA_EXHAUSTED, 30.0))

    (rest,) = ledger.rests()

    assert (rest.worker, rest.key_id, rest.reason) == ("groq", A, ErrorKind.QUOTA_EXHAUSTED)


def test_unsent_counts_are_taken_once(ledger):
    ledger.checkout("groq")
    ledger.report_success("groq", A)
    ledger.checkout("groq")
    ledger.report_failure("groq", B, failure(ErrorKind.UPSTREAM_ERROR))

    assert ledger.take_unsent() == {
        ("groq", A): KeyCounts(1, 1, 0),
        ("groq", B): KeyCounts(1, 0, 1),
    }
    assert ledger.take_unsent() == {}


def test_fleet_totals_show_with_what_was_counted_since(ledger):
    ledger.checkout("groq")
    ledger.take_unsent()
    ledger.checkout("groq")  # B, counted after the batch was taken

    ledger.merge_fleet_counts({("groq", A): KeyCounts(40, 30, 2), ("groq", B): KeyCounts(7, 0, 0)})

    counts = {v.key_id: (v.requests, v.successes, v.failures) for v in ledger.snapshot()["groq"]}
    assert counts == {A: (40, 30, 2), B: (8, 0, 0)}


def test_least_used_picks_by_the_fleets_counts(clock):
    ledger = KeyLedger(strategy=RotationStrategy.LEAST_USED, clock=clock)
    ledger.configure("groq", SECRETS)

    ledger.merge_fleet_counts({("groq", A): KeyCounts(50, 0, 0), ("groq", B): KeyCounts(3, 0, 0)})

    assert ledger.checkout("groq").key_id == B


@pytest.mark.parametrize(
    ("local", "fleet", "unsent", "shown"),
    [
        (5, 40, 2, 42),  # the fleet's total plus what is not in it yet
        (5, 3, 0, 5),  # a total that went backwards (Redis restarted empty) never lowers it
        (0, 0, 0, 0),
        (10, 10, 0, 10),
    ],
)
def test_merged_count(local, fleet, unsent, shown):
    assert merged_count(local, fleet, unsent) == shown

"""Table-driven tests of the plan walk's failover decisions (cortex/retry_rules.py)."""

from __future__ import annotations

import math

import pytest

from actors.providers.errors import ErrorKind, UpstreamFailure
from cortex.errors import (
    AllRateLimited,
    AllUpstreamsFailed,
    Attempt,
    DeadlineExceeded,
    NothingAvailable,
)
from cortex.retry_rules import deadline_reached, exhausted_error

SERVER_ERROR = UpstreamFailure(ErrorKind.UPSTREAM_ERROR, "500", status=500)
TIMED_OUT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token")
CUT_SHORT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token", cut_by_deadline=True)


@pytest.mark.parametrize(
    ("now", "last", "reached"),
    [
        (9.0, None, False),
        (10.0, None, True),
        (11.0, SERVER_ERROR, True),
        (9.0, TIMED_OUT, False),
        # The attempt's limit was the deadline; its timer fired a hair early.
        (9.999, CUT_SHORT, True),
    ],
)
def test_deadline_reached(now: float, last: UpstreamFailure | None, reached: bool) -> None:
    assert deadline_reached(now, 10.0, last) is reached


def attempt(worker: str, reason: str) -> Attempt:
    return Attempt(worker, None, reason, reason)


@pytest.mark.parametrize(
    ("case", "failures", "rests", "saturated", "out_of_time", "expected"),
    [
        ("every worker busy, none tried", [], {}, True, False, NothingAvailable),
        (
            "every key rests",
            [attempt("a", "rate_limited"), attempt("a", "no_usable_key")],
            {"a": 30.0},
            False,
            False,
            AllRateLimited,
        ),
        (
            "a worker that failed earlier, whose key now rests",
            [attempt("a", "upstream_error"), attempt("a", "rate_limited")],
            {"a": 30.0},
            False,
            False,
            AllRateLimited,
        ),
        (
            "another worker's latest failure is not a rest",
            [attempt("a", "rate_limited"), attempt("b", "upstream_error")],
            {"a": 30.0, "b": None},
            False,
            False,
            AllUpstreamsFailed,
        ),
        (
            "rejected keys only: nothing comes back",
            [attempt("a", "invalid_key"), attempt("a", "no_usable_key")],
            {"a": math.inf},
            False,
            False,
            AllUpstreamsFailed,
        ),
        (
            "a rest ended: no Retry-After to give",
            [attempt("a", "no_usable_key")],
            {"a": None},
            False,
            False,
            AllUpstreamsFailed,
        ),
        ("out of time", [attempt("a", "timeout")], {}, False, True, DeadlineExceeded),
        (
            "resting keys win over the deadline",
            [attempt("a", "rate_limited")],
            {"a": 5.0},
            False,
            True,
            AllRateLimited,
        ),
        (
            "every attempt failed",
            [attempt("a", "upstream_error")],
            {},
            False,
            False,
            AllUpstreamsFailed,
        ),
    ],
)
def test_exhausted_error(
    case: str,
    failures: list[Attempt],
    rests: dict[str, float | None],
    saturated: bool,
    out_of_time: bool,
    expected: type,
) -> None:
    error = exhausted_error(failures, rests=rests, saturated=saturated, out_of_time=out_of_time)
    assert type(error) is expected, case


def test_a_429_for_resting_keys_names_the_earliest_rest() -> None:
    error = exhausted_error(
        [attempt("a", "rate_limited"), attempt("b", "quota_exhausted")],
        rests={"a": 12.0, "b": 3600.0},
        saturated=False,
        out_of_time=False,
    )
    assert isinstance(error, AllRateLimited)
    assert error.headers() == {"Retry-After": "12"}

"""Table-driven tests of the plan walk's failover decisions (cortex/dataplane/retry_rules.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from actors.outcomes import ErrorKind, UpstreamFailure
from cortex.dataplane.retry_rules import (
    SameTargetLimits,
    TargetFailed,
    deadline_reached,
    exhausted_error,
    same_target_wait,
)
from cortex.errors import (
    AllRateLimited,
    AllUpstreamsFailed,
    Attempt,
    DeadlineExceeded,
    NothingAvailable,
)

LIMITS = SameTargetLimits(retries=1, max_wait=3.0, backoff=0.05, remaining=30.0)
SERVER_ERROR = UpstreamFailure(ErrorKind.UPSTREAM_ERROR, "500", status=500)


def rate_limited(retry_after: float | None) -> UpstreamFailure:
    return UpstreamFailure(ErrorKind.RATE_LIMITED, "429", status=429, retry_after=retry_after)


BEFORE_ANOTHER_MODEL = TargetFailed(
    SERVER_ERROR, routed=True, model="gpt-4o", next_model="claude-sonnet-4"
)


def failed(failure: UpstreamFailure = SERVER_ERROR, **changes: object) -> TargetFailed:
    return dataclasses.replace(BEFORE_ANOTHER_MODEL, failure=failure, **changes)


@pytest.mark.parametrize(
    ("case", "situation", "limits", "wait"),
    [
        ("a 500 before a different model: backoff", failed(), LIMITS, 0.05),
        (
            "a 503 naming its Retry-After: that wait",
            failed(UpstreamFailure(ErrorKind.OVERLOADED, "503", retry_after=2.0)),
            LIMITS,
            2.0,
        ),
        (
            "a connect error is transient too",
            failed(UpstreamFailure(ErrorKind.CONNECT_ERROR, "reset")),
            LIMITS,
            0.05,
        ),
        (
            "a keyed worker's 429: until its first key's rest ends",
            failed(rate_limited(1.0), rest=0.98),
            LIMITS,
            0.98,
        ),
        ("a keyless worker's 429: its Retry-After", failed(rate_limited(1.0)), LIMITS, 1.0),
        ("a 429 at exactly the longest wait", failed(rate_limited(3.0)), LIMITS, 3.0),
        (
            "a Retry-After over the longest wait: the next target",
            failed(rate_limited(10.0)),
            LIMITS,
            None,
        ),
        (
            "a rest over the longest wait: the next target",
            failed(rate_limited(1.0), rest=10.0),
            LIMITS,
            None,
        ),
        ("a 429 with no Retry-After rests for minutes", failed(rate_limited(None)), LIMITS, None),
        (
            "interchangeable: the next target is the same model",
            failed(next_model="gpt-4o"),
            LIMITS,
            None,
        ),
        ("the last target: the walk's passes retry it", failed(next_model=None), LIMITS, None),
        ("outside a route every plan fails over at once", failed(routed=False), LIMITS, None),
        ("retries spent", failed(retries_used=1), LIMITS, None),
        (
            "retries turned off",
            failed(),
            SameTargetLimits(retries=0, max_wait=3.0, backoff=0.05, remaining=30.0),
            None,
        ),
        (
            "the wait would end past the deadline",
            failed(rate_limited(2.0)),
            SameTargetLimits(retries=1, max_wait=3.0, backoff=0.05, remaining=1.5),
            None,
        ),
        (
            "a silent worker is not asked again",
            failed(UpstreamFailure(ErrorKind.TIMEOUT, "silent")),
            LIMITS,
            None,
        ),
        (
            "an exhausted quota will not pass by itself",
            failed(UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "quota", retry_after=1.0)),
            LIMITS,
            None,
        ),
        (
            "a rejected key will not pass by itself",
            failed(UpstreamFailure(ErrorKind.INVALID_KEY, "401"), rest=math.inf),
            LIMITS,
            None,
        ),
    ],
)
def test_same_target_wait(
    case: str, situation: TargetFailed, limits: SameTargetLimits, wait: float | None
) -> None:
    assert same_target_wait(situation, limits) == wait, case


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

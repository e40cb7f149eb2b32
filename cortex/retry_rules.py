"""The plan walk's failover decisions, as named pure functions.

Each rule takes what the walk knows at one moment and returns what to do, so the rules
are tested by table without a network or a clock (``tests/cortex/test_retry_rules.py``);
:mod:`cortex.walk` gathers the facts and carries the decisions out.

- :func:`deadline_reached`: whether the request has run out of time;
- :func:`exhausted_error`: what the client is told when the walk has nothing left to try.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from actors.providers.errors import ErrorKind, UpstreamFailure
from cortex.errors import (
    AllRateLimited,
    AllUpstreamsFailed,
    Attempt,
    DeadlineExceeded,
    GatewayError,
    NothingAvailable,
)

TRANSIENT = frozenset(
    {
        ErrorKind.OVERLOADED,
        ErrorKind.UPSTREAM_ERROR,
        ErrorKind.CONNECT_ERROR,
        ErrorKind.EMPTY_RESPONSE,
    }
)
"""Worker failures that may pass by themselves, so trying the worker again can help."""

RESTING = frozenset(
    {ErrorKind.RATE_LIMITED.value, ErrorKind.QUOTA_EXHAUSTED.value, "no_usable_key"}
)
"""Attempt reasons that mean a worker's keys rest (or none is usable), not that it failed."""


def deadline_reached(now: float, deadline: float, last: UpstreamFailure | None) -> bool:
    """Whether the request is out of time.

    The clock says so, or the last attempt's time limit was the deadline itself: timers
    on the event loop may fire a hair before the clock reaches their end, and a walk that
    trusted only the clock would then answer 502 where the deadline is the cause.
    """
    return now >= deadline or (last is not None and last.cut_by_deadline)


def exhausted_error(
    failures: Sequence[Attempt],
    *,
    rests: Mapping[str, float | None],
    saturated: bool,
    out_of_time: bool,
) -> GatewayError:
    """The client's answer when the walk has nothing left to try.

    Clauses, in order:

    - *busy*: every worker was at its concurrency limit and none was tried: 503;
    - *resting*: each worker's latest attempt found its keys resting (or unusable), and
      some key comes back: 429 with ``Retry-After`` at the earliest;
    - *deadline*: the request ran out of time: 504 with its attempts;
    - otherwise every upstream failed: 502 with each attempt's reason.

    Args:
        failures: the attempts that failed, oldest first.
        rests: per worker, seconds until its first resting key is usable (None: none rests).
        saturated: some worker was skipped at its concurrency limit.
        out_of_time: :func:`deadline_reached` holds.
    """
    if saturated and not failures:
        return NothingAvailable("every worker is at its concurrency limit", code="all_workers_busy")
    latest = {attempt.worker: attempt.reason for attempt in failures}
    if latest and all(reason in RESTING for reason in latest.values()):
        finite = [
            rest
            for worker in latest
            if (rest := rests.get(worker)) is not None and math.isfinite(rest)
        ]
        if finite:
            return AllRateLimited(failures, min(finite))
    if out_of_time:
        return DeadlineExceeded(attempts=failures)
    return AllUpstreamsFailed(failures)

"""The plan walk's failover decisions, as named pure functions.

Each rule takes what the walk knows at one moment and returns what to do, so the rules
are tested by table without a network or a clock (``tests/cortex/test_retry_rules.py``);
:class:`cortex.dataplane.failover.Failover` applies them to one request's walk, which
:mod:`cortex.dataplane.walk` carries out.

- :class:`RetryPolicy`: the configured bounds on passes, backoff and waits;
- :func:`same_target_wait`: whether a route's target that just failed is tried once more
  before the route moves on to a different model, and after how long;
- :func:`deadline_reached`: whether the request has run out of time;
- :func:`exhausted_error`: what the client is told when the walk has nothing left to try.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from actors.outcomes import ErrorKind, UpstreamFailure
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many extra passes a walk may make and how long it waits between them.

    ``longest_key_wait`` caps how long a request waits for a resting key to come back;
    past it the client is better served by a prompt 429 with ``Retry-After``.
    ``same_target_retries`` and ``max_retry_wait`` bound the retries of a route's target
    before the route moves on to a different model.
    """

    passes: int = 2
    backoff: float = 0.1
    backoff_max: float = 2.0
    longest_key_wait: float = 5.0
    same_target_retries: int = 1
    max_retry_wait: float = 3.0

    def delay(self, pass_number: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff before pass ``pass_number`` (1 for the first retry)."""
        return rng.uniform(0.0, min(self.backoff_max, self.backoff * 2 ** (pass_number - 1)))


@dataclass(frozen=True, slots=True)
class TargetFailed:
    """A target of the plan that just failed, and what the walk knows around it.

    Attributes:
        failure: the target's last failure.
        routed: the plan is a configured route's chain of targets.
        model: the target's upstream model.
        next_model: the upstream model of the next target the walk would try, if any.
        retries_used: same-target retries this target already had for this request.
        rest: seconds until one of the worker's resting keys is usable again, if any rests.
    """

    failure: UpstreamFailure
    routed: bool
    model: str
    next_model: str | None
    retries_used: int = 0
    rest: float | None = None


@dataclass(frozen=True, slots=True)
class SameTargetLimits:
    """How far a route's target is retried before the route moves to another model.

    Attributes:
        retries: most retries of one target per request (``CORTEX_SAME_TARGET_RETRIES``).
        max_wait: longest wait before such a retry (``CORTEX_MAX_RETRY_WAIT``): a longer
            ``Retry-After`` sends the request to the next target at once.
        backoff: the wait after a transient failure that named no ``Retry-After``.
        remaining: seconds left until the request's deadline.
    """

    retries: int
    max_wait: float
    backoff: float
    remaining: float


def same_target_wait(failed: TargetFailed, limits: SameTargetLimits) -> float | None:
    """Seconds to wait before trying the failed target again, or None to move on now.

    Clauses, in order:

    - *interchangeable*: outside a route, or when the next target serves the same model,
      the next worker is as good as this one: move on at once;
    - *last target*: nothing different follows, so the walk's own passes retry it;
    - *retries spent*: the target had its ``retries`` already;
    - *not transient*: a timeout, an exhausted quota or a rejected key will not pass by
      itself; a rate limit is retried only once a resting key is usable again;
    - *too long*: the wait is above ``max_wait``, or would end past the deadline.
    """
    if not failed.routed or failed.next_model in (None, failed.model):
        return None
    if failed.retries_used >= limits.retries:
        return None
    wait = _wait_before_retry(failed, limits.backoff)
    if wait is None or wait > limits.max_wait or wait >= limits.remaining:
        return None
    return wait


def _wait_before_retry(failed: TargetFailed, backoff: float) -> float | None:
    failure = failed.failure
    if failure.kind is ErrorKind.RATE_LIMITED:
        # A keyed worker is usable once its first key's rest ends; a keyless one when its
        # provider said. A rate limit that named no wait rests the key for minutes.
        return failed.rest if failed.rest is not None else failure.retry_after
    if failure.kind in TRANSIENT:
        return failure.retry_after if failure.retry_after is not None else backoff
    return None


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

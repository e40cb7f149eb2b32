"""Failover as a pure state machine: what one request's walk does next, before its first token.

:class:`Failover` holds one request's walk through its plan. The walk
(:mod:`cortex.dataplane.walk`) reports each outcome with the time it happened (the
machine reads no clock, does no I/O and touches no actor), and :meth:`Failover.step`
answers with the next decision:

- :class:`Try` a candidate (with which key ids to skip or avoid);
- :class:`Wait` some seconds, then report :class:`Waited`;
- :class:`WaitForSlot` up to some seconds, when every candidate is saturated;
- :class:`GiveUp` with the error the client gets.

Transitions, each a named method below:

- *next candidate* (:meth:`Failover._next`): candidates are tried in plan order; an
  excluded worker (it timed out or broke mid-stream) and, for a continuation, a worker that
  cannot take a partial assistant message are skipped; past the deadline the request ends
  with 504;
- *failed* (:meth:`Failover._failed`): the failure is blamed on the key (rate limit,
  quota, rejected key: the same worker is tried with its next usable key, the key that
  failed last avoided while another is usable) or on the worker (move on); a silent worker
  is excluded for the rest of the request; a client's bad request ends the walk as it is,
  unless the route names a fallback target for its error code (each fallback once);
- *same target* (:meth:`Failover._retry_same_target`): a route's target followed by a
  different model is tried again first after a transient failure
  (:func:`~cortex.dataplane.retry_rules.same_target_wait`);
- *next pass* (:meth:`Failover._next_pass`): when a pass ends and something may pass
  (connect errors, 5xx, overload, keys resting for less than the time left), wait with
  full-jitter backoff (at least the shortest rest when only rests are left) and pass
  again, at most ``passes`` times and never past the deadline; a worker with one key is
  tried with it again, never shut out for good; when every candidate was saturated and
  none tried, wait for a free slot instead, up to the deadline;
- *exhausted* (:func:`~cortex.dataplane.retry_rules.exhausted_error`): 429 with
  ``Retry-After`` when only resting keys remain, 503 when all were busy, 504 past the
  deadline, 502 otherwise.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate, Plan
from cortex.dataplane.retry_rules import (
    TRANSIENT,
    RetryPolicy,
    SameTargetLimits,
    TargetFailed,
    deadline_reached,
    exhausted_error,
    same_target_wait,
)
from cortex.errors import (
    Attempt,
    DeadlineExceeded,
    GatewayError,
    NothingAvailable,
    UpstreamRejected,
)

BUSY = "every worker is at its concurrency limit"


@dataclass(frozen=True, slots=True)
class Begin:
    """The walk wants an attempt that produces a first token (again, after a break)."""

    prefill_only: bool = False


@dataclass(frozen=True, slots=True)
class Saturated:
    """The candidate to try was at its concurrency limit, so it was skipped."""


@dataclass(frozen=True, slots=True)
class NoKey:
    """The candidate had no usable key left; ``rest``: seconds until one is (None: none rests)."""

    rest: float | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The attempt failed before its first token.

    Attributes:
        failure: the classified failure.
        key_id: the key used, if any; masked: that key as shown to people.
        rest: seconds until the worker's first resting key is usable, after this failure.
    """

    failure: UpstreamFailure
    key_id: str | None = None
    masked: str | None = None
    rest: float | None = None


@dataclass(frozen=True, slots=True)
class Waited:
    """The wait the last decision asked for is over."""


@dataclass(frozen=True, slots=True)
class SlotWaited:
    """The wait for a free slot ended; ``full``: the line of waiters was full (its message)."""

    freed: bool
    full: str | None = None


Outcome = Begin | Saturated | NoKey | Failed | Waited | SlotWaited


@dataclass(frozen=True, slots=True)
class Try:
    """Try ``candidate``.

    Attributes:
        candidate: the plan's candidate.
        acquire: take a concurrency slot first; False for the same candidate's next key,
            whose slot is still held.
        exclude: key ids already tried on this candidate now.
        avoid: a key id to use only when no other is usable (it failed last).
    """

    candidate: Candidate
    acquire: bool = True
    exclude: frozenset[str] = frozenset()
    avoid: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait ``seconds``, then report :class:`Waited`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class WaitForSlot:
    """Wait up to ``seconds`` for a free slot, then report :class:`SlotWaited`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """End the walk: the client gets ``error``."""

    error: GatewayError


Decision = Try | Wait | WaitForSlot | GiveUp


class Failover:
    """One request's failover state; :meth:`step` turns each outcome into the next decision."""

    def __init__(
        self, plan: Plan, *, deadline: float, policy: RetryPolicy, rng: random.Random
    ) -> None:
        self.plan = plan
        self.deadline = deadline
        self.failures: list[Attempt] = []
        self._policy = policy
        self._rng = rng
        self._queue: deque[Candidate] = deque(plan.candidates)
        self._passes = 0
        self._excluded: set[str] = set()
        self._fallbacks_used: set[str] = set()
        self._prefill_only = False
        self._last_failed: tuple[str, str] | None = None
        self._last_failure: UpstreamFailure | None = None
        self._same_target_retries: dict[tuple[str, str], int] = {}
        self._back_at: dict[str, float] = {}
        self._current: Candidate | None = None
        self._current_failure: UpstreamFailure | None = None
        self._tried: set[str] = set()
        self._retryable = False
        self._waits: list[float] = []
        self._saturated: list[Candidate] = []
        self._tried_this_pass = False
        self._tried_before = False

    def exclude(self, worker: str) -> None:
        """Never try ``worker`` again for this request (it failed mid-stream)."""
        self._excluded.add(worker)

    def note_failure(self, worker: str, key: str | None, failure: UpstreamFailure) -> None:
        """Record a failure that happened outside the walk (after a first token)."""
        self.failures.append(Attempt(worker, key, failure.kind.value, failure.message))

    def step(self, outcome: Outcome, now: float) -> Decision:
        """The decision that follows ``outcome``, which happened at monotonic time ``now``."""
        if isinstance(outcome, Begin):
            self._prefill_only = outcome.prefill_only
            return self._next(now)
        if isinstance(outcome, Saturated):
            return self._saturated_candidate(now)
        if isinstance(outcome, NoKey):
            return self._no_key(outcome, now)
        if isinstance(outcome, Failed):
            return self._failed(outcome, now)
        if isinstance(outcome, SlotWaited):
            return self._slot_waited(outcome, now)
        return self._next(now)

    def _next(self, now: float) -> Decision:
        """The next candidate of this pass, else the next pass; 504 past the deadline."""
        while True:
            if deadline_reached(now, self.deadline, self._last_failure):
                return GiveUp(DeadlineExceeded(attempts=list(self.failures)))
            if not self._queue:
                return self._next_pass(now)
            candidate = self._queue.popleft()
            if candidate.worker in self._excluded or (
                self._prefill_only and not candidate.supports_prefill
            ):
                continue
            self._current, self._current_failure, self._tried = candidate, None, set()
            # Counted as tried now and taken back on Saturated: an opened attempt reports
            # nothing, yet a later break must not mistake this pass for an untried one.
            self._tried_before, self._tried_this_pass = self._tried_this_pass, True
            return Try(candidate, avoid=self._avoid(candidate.worker))

    def _saturated_candidate(self, now: float) -> Decision:
        """A worker at its concurrency limit is skipped for this pass."""
        assert self._current is not None
        self._saturated.append(self._current)
        self._tried_this_pass = self._tried_before
        self._current = None
        return self._next(now)

    def _no_key(self, outcome: NoKey, now: float) -> Decision:
        """No key to lease: note why, count a finite rest as a reason to pass again."""
        assert self._current is not None
        worker, rest = self._current.worker, outcome.rest
        self._note_rest(worker, rest, now)
        if rest is not None and math.isfinite(rest):
            self._waits.append(rest)
            reason = "every key is resting"
        else:
            reason = "every key was rejected" if rest is not None else "no key could be used"
        self.failures.append(Attempt(worker, None, "no_usable_key", reason))
        return self._moved_on(now)

    def _failed(self, outcome: Failed, now: float) -> Decision:
        """Blame the key (try the worker's next key) or the worker (move on)."""
        candidate, failure = self._current, outcome.failure
        assert candidate is not None
        worker = candidate.worker
        self._last_failure = self._current_failure = failure
        self.failures.append(Attempt(worker, outcome.masked, failure.kind.value, failure.message))
        self._note_rest(worker, outcome.rest, now)
        if outcome.key_id is not None:
            self._last_failed = (worker, outcome.key_id)
            self._tried.add(outcome.key_id)
        if failure.is_client_error:
            return self._rejected(worker, failure, now)
        if failure.retry_after is not None and failure.kind in (
            ErrorKind.RATE_LIMITED,
            ErrorKind.QUOTA_EXHAUSTED,
        ):
            self._waits.append(failure.retry_after)
        if failure.kind is ErrorKind.TIMEOUT:
            self._excluded.add(worker)
        elif failure.kind in TRANSIENT:
            self._retryable = True
        if candidate.needs_key and failure.tries_next_key:
            tried = frozenset(self._tried)
            return Try(candidate, acquire=False, exclude=tried, avoid=self._avoid(worker))
        return self._moved_on(now)

    def _rejected(self, worker: str, failure: UpstreamFailure, now: float) -> Decision:
        """A client's bad request: the route's fallback for its code (once), else returned as is."""
        fallback = self.plan.fallbacks.get(failure.code or "")
        if fallback is None or fallback.worker in self._fallbacks_used:
            return GiveUp(UpstreamRejected(failure.message, code=failure.code, worker=worker))
        self._fallbacks_used.add(fallback.worker)
        self._queue.appendleft(fallback)
        return self._moved_on(now)

    def _moved_on(self, now: float) -> Decision:
        """The current candidate is done without an answer: retry it first, or go on."""
        candidate, failure = self._current, self._current_failure
        self._current = None
        if candidate is not None and failure is not None:
            wait = self._retry_same_target(candidate, failure, now)
            if wait is not None:
                return Wait(wait)
        return self._next(now)

    def _retry_same_target(
        self, candidate: Candidate, failure: UpstreamFailure, now: float
    ) -> float | None:
        """Put a failed target back at the head of the queue when the rule says to wait for it."""
        target = (candidate.worker, candidate.model)
        failed = TargetFailed(
            failure,
            routed=self.plan.routed,
            model=candidate.model,
            next_model=next((c.model for c in self._queue if c.worker not in self._excluded), None),
            retries_used=self._same_target_retries.get(target, 0),
            rest=self._rest(candidate.worker, now) if candidate.needs_key else None,
        )
        limits = SameTargetLimits(
            retries=self._policy.same_target_retries,
            max_wait=self._policy.max_retry_wait,
            backoff=self._policy.delay(1, self._rng),
            remaining=self.deadline - now,
        )
        wait = same_target_wait(failed, limits)
        if wait is not None:
            self._same_target_retries[target] = failed.retries_used + 1
            self._queue.appendleft(candidate)
        return wait

    def _next_pass(self, now: float) -> Decision:
        """Wait as the failures ask and pass again, or give up when nothing may pass in time."""
        remaining = self.deadline - now
        if self._saturated and not self._tried_this_pass:
            if remaining <= 0:
                return GiveUp(NothingAvailable(BUSY, code="all_workers_busy"))
            return WaitForSlot(remaining)
        waits = [w for w in self._waits if w < min(remaining, self._policy.longest_key_wait)]
        if self._passes >= self._policy.passes or not (self._retryable or waits or self._saturated):
            return GiveUp(self._exhausted(now))
        self._passes += 1
        delay = self._policy.delay(self._passes, self._rng)
        if waits and not self._retryable:
            delay = max(delay, min(waits))
        if delay >= remaining:
            return GiveUp(self._exhausted(now))
        self._start_pass(self.plan.candidates)
        return Wait(delay)

    def _slot_waited(self, outcome: SlotWaited, now: float) -> Decision:
        """After waiting for a slot: pass again over the saturated candidates, or 503."""
        if outcome.full is not None:
            return GiveUp(NothingAvailable(outcome.full, code="all_workers_busy"))
        if not outcome.freed:
            return GiveUp(NothingAvailable(BUSY, code="all_workers_busy"))
        self._start_pass(self._saturated)
        return self._next(now)

    def _start_pass(self, candidates: tuple[Candidate, ...] | list[Candidate]) -> None:
        self._queue = deque(c for c in candidates if c.worker not in self._excluded)
        self._retryable = False
        self._waits = []
        self._saturated = []
        self._tried_this_pass = False
        self._tried_before = False

    def _avoid(self, worker: str) -> str | None:
        """The key that failed last on ``worker``, to use only when no other is usable."""
        if self._last_failed is None or self._last_failed[0] != worker:
            return None
        return None if self._last_failed[1] in self._tried else self._last_failed[1]

    def _note_rest(self, worker: str, rest: float | None, now: float) -> None:
        """Remember when the worker's first resting key comes back, as an absolute time."""
        if rest is None:
            self._back_at.pop(worker, None)
        else:
            self._back_at[worker] = now + rest

    def _rest(self, worker: str, now: float) -> float | None:
        """Seconds until the worker's first resting key is usable; None when none rests."""
        back_at = self._back_at.get(worker)
        return None if back_at is None or back_at <= now else back_at - now

    def _exhausted(self, now: float) -> GatewayError:
        return exhausted_error(
            self.failures,
            rests={a.worker: self._rest(a.worker, now) for a in self.failures},
            saturated=bool(self._saturated),
            out_of_time=deadline_reached(now, self.deadline, self._last_failure),
        )


__all__ = [
    "Begin",
    "Decision",
    "Failed",
    "Failover",
    "GiveUp",
    "NoKey",
    "Outcome",
    "Saturated",
    "SlotWaited",
    "Try",
    "Wait",
    "WaitForSlot",
    "Waited",
]

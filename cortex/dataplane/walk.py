"""One request's walk down its failover plan, before the first token.

The walk tries candidates in plan order. A keyed worker is tried with each usable key
while the failure is the key's (rate limit, quota); any other failure moves on to the next
worker, except that a route's target whose next target is a different model is tried
again first after a transient failure (see :func:`cortex.dataplane.retry_rules.same_target_wait`).
When a whole pass fails for reasons that may pass (connect errors, 5xx, overload, keys
resting for less than the time left), the walk waits (exponential backoff with full
jitter, at least the shortest Retry-After) and makes another pass, never past the
request's deadline. Its retry and end-of-walk decisions are pure rules in
:mod:`cortex.dataplane.retry_rules`.
Rules that keep retries honest:

- a worker that failed is tried with another of its keys next time, when it has one; its
  only key is used again (after the wait before the retry), never shut out for good;
- a silent upstream (no first token in time) is not tried again for this request, and one
  whose time limit was the request's deadline ends the request with 504;
- a client's bad request is never retried: it is returned as is, unless the model route
  names a fallback target for that error code;
- a worker at its concurrency limit is skipped; when every candidate is saturated the
  request waits for a free slot, up to its deadline, in a bounded line.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from actors.keys import KeyLease, KeyLedger
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate, Plan
from cortex.chat import ChatRequest
from cortex.dataplane.attempts import Attempts, OpenAttempt
from cortex.dataplane.retry_rules import (
    TRANSIENT,
    SameTargetLimits,
    TargetFailed,
    deadline_reached,
    exhausted_error,
    same_target_wait,
)
from cortex.dataplane.slots import Slots, SlotsExhausted
from cortex.errors import (
    Attempt,
    DeadlineExceeded,
    GatewayError,
    NothingAvailable,
    UpstreamRejected,
)
from cortex.observability.observe import DispatchObserver

KeyCheckout = Callable[[str, frozenset[str]], Coroutine[Any, Any, KeyLease | None]]
"""Asks the key manager for a worker's next usable key, excluding some key ids."""

TIMER_SLACK = 0.005
"""Added to every wait for a rest to end: uvloop keeps its clock in milliseconds, so a
timer may fire up to a millisecond before ``time.monotonic()`` reaches its end, and a key
would still be resting when the walk wakes for it."""


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


class PlanWalk:
    """Walks one request's plan until an attempt produces its first token."""

    def __init__(
        self,
        *,
        plan: Plan,
        deadline: float,
        attempts: Attempts,
        checkout: KeyCheckout,
        ledger: KeyLedger,
        slots: Slots,
        policy: RetryPolicy,
        observer: DispatchObserver,
        rng: random.Random,
    ) -> None:
        self.failures: list[Attempt] = []
        self.plan = plan
        self.deadline = deadline
        self._attempts = attempts
        self._checkout = checkout
        self._ledger = ledger
        self._slots = slots
        self._policy = policy
        self._observer = observer
        self._rng = rng
        self._queue: deque[Candidate] = deque(plan.candidates)
        self._passes = 0
        self._excluded: set[str] = set()
        self._fallbacks_used: set[str] = set()
        self._last_failed: tuple[str, str] | None = None
        self._last_failure: UpstreamFailure | None = None
        self._same_target_retries: dict[tuple[str, str], int] = {}
        self._retryable = False
        self._waits: list[float] = []
        self._saturated: list[Candidate] = []
        self._tried_this_pass = False

    def exclude(self, worker: str) -> None:
        """Never try ``worker`` again for this request (it failed mid-stream)."""
        self._excluded.add(worker)

    def note_failure(self, worker: str, key: str | None, failure: UpstreamFailure) -> None:
        """Record a failure that happened outside the walk (after a first token)."""
        self.failures.append(Attempt(worker, key, failure.kind.value, failure.message))

    async def next_opened(self, request: ChatRequest, *, prefill_only: bool = False) -> OpenAttempt:
        """The next attempt that produces a first token.

        Raises:
            GatewayError: the plan is exhausted, the deadline passed, or the upstream
                rejected the request itself.
        """
        while True:
            if self._out_of_time():
                raise DeadlineExceeded(attempts=self.failures)
            if not self._queue:
                await self._next_pass()
                continue
            candidate = self._queue.popleft()
            if candidate.worker in self._excluded or (
                prefill_only and not candidate.supports_prefill
            ):
                continue
            result = await self._try(candidate, request)
            if isinstance(result, OpenAttempt):
                return result
            if result is not None:
                await self._maybe_retry_same_target(candidate, result)

    async def _try(
        self, candidate: Candidate, request: ChatRequest
    ) -> OpenAttempt | UpstreamFailure | None:
        """Try one candidate with each usable key in turn.

        Returns:
            The opened attempt, else the candidate's last failure, else None when it was
            not tried at all (saturated, or no key to lease).
        """
        worker = candidate.worker
        if not self._slots.try_acquire(worker, candidate.max_concurrent):
            self._saturated.append(candidate)
            return None
        self._tried_this_pass = True
        opened: OpenAttempt | None = None
        failure: UpstreamFailure | None = None
        try:
            tried: set[str] = set()
            while True:
                lease = None
                if candidate.needs_key:
                    lease = await self._lease(worker, tried)
                    if lease is None:
                        return failure
                    tried.add(lease.key_id)
                self._observer.attempt_started(worker, tuple(self.failures))
                result = await self._attempts.open(candidate, lease, request, self.deadline)
                if isinstance(result, OpenAttempt):
                    opened = result
                    return opened
                failure = result
                if not self._failed(candidate, lease, result):
                    return failure
        finally:
            if opened is None:
                self._slots.release(worker)

    async def _maybe_retry_same_target(
        self, candidate: Candidate, failure: UpstreamFailure
    ) -> None:
        """Put a failed target back at the head of the queue when the rule says to wait for it."""
        target = (candidate.worker, candidate.model)
        failed = TargetFailed(
            failure,
            routed=self.plan.routed,
            model=candidate.model,
            next_model=next((c.model for c in self._queue if c.worker not in self._excluded), None),
            retries_used=self._same_target_retries.get(target, 0),
            rest=self._ledger.next_unblock_in(candidate.worker) if candidate.needs_key else None,
        )
        limits = SameTargetLimits(
            retries=self._policy.same_target_retries,
            max_wait=self._policy.max_retry_wait,
            backoff=self._policy.delay(1, self._rng),
            remaining=self.deadline - time.monotonic(),
        )
        wait = same_target_wait(failed, limits)
        if wait is None:
            return
        self._same_target_retries[target] = failed.retries_used + 1
        await asyncio.sleep(wait + TIMER_SLACK)
        self._queue.appendleft(candidate)

    async def _lease(self, worker: str, tried: set[str]) -> KeyLease | None:
        """The worker's next key, preferring one other than the key that failed last.

        The key that failed last is only avoided while another is usable: a worker with
        one key is tried with it again once its rest (if any) ended.
        """
        lease = None
        if (
            self._last_failed is not None
            and self._last_failed[0] == worker
            and self._last_failed[1] not in tried
        ):
            lease = await self._checkout(worker, frozenset({*tried, self._last_failed[1]}))
        if lease is None:
            lease = await self._checkout(worker, frozenset(tried))
        if lease is None:
            wait = self._ledger.next_unblock_in(worker)
            if wait is not None and math.isfinite(wait):
                self._waits.append(wait)
                self.failures.append(Attempt(worker, None, "no_usable_key", "every key is resting"))
            else:
                reason = "every key was rejected" if wait is not None else "no key could be used"
                self.failures.append(Attempt(worker, None, "no_usable_key", reason))
        return lease

    def _failed(
        self, candidate: Candidate, lease: KeyLease | None, failure: UpstreamFailure
    ) -> bool:
        """Record a failed attempt; return whether the same worker should try its next key."""
        worker = candidate.worker
        self._last_failure = failure
        self.failures.append(
            Attempt(worker, lease.masked if lease else None, failure.kind.value, failure.message)
        )
        if lease is not None:
            self._last_failed = (worker, lease.key_id)
        if failure.is_client_error:
            fallback = self.plan.fallbacks.get(failure.code or "")
            if fallback is None or fallback.worker in self._fallbacks_used:
                raise UpstreamRejected(failure.message, code=failure.code, worker=worker)
            self._fallbacks_used.add(fallback.worker)
            self._queue.appendleft(fallback)
            return False
        if failure.retry_after is not None and failure.kind in (
            ErrorKind.RATE_LIMITED,
            ErrorKind.QUOTA_EXHAUSTED,
        ):
            self._waits.append(failure.retry_after)
        if failure.kind is ErrorKind.TIMEOUT:
            self._excluded.add(worker)
        elif failure.kind in TRANSIENT:
            self._retryable = True
        return candidate.needs_key and failure.tries_next_key

    async def _next_pass(self) -> None:
        """Start another pass, after waiting as the failures ask; raise when there is none."""
        remaining = self.deadline - time.monotonic()
        if self._saturated and not self._tried_this_pass:
            await self._wait_for_slot(remaining)
            return
        waits = [w for w in self._waits if w < min(remaining, self._policy.longest_key_wait)]
        if self._passes >= self._policy.passes or not (self._retryable or waits or self._saturated):
            raise self._exhausted()
        self._passes += 1
        delay = self._policy.delay(self._passes, self._rng)
        if waits and not self._retryable:
            delay = max(delay, min(waits))
        if delay >= remaining:
            raise self._exhausted()
        await asyncio.sleep(delay + TIMER_SLACK)
        self._start_pass(self.plan.candidates)

    async def _wait_for_slot(self, remaining: float) -> None:
        saturated = self._saturated
        try:
            freed = remaining > 0 and await self._slots.wait_for_release(remaining)
        except SlotsExhausted as exc:
            raise NothingAvailable(str(exc), code="all_workers_busy") from exc
        if not freed:
            raise NothingAvailable(
                "every worker is at its concurrency limit", code="all_workers_busy"
            )
        self._start_pass(saturated)

    def _start_pass(self, candidates: tuple[Candidate, ...] | list[Candidate]) -> None:
        self._queue = deque(c for c in candidates if c.worker not in self._excluded)
        self._retryable = False
        self._waits = []
        self._saturated = []
        self._tried_this_pass = False

    def _out_of_time(self) -> bool:
        return deadline_reached(time.monotonic(), self.deadline, self._last_failure)

    def _exhausted(self) -> GatewayError:
        return exhausted_error(
            self.failures,
            rests={a.worker: self._ledger.next_unblock_in(a.worker) for a in self.failures},
            saturated=bool(self._saturated),
            out_of_time=self._out_of_time(),
        )

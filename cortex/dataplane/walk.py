"""One request's walk down its failover plan, before the first token.

The walk carries out the decisions of :class:`cortex.dataplane.failover.Failover`, which
holds the rules (passes, backoff, blame on key or worker, same-target retries, fallbacks,
exclusion, the deadline and the final error) as a pure state machine. The walk does what
they cannot: it takes concurrency slots, leases keys from the ledger, opens attempts, reads
the clock and sleeps, and reports each outcome back.

Slots: a candidate's slot is held while its keys are tried one after another, handed to
the answer when an attempt opens, and released before any wait and whenever the walk ends
without an answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from actors.keys import KeyLease, KeyLedger
from actors.outcomes import UpstreamFailure
from actors.planning import Candidate, Plan
from cortex.chat import ChatRequest
from cortex.dataplane.attempts import Attempts, OpenAttempt
from cortex.dataplane.failover import (
    Begin,
    Decision,
    Failed,
    Failover,
    GiveUp,
    NoKey,
    Outcome,
    Saturated,
    SlotWaited,
    Try,
    Wait,
    Waited,
)
from cortex.dataplane.retry_rules import RetryPolicy
from cortex.dataplane.slots import Slots, SlotsExhausted
from cortex.errors import Attempt
from cortex.observability.observe import DispatchObserver

KeyCheckout = Callable[[str, frozenset[str]], Coroutine[Any, Any, KeyLease | None]]
"""Asks the key manager for a worker's next usable key, excluding some key ids."""

T = TypeVar("T")
AttemptMaker = Callable[[Candidate, KeyLease | None, float], Awaitable[T | UpstreamFailure]]
"""Makes one attempt of a candidate with a key (if any) by a deadline: its result, or
why it failed."""

TIMER_SLACK = 0.005
"""Added to every wait for a rest to end: uvloop keeps its clock in milliseconds, so a
timer may fire up to a millisecond before ``time.monotonic()`` reaches its end, and a key
would still be resting when the walk wakes for it."""


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
        self.plan = plan
        self.deadline = deadline
        self._failover = Failover(plan, deadline=deadline, policy=policy, rng=rng)
        self._attempts = attempts
        self._checkout = checkout
        self._ledger = ledger
        self._slots = slots
        self._observer = observer
        self._held: str | None = None

    @property
    def failures(self) -> list[Attempt]:
        """The attempts that failed so far, oldest first."""
        return self._failover.failures

    def exclude(self, worker: str) -> None:
        """Never try ``worker`` again for this request (it failed mid-stream)."""
        self._failover.exclude(worker)

    def note_failure(self, worker: str, key: str | None, failure: UpstreamFailure) -> None:
        """Record a failure that happened outside the walk (after a first token)."""
        self._failover.note_failure(worker, key, failure)

    async def next_opened(self, request: ChatRequest, *, prefill_only: bool = False) -> OpenAttempt:
        """The next attempt that produces a first token.

        Raises:
            GatewayError: the plan is exhausted, the deadline passed, or the upstream
                rejected the request itself.
        """

        async def attempt(
            candidate: Candidate, lease: KeyLease | None, deadline: float
        ) -> OpenAttempt | UpstreamFailure:
            return await self._attempts.open(candidate, lease, request, deadline)

        return await self.next_result(attempt, prefill_only=prefill_only)

    async def next_result(self, attempt: AttemptMaker[T], *, prefill_only: bool = False) -> T:
        """The result of the next attempt that succeeds, ``attempt`` making each one.

        A successful attempt keeps its worker's concurrency slot: whoever takes the result
        releases it (the answer's relay, or the caller of a whole-answer attempt).

        Raises:
            GatewayError: as :meth:`next_opened`.
        """
        decision = self._failover.step(Begin(prefill_only), time.monotonic())
        try:
            while True:
                if not (isinstance(decision, Try) and not decision.acquire):
                    self._release()
                result = await self._execute(decision, attempt)
                if not isinstance(result, Outcome):
                    return result
                decision = self._failover.step(result, time.monotonic())
        finally:
            self._release()

    async def _execute(self, decision: Decision, attempt: AttemptMaker[T]) -> T | Outcome:
        """Carry out one decision and say how it went."""
        if isinstance(decision, Try):
            return await self._try(decision, attempt)
        if isinstance(decision, Wait):
            await asyncio.sleep(decision.seconds + TIMER_SLACK)
            return Waited()
        if isinstance(decision, GiveUp):
            raise decision.error
        try:
            freed = await self._slots.wait_for_release(decision.seconds)
        except SlotsExhausted as exc:
            return SlotWaited(freed=False, full=str(exc))
        return SlotWaited(freed=freed)

    async def _try(self, decision: Try, attempt: AttemptMaker[T]) -> T | Outcome:
        """One attempt of the decided candidate, taking its slot and leasing its key."""
        candidate = decision.candidate
        worker = candidate.worker
        if decision.acquire:
            if not self._slots.try_acquire(worker, candidate.max_concurrent):
                return Saturated()
            self._held = worker
        lease = None
        if candidate.needs_key:
            lease = await self._lease(worker, decision)
            if lease is None:
                return NoKey(self._ledger.next_unblock_in(worker))
        self._observer.attempt_started(worker, tuple(self.failures))
        result = await attempt(candidate, lease, self.deadline)
        if not isinstance(result, UpstreamFailure):
            self._held = None
            return result
        return Failed(
            result,
            key_id=lease.key_id if lease else None,
            masked=lease.masked if lease else None,
            rest=self._ledger.next_unblock_in(worker),
        )

    async def _lease(self, worker: str, decision: Try) -> KeyLease | None:
        """The worker's next key, avoiding the decided key while another is usable."""
        lease = None
        if decision.avoid is not None:
            lease = await self._checkout(worker, decision.exclude | {decision.avoid})
        if lease is None:
            lease = await self._checkout(worker, decision.exclude)
        return lease

    def _release(self) -> None:
        """Give back the slot of a candidate that ended without an answer."""
        if self._held is not None:
            self._slots.release(self._held)
            self._held = None


__all__ = ["AttemptMaker", "KeyCheckout", "PlanWalk", "RetryPolicy"]

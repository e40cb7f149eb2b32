"""The plan walk's decisions with scripted attempts: no network, real keys and real time.

The attempts are a stand-in for :class:`cortex.attempts.Attempts` that answers each
candidate from a script and, like the real one, counts failures against the key ledger.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine
from typing import Any

import pytest

from actors.keys import KeyLease, KeyLedger
from actors.planning import Candidate, Plan
from actors.providers.base import ChatRequest, Message
from actors.providers.errors import ErrorKind, UpstreamFailure
from actors.workers import ProviderType
from cortex.attempts import Opened
from cortex.errors import AllUpstreamsFailed, DeadlineExceeded
from cortex.observe import NullObserver
from cortex.slots import Slots
from cortex.walk import PlanWalk, RetryPolicy

WAIT = 10.0
REQUEST = ChatRequest((Message("user", "hi"),))
TIMED_OUT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token within 1.0s")
CUT_SHORT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token within 1.0s", cut_by_deadline=True)


def candidate(worker: str, model: str, *, keyed: bool = True) -> Candidate:
    return Candidate(worker, ProviderType.OPENAI, "http://upstream", model, 5.0, keyed)


class ScriptedAttempts:
    """Answers each worker's attempts in order from its script; ``None`` opens the answer."""

    def __init__(self, ledger: KeyLedger, script: dict[str, list[UpstreamFailure | None]]) -> None:
        self.ledger = ledger
        self.script = script
        self.calls: list[tuple[str, str | None]] = []

    async def open(
        self, target: Candidate, lease: KeyLease | None, request: ChatRequest, deadline: float
    ) -> Opened | UpstreamFailure:
        self.calls.append((target.worker, lease.key_id if lease else None))
        outcome = self.script[target.worker].pop(0) if self.script[target.worker] else None
        if outcome is None:
            return Opened(target, lease, None, None, [], 1.0)  # type: ignore[arg-type]
        if lease is not None:
            self.ledger.report_failure(target.worker, lease.key_id, outcome)
        return outcome


def walk(
    plan: Plan,
    script: dict[str, list[UpstreamFailure | None]],
    *,
    keys: dict[str, list[str]] | None = None,
    timeout: float = 30.0,
) -> tuple[PlanWalk, ScriptedAttempts]:
    ledger = KeyLedger()
    for worker, secrets in (keys or {}).items():
        ledger.configure(worker, secrets)
    attempts = ScriptedAttempts(ledger, script)

    async def checkout(worker: str, exclude: frozenset[str]) -> KeyLease | None:
        return ledger.checkout(worker, exclude=exclude)

    walker = PlanWalk(
        plan=plan,
        deadline=time.monotonic() + timeout,
        attempts=attempts,  # type: ignore[arg-type]
        checkout=checkout,
        ledger=ledger,
        slots=Slots(),
        policy=RetryPolicy(backoff=0.01, backoff_max=0.05),
        observer=NullObserver(),
        rng=random.Random(0),
    )
    return walker, attempts


def run(coro: Coroutine[Any, Any, Opened]) -> Opened:
    return asyncio.run(asyncio.wait_for(coro, WAIT))


def test_a_timeout_cut_short_by_the_deadline_is_a_504_even_before_the_clock_says_so() -> None:
    walker, _ = walk(
        Plan((candidate("primary", "m"),)), {"primary": [CUT_SHORT]}, keys={"primary": ["k1"]}
    )

    with pytest.raises(DeadlineExceeded) as raised:
        run(walker.next_opened(REQUEST))

    assert [a.worker for a in raised.value.attempts] == ["primary"]
    assert raised.value.status == 504


def test_a_worker_s_own_timeout_with_time_left_is_a_502() -> None:
    walker, _ = walk(
        Plan((candidate("primary", "m"),)), {"primary": [TIMED_OUT]}, keys={"primary": ["k1"]}
    )

    with pytest.raises(AllUpstreamsFailed):
        run(walker.next_opened(REQUEST))

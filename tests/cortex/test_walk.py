"""The plan walk's decisions with scripted attempts: no network, real keys and real time.

The attempts are a stand-in for :class:`cortex.dataplane.attempts.Attempts` that answers each
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
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate, Plan
from cortex.chat import ChatRequest, Message
from cortex.dataplane.attempts import OpenAttempt
from cortex.dataplane.slots import Slots
from cortex.dataplane.walk import PlanWalk, RetryPolicy
from cortex.errors import AllRateLimited, AllUpstreamsFailed, DeadlineExceeded
from cortex.observability.observe import NullObserver

WAIT = 10.0
REQUEST = ChatRequest((Message("user", "hi"),))
SERVER_ERROR = UpstreamFailure(ErrorKind.UPSTREAM_ERROR, "500", status=500)
TIMED_OUT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token within 1.0s")
CUT_SHORT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token within 1.0s", cut_by_deadline=True)


def candidate(worker: str, model: str, *, keyed: bool = True) -> Candidate:
    return Candidate(worker, "openai", "http://upstream", model, 5.0, keyed)


class ScriptedAttempts:
    """Answers each worker's attempts in order from its script; ``None`` opens the answer."""

    def __init__(self, ledger: KeyLedger, script: dict[str, list[UpstreamFailure | None]]) -> None:
        self.ledger = ledger
        self.script = script
        self.calls: list[tuple[str, str | None]] = []

    async def open(
        self, target: Candidate, lease: KeyLease | None, request: ChatRequest, deadline: float
    ) -> OpenAttempt | UpstreamFailure:
        self.calls.append((target.worker, lease.key_id if lease else None))
        outcome = self.script[target.worker].pop(0) if self.script[target.worker] else None
        if outcome is None:
            return OpenAttempt(target, lease, None, None, None, [], 1.0)  # type: ignore[arg-type]
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


def run(coro: Coroutine[Any, Any, OpenAttempt]) -> OpenAttempt:
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


ROUTE = Plan((candidate("primary", "gpt-4o"), candidate("backup", "claude")), routed=True)


def test_a_route_target_that_failed_once_is_tried_again_before_another_model() -> None:
    walker, attempts = walk(
        ROUTE, {"primary": [SERVER_ERROR], "backup": []}, keys={"primary": ["k1"], "backup": ["b"]}
    )

    opened = run(walker.next_opened(REQUEST))

    assert opened.candidate.worker == "primary"
    assert [worker for worker, _ in attempts.calls] == ["primary", "primary"]


def test_interchangeable_workers_of_one_model_fail_over_at_once() -> None:
    twins = Plan((candidate("primary", "gpt-4o"), candidate("twin", "gpt-4o")), routed=True)
    walker, attempts = walk(
        twins, {"primary": [SERVER_ERROR], "twin": []}, keys={"primary": ["k1"], "twin": ["t"]}
    )

    opened = run(walker.next_opened(REQUEST))

    assert opened.candidate.worker == "twin"
    assert [worker for worker, _ in attempts.calls] == ["primary", "twin"]


def test_a_single_key_worker_is_tried_with_its_key_again_on_the_next_pass() -> None:
    walker, attempts = walk(
        Plan((candidate("solo", "m"),)), {"solo": [SERVER_ERROR]}, keys={"solo": ["only-key"]}
    )

    opened = run(walker.next_opened(REQUEST))

    assert opened.candidate.worker == "solo"
    assert [key for _, key in attempts.calls] == [opened.lease.key_id] * 2  # type: ignore[union-attr]


def test_a_worker_with_two_keys_is_tried_with_the_other_key_after_a_failure() -> None:
    walker, attempts = walk(
        Plan((candidate("duo", "m"),)), {"duo": [SERVER_ERROR]}, keys={"duo": ["key-a", "key-b"]}
    )

    run(walker.next_opened(REQUEST))

    first, second = (key for _, key in attempts.calls)
    assert first != second


def test_a_single_key_worker_whose_key_rested_is_used_after_the_rest() -> None:
    short_rest = UpstreamFailure(ErrorKind.RATE_LIMITED, "429", status=429, retry_after=0.05)
    walker, attempts = walk(
        Plan((candidate("solo", "m"),)), {"solo": [short_rest]}, keys={"solo": ["only-key"]}
    )

    opened = run(walker.next_opened(REQUEST))

    assert opened.candidate.worker == "solo"
    assert len(attempts.calls) == 2


def test_when_resting_keys_are_the_only_obstacle_left_the_answer_is_429() -> None:
    long_rest = UpstreamFailure(ErrorKind.RATE_LIMITED, "429", status=429, retry_after=30.0)
    walker, _ = walk(
        Plan((candidate("solo", "m"),)),
        {"solo": [SERVER_ERROR, long_rest]},
        keys={"solo": ["only-key"]},
    )

    with pytest.raises(AllRateLimited) as raised:
        run(walker.next_opened(REQUEST))

    assert 25 <= (raised.value.retry_after or 0) <= 30

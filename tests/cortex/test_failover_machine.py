"""Table-driven tests of the failover state machine (cortex/dataplane/failover.py).

Each row is one request's walk: the outcomes the walk reports, each with the time it
happened, and the decision the machine must answer with. Decisions are written as short
tuples (see :func:`shape`); the jitter is pinned to its upper bound, so the backoff before
pass ``n`` is ``0.1 * 2 ** (n - 1)`` and the backoff before a same-target retry is 0.1.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate, Plan
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
    WaitForSlot,
)
from cortex.dataplane.retry_rules import RetryPolicy
from cortex.errors import AllUpstreamsFailed

DEADLINE = 30.0
SERVER_ERROR = UpstreamFailure(ErrorKind.UPSTREAM_ERROR, "500", status=500)
OVERLOADED = UpstreamFailure(ErrorKind.OVERLOADED, "529", status=529)
TIMED_OUT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token within 1.0s")
CUT_SHORT = UpstreamFailure(ErrorKind.TIMEOUT, "no first token", cut_by_deadline=True)
REJECTED_KEY = UpstreamFailure(ErrorKind.INVALID_KEY, "401", status=401)
QUOTA = UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "quota", status=429)
TOO_LONG = UpstreamFailure(
    ErrorKind.BAD_REQUEST, "context too long", status=400, code="context_length_exceeded"
)
BAD = UpstreamFailure(ErrorKind.BAD_REQUEST, "bad", status=400, code="invalid_request")


def rate_limited(retry_after: float | None = None) -> UpstreamFailure:
    return UpstreamFailure(ErrorKind.RATE_LIMITED, "429", status=429, retry_after=retry_after)


def candidate(
    worker: str, model: str = "m", *, keyed: bool = False, prefill: bool = False
) -> Candidate:
    return Candidate(
        worker, "openai", "http://upstream", model, 5.0, keyed, supports_prefill=prefill
    )


A, B = candidate("a"), candidate("b")
KA, KB = candidate("a", keyed=True), candidate("b", keyed=True)
PREFILL = candidate("p", prefill=True)
GPT, GPT_TWIN, CLAUDE = candidate("a", "gpt-4o"), candidate("b", "gpt-4o"), candidate("c", "claude")
KGPT = candidate("a", "gpt-4o", keyed=True)
BIG = candidate("big", "long-context")


W1 = ("wait", 0.1)


class UpperBound(random.Random):
    """Full jitter pinned to its upper bound, so every wait in the table is exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def shape(decision: Decision) -> tuple[object, ...]:
    """A decision as a short comparable tuple."""
    if isinstance(decision, Try):
        exclude = tuple(sorted(decision.exclude))
        return ("try", decision.candidate.worker, decision.acquire, exclude, decision.avoid)
    if isinstance(decision, Wait):
        return ("wait", round(decision.seconds, 6))
    if isinstance(decision, WaitForSlot):
        return ("slot", round(decision.seconds, 6))
    error = decision.error
    retry_after = getattr(error, "retry_after", None)
    return ("give_up", error.status, None if retry_after is None else round(retry_after, 6))


def fail(failure: UpstreamFailure, key: str | None = None, rest: float | None = None) -> Failed:
    return Failed(failure, key_id=key, masked=key and f"{key}...", rest=rest)


def tried(
    worker: str, *, acquire: bool = True, exclude: tuple[str, ...] = (), avoid: str | None = None
) -> tuple[object, ...]:
    return ("try", worker, acquire, exclude, avoid)


@dataclass(frozen=True)
class Step:
    """One outcome the walk reports at time ``now``, and the decision it must get back."""

    outcome: Outcome
    expect: tuple[object, ...]
    now: float = 0.0


@dataclass(frozen=True)
class Case:
    """One request's walk: its plan, the steps in order, and its deadline."""

    plan: Plan
    steps: list[Step]
    deadline: float = DEADLINE


def walk(plan: Plan, steps: list[Step], *, deadline: float = DEADLINE) -> Failover:
    machine = Failover(plan, deadline=deadline, policy=RetryPolicy(), rng=UpperBound())
    return play(machine, steps)


def play(machine: Failover, steps: list[Step]) -> Failover:
    for number, step in enumerate(steps):
        got = shape(machine.step(step.outcome, step.now))
        assert got == step.expect, f"step {number}: {step.outcome!r}"
    return machine


ROWS: dict[str, Case] = {
    "the first candidate is tried first; a worker's failure moves on to the next": Case(
        Plan((A, B)),
        [Step(Begin(), tried("a")), Step(fail(SERVER_ERROR), tried("b"))],
    ),
    "a rate limit is the key's: the same worker is tried with its next key": Case(
        Plan((KA, B)),
        [
            Step(Begin(), tried("a")),
            Step(
                fail(rate_limited(1.0), "k1", rest=1.0), tried("a", acquire=False, exclude=("k1",))
            ),
            Step(
                fail(rate_limited(1.0), "k2", rest=1.0),
                tried("a", acquire=False, exclude=("k1", "k2")),
            ),
            Step(NoKey(rest=1.0), tried("b")),
        ],
    ),
    "a rejected key or a spent quota is the key's too": Case(
        Plan((KA,)),
        [
            Step(Begin(), tried("a")),
            Step(fail(REJECTED_KEY, "k1"), tried("a", acquire=False, exclude=("k1",))),
            Step(fail(QUOTA, "k2"), tried("a", acquire=False, exclude=("k1", "k2"))),
        ],
    ),
    "a server error is the worker's: its other keys are not tried now": Case(
        Plan((KA, B)),
        [Step(Begin(), tried("a")), Step(fail(SERVER_ERROR, "k1"), tried("b"))],
    ),
    "a transient failure earns another pass after backoff, avoiding the key that failed": Case(
        Plan((KA,)),
        [
            Step(Begin(), tried("a")),
            Step(fail(SERVER_ERROR, "k1"), W1),
            Step(Waited(), tried("a", avoid="k1"), now=0.1),
            Step(fail(OVERLOADED, "k2"), ("wait", 0.2), now=0.2),
            Step(Waited(), tried("a", avoid="k2"), now=0.4),
            Step(fail(SERVER_ERROR, "k1"), ("give_up", 502, None), now=0.5),
        ],
    ),
    "a silent worker is excluded for the rest of the request": Case(
        Plan((A, B)),
        [
            Step(Begin(), tried("a")),
            Step(fail(TIMED_OUT), tried("b")),
            Step(fail(SERVER_ERROR), W1),
            Step(Waited(), tried("b"), now=0.1),
        ],
    ),
    "a worker's own timeout with time left is a 502, not retried": Case(
        Plan((A,)),
        [Step(Begin(), tried("a")), Step(fail(TIMED_OUT), ("give_up", 502, None))],
    ),
    "a timeout cut short by the deadline is a 504 before the clock says so": Case(
        Plan((A, B)),
        [Step(Begin(), tried("a")), Step(fail(CUT_SHORT), ("give_up", 504, None), now=29.99)],
    ),
    "past the deadline the walk ends with 504": Case(
        Plan((A, B)),
        [Step(Begin(), tried("a")), Step(fail(SERVER_ERROR), ("give_up", 504, None), now=30.0)],
    ),
    "a backoff that would end past the deadline ends the walk with 502": Case(
        Plan((A,)),
        [Step(Begin(), tried("a")), Step(fail(SERVER_ERROR), ("give_up", 502, None))],
        deadline=0.05,
    ),
    "a client's bad request is returned as is": Case(
        Plan((A, B)),
        [Step(Begin(), tried("a")), Step(fail(BAD), ("give_up", 400, None))],
    ),
    "a route's fallback for the error code is tried next, once": Case(
        Plan((A, B), fallbacks={"context_length_exceeded": BIG}),
        [
            Step(Begin(), tried("a")),
            Step(fail(TOO_LONG), tried("big")),
            Step(fail(TOO_LONG), ("give_up", 400, None)),
        ],
    ),
    "resting keys with a short rest are waited for, then used again": Case(
        Plan((KA,)),
        [
            Step(Begin(), tried("a")),
            Step(
                fail(rate_limited(1.0), "k1", rest=1.0), tried("a", acquire=False, exclude=("k1",))
            ),
            Step(NoKey(rest=1.0), ("wait", 1.0)),
            Step(Waited(), tried("a", avoid="k1"), now=1.0),
        ],
    ),
    "keys resting longer than the longest key wait end in 429 with the rest": Case(
        Plan((KA,)),
        [
            Step(Begin(), tried("a")),
            Step(
                fail(rate_limited(30.0), "k1", rest=30.0),
                tried("a", acquire=False, exclude=("k1",)),
            ),
            Step(NoKey(rest=29.0), ("give_up", 429, 29.0), now=1.0),
        ],
    ),
    "keys resting past the deadline end in 429, not 504": Case(
        Plan((KA,)),
        [Step(Begin(), tried("a")), Step(NoKey(rest=3.0), ("give_up", 429, 3.0))],
        deadline=2.0,
    ),
    "a 429's Retry-After counts down with the time the walk spent": Case(
        Plan((KA, KB)),
        [
            Step(Begin(), tried("a")),
            Step(NoKey(rest=10.0), tried("b")),
            Step(NoKey(rest=20.0), ("give_up", 429, 7.0), now=3.0),
        ],
    ),
    "only resting keys left is a 429, even after other failures earlier": Case(
        Plan((KA,)),
        [
            Step(Begin(), tried("a")),
            Step(fail(SERVER_ERROR, "k1"), W1),
            Step(Waited(), tried("a", avoid="k1"), now=0.1),
            Step(NoKey(rest=12.0), ("give_up", 429, 12.0), now=0.1),
        ],
    ),
    "rejected keys (a rest without end) are a 502": Case(
        Plan((KA,)),
        [Step(Begin(), tried("a")), Step(NoKey(rest=math.inf), ("give_up", 502, None))],
    ),
    "a worker without any usable key is a 502": Case(
        Plan((KA,)),
        [Step(Begin(), tried("a")), Step(NoKey(rest=None), ("give_up", 502, None))],
    ),
    "a transient failure beside a rest waits the backoff, not the rest": Case(
        Plan((KA, B)),
        [
            Step(Begin(), tried("a")),
            Step(NoKey(rest=2.0), tried("b")),
            Step(fail(SERVER_ERROR), W1),
        ],
    ),
    "a route's target is retried once before a different model": Case(
        Plan((GPT, CLAUDE), routed=True),
        [
            Step(Begin(), tried("a")),
            Step(fail(SERVER_ERROR), W1),
            Step(Waited(), tried("a"), now=0.1),
            Step(fail(SERVER_ERROR), tried("c"), now=0.2),
        ],
    ),
    "a route's target is retried after the Retry-After it named": Case(
        Plan((GPT, CLAUDE), routed=True),
        [
            Step(Begin(), tried("a")),
            Step(
                fail(UpstreamFailure(ErrorKind.OVERLOADED, "529", retry_after=2.0)), ("wait", 2.0)
            ),
        ],
    ),
    "a Retry-After above the longest retry wait moves the route on": Case(
        Plan((GPT, CLAUDE), routed=True),
        [
            Step(Begin(), tried("a")),
            Step(fail(UpstreamFailure(ErrorKind.OVERLOADED, "529", retry_after=9.0)), tried("c")),
        ],
    ),
    "a route's rate-limited target is retried once its key's rest ends": Case(
        Plan((KGPT, CLAUDE), routed=True),
        [
            Step(Begin(), tried("a")),
            Step(
                fail(rate_limited(1.5), "k1", rest=1.5), tried("a", acquire=False, exclude=("k1",))
            ),
            Step(NoKey(rest=1.5), ("wait", 1.5)),
            Step(Waited(), tried("a", avoid="k1"), now=1.5),
        ],
    ),
    "workers serving the same model fail over at once": Case(
        Plan((GPT_TWIN, GPT, CLAUDE), routed=True),
        [Step(Begin(), tried("b")), Step(fail(SERVER_ERROR), tried("a"))],
    ),
    "a saturated worker is skipped, and tried again on the next pass": Case(
        Plan((A, B)),
        [
            Step(Begin(), tried("a")),
            Step(Saturated(), tried("b")),
            Step(fail(SERVER_ERROR), W1),
            Step(Waited(), tried("a"), now=0.1),
        ],
    ),
    "a saturated worker after a tried one waits out the backoff, not for a slot": Case(
        Plan((A, B)),
        [Step(Begin(), tried("a")), Step(fail(SERVER_ERROR), tried("b")), Step(Saturated(), W1)],
    ),
    "when every worker is saturated the walk waits for a slot, up to the deadline": Case(
        Plan((A, B)),
        [
            Step(Begin(), tried("a")),
            Step(Saturated(), tried("b")),
            Step(Saturated(), ("slot", 29.0), now=1.0),
            Step(SlotWaited(freed=True), tried("a"), now=2.0),
        ],
    ),
    "no slot freed before the deadline is a 503": Case(
        Plan((A,)),
        [
            Step(Begin(), tried("a")),
            Step(Saturated(), ("slot", 30.0)),
            Step(SlotWaited(freed=False), ("give_up", 503, None)),
        ],
    ),
    "a full line of waiters is a 503": Case(
        Plan((A,)),
        [
            Step(Begin(), tried("a")),
            Step(Saturated(), ("slot", 30.0)),
            Step(SlotWaited(freed=False, full="line full"), ("give_up", 503, None)),
        ],
    ),
    "a continuation skips workers that cannot take a partial answer": Case(
        Plan((A, PREFILL)),
        [Step(Begin(prefill_only=True), tried("p"))],
    ),
}


@pytest.mark.parametrize("case", ROWS.values(), ids=ROWS.keys())
def test_failover_rule(case: Case) -> None:
    walk(case.plan, case.steps, deadline=case.deadline)


def test_a_worker_that_broke_mid_stream_is_skipped_and_its_failure_is_kept() -> None:
    machine = walk(Plan((A, B)), [Step(Begin(), tried("a"))])
    machine.note_failure("a", None, SERVER_ERROR)
    machine.exclude("a")

    play(machine, [Step(Begin(), tried("b")), Step(fail(TIMED_OUT), ("give_up", 502, None))])

    assert [(a.worker, a.reason) for a in machine.failures] == [
        ("a", "upstream_error"),
        ("b", "timeout"),
    ]


def test_an_answer_that_opened_then_broke_counts_its_pass_as_tried() -> None:
    machine = walk(Plan((A, B)), [Step(Begin(), tried("a")), Step(Saturated(), tried("b"))])
    machine.exclude("b")

    play(machine, [Step(Begin(), W1, now=1.0), Step(Waited(), tried("a"), now=1.1)])


def test_a_give_up_names_every_attempt_with_its_reason() -> None:
    machine = walk(Plan((KA, B)), [Step(Begin(), tried("a"))])
    rejected = fail(REJECTED_KEY, "k1", rest=math.inf)
    play(machine, [Step(rejected, tried("a", acquire=False, exclude=("k1",)))])
    play(machine, [Step(NoKey(rest=math.inf), tried("b"))])

    decision = machine.step(fail(TIMED_OUT), 0.0)

    assert isinstance(decision, GiveUp)
    assert isinstance(decision.error, AllUpstreamsFailed)
    assert [(a.worker, a.key, a.reason) for a in decision.error.attempts] == [
        ("a", "k1...", "invalid_key"),
        ("a", None, "no_usable_key"),
        ("b", None, "timeout"),
    ]

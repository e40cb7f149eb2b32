"""The dispatcher's decisions after the first token, with scripted attempts and no network.

A streaming client's broken answer is continued on a worker that can take a partial
assistant message, or ends with an error event naming the cause; a non-streaming client's
broken answer fails over to the next worker. The attempts stand in for
:class:`cortex.dataplane.attempts.Attempts`: each worker answers from its script, either a
failure before the first token or the events of an opened answer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Coroutine
from typing import Any, TypeVar

import pytest

from actors.board import Board
from actors.keys import KeyLease, KeyLedger
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate, Plan
from cortex.chat import (
    ChatRequest,
    Continued,
    Finished,
    Message,
    StreamEvent,
    StreamFailed,
    TextDelta,
    Usage,
)
from cortex.dataplane.attempts import OpenAttempt
from cortex.dataplane.dispatch import Dispatcher, DispatchSettings
from cortex.dataplane.retry_rules import RetryPolicy
from cortex.errors import AllUpstreamsFailed
from supervisors import Directory, Handle

WAIT = 10.0
REQUEST = ChatRequest((Message("user", "hi"),), model="m")
DROPPED = UpstreamFailure(ErrorKind.CONNECT_ERROR, "a dropped the stream")
T = TypeVar("T")

Script = dict[str, list[UpstreamFailure | list[StreamEvent]]]


def candidate(worker: str, *, prefill: bool = False) -> Candidate:
    return Candidate(worker, "openai", "http://upstream", "m", 5.0, False, supports_prefill=prefill)


def broken(text: str) -> list[StreamEvent]:
    return [TextDelta(text), StreamFailed(DROPPED)]


def whole(text: str, prompt: int = 3) -> list[StreamEvent]:
    return [TextDelta(text), Finished("stop"), Usage(prompt, 1)]


class ScriptedAttempts:
    """Opens and relays each worker's scripted attempts in order, recording every request."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[tuple[str, ChatRequest]] = []
        self._events: dict[int, list[StreamEvent]] = {}

    async def open(
        self, target: Candidate, lease: KeyLease | None, request: ChatRequest, deadline: float
    ) -> OpenAttempt | UpstreamFailure:
        self.requests.append((target.worker, request))
        outcome = self.script[target.worker].pop(0)
        if isinstance(outcome, UpstreamFailure):
            return outcome
        opened = OpenAttempt(target, lease, None, None, None, [], 1.0)  # type: ignore[arg-type]
        self._events[id(opened)] = outcome
        return opened

    async def relay(self, opened: OpenAttempt) -> AsyncGenerator[StreamEvent, None]:
        for event in self._events.pop(id(opened)):
            yield event


class PlanBridge:
    """Answers the pool's planning question with a fixed plan."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    async def ask(self, handle: Handle, message: object, *, timeout: float) -> Plan:
        return self.plan


def dispatcher(plan: Plan, script: Script) -> tuple[Dispatcher, ScriptedAttempts]:
    settings = DispatchSettings(retry=RetryPolicy(backoff=0.01, backoff_max=0.02))
    dispatch = Dispatcher(
        session=None,  # type: ignore[arg-type]
        bridge=PlanBridge(plan),  # type: ignore[arg-type]
        directory=Directory(),
        workers=Directory(),
        board=Board(),
        ledger=KeyLedger(),
        settings=settings,
        rng=random.Random(0),
    )
    attempts = ScriptedAttempts(script)
    dispatch._attempts = attempts  # type: ignore[assignment]
    return dispatch, attempts


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, WAIT))


async def streamed(dispatch: Dispatcher) -> list[StreamEvent]:
    answer = await dispatch.open(REQUEST)
    return [event async for event in answer.events]


def test_a_broken_stream_is_continued_on_a_worker_that_can_take_a_partial_answer() -> None:
    plan = Plan((candidate("a"), candidate("b"), candidate("p", prefill=True)))
    dispatch, attempts = dispatcher(plan, {"a": [broken("Hel")], "p": [whole("lo")]})

    events = run(streamed(dispatch))

    assert events[:3] == [TextDelta("Hel"), Continued("p", "m"), TextDelta("lo")]
    assert Finished("stop") in events
    worker, continuation = attempts.requests[-1]
    assert worker == "p"
    assert continuation.messages[-1] == Message("assistant", "Hel")


def test_a_continued_answer_reports_one_usage_counting_the_prompt_once() -> None:
    plan = Plan((candidate("a"), candidate("p", prefill=True)))
    dispatch, _ = dispatcher(
        plan,
        {
            "a": [[TextDelta("Hel"), Usage(3, 1), StreamFailed(DROPPED)]],
            "p": [whole("lo", prompt=4)],
        },
    )

    events = run(streamed(dispatch))

    usages = [event for event in events if isinstance(event, Usage)]
    assert len(usages) == 1
    assert usages[0].prompt_tokens == 3


def test_a_broken_stream_with_no_worker_to_continue_ends_with_the_error_event() -> None:
    plan = Plan((candidate("a"), candidate("b")))
    dispatch, attempts = dispatcher(plan, {"a": [broken("Hel")], "b": [whole("lo")]})

    events = run(streamed(dispatch))

    assert events == [TextDelta("Hel"), StreamFailed(DROPPED)]
    assert [worker for worker, _ in attempts.requests] == ["a"]


def test_a_route_that_turns_continuation_off_ends_a_broken_stream_with_the_error_event() -> None:
    plan = Plan((candidate("a"), candidate("p", prefill=True)), continuation=False)
    dispatch, attempts = dispatcher(plan, {"a": [broken("Hel")], "p": [whole("lo")]})

    events = run(streamed(dispatch))

    assert events[-1] == StreamFailed(DROPPED)
    assert [worker for worker, _ in attempts.requests] == ["a"]


def test_a_broken_continuation_is_continued_again_with_everything_delivered() -> None:
    plan = Plan((candidate("a"), candidate("p", prefill=True), candidate("q", prefill=True)))
    script: Script = {"a": [broken("A")], "p": [broken("B")], "q": [whole("C")]}
    dispatch, attempts = dispatcher(plan, script)

    events = run(streamed(dispatch))

    texts = [event.text for event in events if isinstance(event, TextDelta)]
    assert texts == ["A", "B", "C"]
    assert attempts.requests[-1][1].messages[-1] == Message("assistant", "AB")


def test_a_non_streaming_request_fails_over_when_its_answer_breaks() -> None:
    plan = Plan((candidate("a"), candidate("b")))
    dispatch, attempts = dispatcher(plan, {"a": [broken("Hel")], "b": [whole("Hello")]})

    completed = run(dispatch.complete(REQUEST))

    assert completed.worker == "b"
    assert [worker for worker, _ in attempts.requests] == ["a", "b"]
    assert attempts.requests[-1][1] == REQUEST


def test_a_non_streaming_answer_without_a_finish_reason_fails_over_too() -> None:
    plan = Plan((candidate("a"), candidate("b")))
    dispatch, _ = dispatcher(plan, {"a": [[TextDelta("Hel")]], "b": [whole("Hello")]})

    completed = run(dispatch.complete(REQUEST))

    assert completed.worker == "b"


def test_a_non_streaming_request_whose_every_answer_breaks_is_a_502() -> None:
    plan = Plan((candidate("a"), candidate("b")))
    dispatch, _ = dispatcher(plan, {"a": [broken("x")], "b": [broken("y")]})

    with pytest.raises(AllUpstreamsFailed) as raised:
        run(dispatch.complete(REQUEST))

    assert [a.worker for a in raised.value.attempts] == ["a", "b"]

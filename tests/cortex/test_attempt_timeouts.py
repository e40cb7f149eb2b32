"""An attempt that times out says whether its limit was the worker's or the request's.

Real attempts (:class:`cortex.dataplane.attempts.Attempts`) against a simulated upstream that
accepts the request and never answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest

from actors.board import Board
from actors.keys import KeyLedger
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate
from cortex.chat import ChatRequest, Message
from cortex.dataplane.attempts import Attempts
from cortex.observability.observe import NullObserver
from cortex.simulated import Fault, SimulatedOpenAI
from supervisors import Directory

KEY = "sk-timeouts-key-00000001"


@pytest.fixture
def hanging() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("hanging", keys=(KEY,), chunk_delay=0.0) as server:
        server.set_fault(Fault.HANG)
        yield server


async def attempt(
    server: SimulatedOpenAI, *, timeout: float, first_token_timeout: float, deadline_in: float
) -> UpstreamFailure:
    ledger = KeyLedger()
    ledger.configure("hanging", [KEY])
    lease = ledger.checkout("hanging")
    candidate = Candidate(
        "hanging",
        "openai",
        server.base_url,
        "gpt-4o-mini",
        timeout,
        needs_key=True,
        first_token_timeout=first_token_timeout,
    )
    async with aiohttp.ClientSession() as session:
        attempts = Attempts(
            session=session,
            workers=Directory(),
            board=Board(),
            ledger=ledger,
            observer=NullObserver(),
            connect_timeout=5.0,
        )
        request = ChatRequest((Message("user", "hi"),))
        result = await attempts.open(candidate, lease, request, time.monotonic() + deadline_in)
    assert isinstance(result, UpstreamFailure)
    return result


@pytest.mark.parametrize(
    ("case", "timeout", "first_token_timeout", "deadline_in", "cut"),
    [
        ("the request's deadline comes first", 30.0, 30.0, 0.2, True),
        ("the worker's first-token limit comes first", 30.0, 0.2, 10.0, False),
        ("the worker's read limit comes first", 0.2, 30.0, 10.0, False),
    ],
)
def test_a_timeout_before_the_first_token_says_whose_limit_ran_out(
    hanging: SimulatedOpenAI,
    case: str,
    timeout: float,
    first_token_timeout: float,
    deadline_in: float,
    cut: bool,
) -> None:
    failure = asyncio.run(
        asyncio.wait_for(
            attempt(
                hanging,
                timeout=timeout,
                first_token_timeout=first_token_timeout,
                deadline_in=deadline_in,
            ),
            10.0,
        )
    )

    assert failure.kind is ErrorKind.TIMEOUT, case
    assert failure.cut_by_deadline is cut, case

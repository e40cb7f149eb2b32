"""What an attempt reports to the key ledger, fault by fault.

Real attempts (:class:`cortex.dataplane.attempts.Attempts`) against a simulated OpenAI
upstream: each row scripts one fault, makes one attempt with the worker's only key, reads
its answer to the end (or leaves early, as a client that went away), and checks what the
ledger counted against the key and whether the key now rests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass

import aiohttp
import pytest

from actors.board import Board
from actors.keys import KeyLedger, KeyView
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.planning import Candidate
from cortex.chat import ChatRequest, Message, StreamEvent, StreamFailed
from cortex.dataplane.attempts import Attempts
from cortex.observability.observe import NullObserver
from cortex.simulated import Fault, SimulatedOpenAI
from supervisors import Directory

KEY = "sk-reports-key-000000001"
WORKER = "reports"
WAIT = 10.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI(WORKER, keys=(KEY,), chunk_delay=0.0) as server:
        yield server


@dataclass(frozen=True)
class Reported:
    """How one attempt ended and what the ledger holds for its key afterwards."""

    ended: ErrorKind | None
    successes: int
    failures: int
    rests: ErrorKind | None


async def attempt(
    server: SimulatedOpenAI, *, leave_early: bool
) -> tuple[ErrorKind | None, KeyView]:
    ledger = KeyLedger()
    ledger.configure(WORKER, [KEY])
    lease = ledger.checkout(WORKER)
    candidate = Candidate(WORKER, "openai", server.base_url, "gpt-4o-mini", 5.0, True)
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
        opened = await attempts.open(candidate, lease, request, time.monotonic() + WAIT)
        if isinstance(opened, UpstreamFailure):
            ended: ErrorKind | None = opened.kind
        else:
            ended = await relayed(attempts.relay(opened), leave_early=leave_early)
    return ended, ledger.snapshot()[WORKER][0]


async def relayed(
    events: AsyncGenerator[StreamEvent, None], *, leave_early: bool
) -> ErrorKind | None:
    """Read a relay to its end (or only its first event); the kind of its failure, if any."""
    last: StreamEvent | None = None
    async with contextlib.aclosing(events) as stream:
        async for event in stream:
            last = event
            if leave_early:
                break
    return last.failure.kind if isinstance(last, StreamFailed) and not leave_early else None


ROWS: dict[str, tuple[Fault, bool, Reported]] = {
    "a whole answer counts a success": (Fault.NONE, False, Reported(None, 1, 0, None)),
    "a rate limit counts a failure and rests the key": (
        Fault.RATE_LIMIT,
        False,
        Reported(ErrorKind.RATE_LIMITED, 0, 1, ErrorKind.RATE_LIMITED),
    ),
    "a spent quota rests the key": (
        Fault.QUOTA,
        False,
        Reported(ErrorKind.QUOTA_EXHAUSTED, 0, 1, ErrorKind.QUOTA_EXHAUSTED),
    ),
    "a rejected key rests the key": (
        Fault.UNAUTHORIZED,
        False,
        Reported(ErrorKind.INVALID_KEY, 0, 1, ErrorKind.INVALID_KEY),
    ),
    "a server error counts a failure but leaves the key usable": (
        Fault.SERVER_ERROR,
        False,
        Reported(ErrorKind.UPSTREAM_ERROR, 0, 1, None),
    ),
    "a client's bad request counts a failure but leaves the key usable": (
        Fault.BAD_REQUEST,
        False,
        Reported(ErrorKind.BAD_REQUEST, 0, 1, None),
    ),
    "a stream dropped after its first token counts a failure, key usable": (
        Fault.DROP_MID_STREAM,
        False,
        Reported(ErrorKind.CONNECT_ERROR, 0, 1, None),
    ),
    "a body that ends without its end signal counts a failure, key usable": (
        Fault.ENDS_EARLY,
        False,
        Reported(ErrorKind.UPSTREAM_ERROR, 0, 1, None),
    ),
    "a client that went away counts nothing against the key": (
        Fault.NONE,
        True,
        Reported(None, 0, 0, None),
    ),
}


@pytest.mark.parametrize(("fault", "leave_early", "expected"), ROWS.values(), ids=ROWS.keys())
def test_what_an_attempt_reports_to_the_key_ledger(
    upstream: SimulatedOpenAI, fault: Fault, leave_early: bool, expected: Reported
) -> None:
    upstream.clear_faults()
    if fault is not Fault.NONE:
        upstream.set_fault(fault, retry_after=30.0)

    ended, key = asyncio.run(asyncio.wait_for(attempt(upstream, leave_early=leave_early), WAIT))

    upstream.clear_faults()
    reported = Reported(ended, key.successes, key.failures, key.block_reason)
    assert reported == expected

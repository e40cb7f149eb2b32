"""How attempt outcomes reach provider actors: steady successes batched, news at once."""

from __future__ import annotations

import asyncio
import itertools

from actors.board import Board
from actors.breaker import Breaker
from actors.messages import AttemptEnded, AttemptsSucceeded
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.workers import HealthStatus, WorkerConfig, WorkerHealth
from cortex.dataplane.success_reports import FLUSH_SECONDS, MAX_BATCH, SuccessReports

TIMEOUT = UpstreamFailure(ErrorKind.TIMEOUT, "no answer")


def reports(health: WorkerHealth | None = None) -> tuple[SuccessReports, list[tuple[str, object]]]:
    board = Board()
    board.put_config(WorkerConfig("w", "openai", "http://127.0.0.1:9", models=("m",)))
    board.publish_health("w", health or WorkerHealth())
    told: list[tuple[str, object]] = []
    ticks = itertools.count(1)
    batches = SuccessReports(board, lambda name, m: told.append((name, m)), lambda: next(ticks))
    return batches, told


async def flushed(told: list[tuple[str, object]], count: int) -> None:
    async with asyncio.timeout(5.0):
        while len(told) < count:
            await asyncio.sleep(FLUSH_SECONDS / 2)


def test_a_steady_workers_successes_arrive_as_one_batch_with_their_times() -> None:
    async def scenario() -> list[tuple[str, object]]:
        batches, told = reports()
        for _ in range(3):
            batches.succeeded("w")
        assert told == []
        await flushed(told, 1)
        return told

    assert asyncio.run(scenario()) == [("w", AttemptsSucceeded((1.0, 2.0, 3.0)))]


def test_a_failure_goes_at_once_after_the_successes_before_it() -> None:
    async def scenario() -> list[tuple[str, object]]:
        batches, told = reports()
        batches.succeeded("w")
        batches.failed("w", TIMEOUT)
        return told

    assert asyncio.run(scenario()) == [
        ("w", AttemptsSucceeded((1.0,))),
        ("w", AttemptEnded(TIMEOUT)),
    ]


def test_a_success_that_is_news_goes_at_once() -> None:
    unsteady = (
        WorkerHealth(status=HealthStatus.DEGRADED),
        WorkerHealth(breaker=Breaker(opened_at=1.0, next_trial_at=2.0)),
        WorkerHealth(breaker=Breaker(consecutive_failures=1)),
    )
    for health in unsteady:

        async def scenario(health: WorkerHealth = health) -> list[tuple[str, object]]:
            batches, told = reports(health)
            batches.succeeded("w")
            return told

        assert asyncio.run(scenario()) == [("w", AttemptEnded(None))], health


def test_a_full_batch_is_told_without_waiting() -> None:
    async def scenario() -> list[tuple[str, object]]:
        batches, told = reports()
        for _ in range(MAX_BATCH):
            batches.succeeded("w")
        return told

    told = asyncio.run(scenario())
    assert len(told) == 1
    message = told[0][1]
    assert isinstance(message, AttemptsSucceeded)
    assert len(message.times) == MAX_BATCH


def test_a_worker_the_board_does_not_know_is_told_at_once() -> None:
    async def scenario() -> list[tuple[str, object]]:
        batches, told = reports()
        batches.succeeded("unknown")
        return told

    assert asyncio.run(scenario()) == [("unknown", AttemptEnded(None))]

"""ready_batches: events ready without waiting come as one batch; waits and closes pass through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Coroutine
from typing import Any, TypeVar

import pytest

from cortex.http.batches import ready_batches

T = TypeVar("T")
WAIT = 5.0


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, WAIT))


async def _source(
    groups: list[list[int]], gate: asyncio.Event | None = None, log: list[str] | None = None
) -> AsyncGenerator[int, None]:
    """Yields each group's items at once, waiting on the loop between groups."""
    try:
        for number, group in enumerate(groups):
            if number:
                if gate is not None:
                    await gate.wait()
                    gate.clear()
                else:
                    await asyncio.sleep(0)
            for item in group:
                yield item
    finally:
        if log is not None:
            log.append("closed")


async def _collect(groups: list[list[int]], limit: int = 256) -> list[tuple[list[int], bool]]:
    out = []
    async with contextlib.aclosing(ready_batches(_source(groups), limit=limit)) as batches:
        async for batch in batches:
            out.append(batch)
    return out


@pytest.mark.parametrize(
    ("groups", "limit", "expected"),
    [
        ([[1, 2, 3]], 256, [([1, 2, 3], True)]),
        ([[1, 2], [3], [4, 5, 6]], 256, [([1, 2], False), ([3], False), ([4, 5, 6], True)]),
        ([[1, 2, 3, 4, 5]], 2, [([1, 2], False), ([3, 4], False), ([5], True)]),
        ([[1, 2]], 2, [([1, 2], False)]),
        ([[1], []], 256, [([1], False)]),
        ([[], [1]], 256, [([1], True)]),
        ([], 256, []),
    ],
)
def test_events_ready_together_come_as_one_batch_marked_when_it_is_the_last(
    groups: list[list[int]], limit: int, expected: list[tuple[list[int], bool]]
) -> None:
    async def scenario() -> None:
        assert await _collect(groups, limit) == expected

    _run(scenario())


def test_a_batch_is_handed_over_before_the_source_waits() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        batches = ready_batches(_source([[1, 2], [3]], gate))
        async with contextlib.aclosing(batches):
            assert await asyncio.wait_for(anext(batches), 5) == ([1, 2], False)
            following = asyncio.ensure_future(anext(batches))
            await asyncio.sleep(0.01)
            assert not following.done()
            gate.set()
            assert await asyncio.wait_for(following, 5) == ([3], True)

    _run(scenario())


def test_closing_while_the_source_waits_runs_its_cleanup() -> None:
    async def scenario() -> None:
        gate, log = asyncio.Event(), []
        source = _source([[1], [2]], gate, log)
        async with (
            contextlib.aclosing(source),
            contextlib.aclosing(ready_batches(source)) as batches,
        ):
            assert await anext(batches) == ([1], False)
        assert log == ["closed"]

    _run(scenario())


def test_cancelling_the_reader_while_the_source_waits_cancels_the_source() -> None:
    async def scenario() -> None:
        gate, log = asyncio.Event(), []

        async def read() -> None:
            source = _source([[1], [2]], gate, log)
            async with contextlib.aclosing(source), contextlib.aclosing(ready_batches(source)) as b:
                async for _ in b:
                    pass

        task = asyncio.ensure_future(read())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        assert log == ["closed"]

    _run(scenario())


def test_an_error_of_the_source_reaches_the_reader() -> None:
    async def scenario() -> None:
        async def failing() -> AsyncGenerator[int, None]:
            yield 1
            await asyncio.sleep(0)
            raise ValueError("broken")

        batches = ready_batches(failing())
        async with contextlib.aclosing(batches):
            assert await anext(batches) == ([1], False)
            with pytest.raises(ValueError, match="broken"):
                await anext(batches)

    _run(scenario())

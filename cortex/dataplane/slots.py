"""Per-worker concurrency slots for workers configured with ``max_concurrent``.

The slots live on the front's event loop, where every attempt starts and ends, so counting
needs no lock and is exact at the moment a worker is chosen (the provider actor's
published in-flight count lags by a mailbox hop, which would let a burst overshoot a small
local box). A request that finds every candidate saturated waits for any slot to free,
up to its deadline; the number of waiting requests is bounded.
"""

from __future__ import annotations

import asyncio


class SlotsExhausted(Exception):
    """Too many requests are already waiting for a free slot."""


class Slots:
    """Counts attempts in flight per worker and lets requests wait for a free one.

    Args:
        max_waiters: most requests that may wait for a slot at once.
    """

    def __init__(self, *, max_waiters: int = 1000) -> None:
        self._busy: dict[str, int] = {}
        self._freed = asyncio.Condition()
        self._waiters = 0
        self._max_waiters = max_waiters

    def try_acquire(self, worker: str, limit: int | None) -> bool:
        """Take a slot of ``worker`` if it has one free (always, without a limit)."""
        busy = self._busy.get(worker, 0)
        if limit is not None and busy >= limit:
            return False
        self._busy[worker] = busy + 1
        return True

    def release(self, worker: str) -> None:
        """Give a slot back and wake the requests waiting for one."""
        busy = self._busy.get(worker, 0) - 1
        if busy > 0:
            self._busy[worker] = busy
        else:
            self._busy.pop(worker, None)
        if self._waiters:
            asyncio.get_running_loop().create_task(self._notify())

    def busy(self, worker: str) -> int:
        """Attempts in flight on ``worker`` through this loop."""
        return self._busy.get(worker, 0)

    async def wait_for_release(self, timeout: float) -> bool:
        """Wait until any slot frees, at most ``timeout`` seconds; False on timeout.

        Raises:
            SlotsExhausted: the waiting line is full.
        """
        if self._waiters >= self._max_waiters:
            raise SlotsExhausted(f"{self._waiters} requests are already waiting for a worker")
        self._waiters += 1
        try:
            async with self._freed:
                await asyncio.wait_for(self._freed.wait(), timeout)
        except TimeoutError:
            return False
        else:
            return True
        finally:
            self._waiters -= 1

    async def _notify(self) -> None:
        async with self._freed:
            self._freed.notify_all()

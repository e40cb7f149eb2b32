"""Successful attempts reach their provider actor in batches while nothing is news.

Every attempt's outcome must reach its worker's provider actor, which owns the breaker
(its error-rate window remembers successes too). Telling each success on its own wakes
the actor's thread once per request, and with the GIL each hand-off costs more than the
bookkeeping it carries. So while a worker is steady (available, breaker closed, no
failure since its last success) its successes are collected on the loop and told as one
:class:`~actors.messages.AttemptsSucceeded` at most every :data:`FLUSH_SECONDS`, or when
:data:`MAX_BATCH` have gathered. A success that is news (the worker is recovering, its
breaker is open or counting failures) and every failure go at once, after whatever was
pending for that worker, so the actor sees outcomes in the order they happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from actors.board import Board
from actors.messages import AttemptEnded, AttemptsSucceeded
from actors.outcomes import UpstreamFailure
from actors.workers import HealthStatus

FLUSH_SECONDS = 0.02
"""How long a steady worker's successes may wait before its actor hears of them."""

MAX_BATCH = 256
"""Most successes one message carries; a fuller batch is told at once."""

Tell = Callable[[str, object], None]


class SuccessReports:
    """Collects steady workers' successes on the loop and tells them in batches.

    Args:
        board: where each worker's published health says whether a success is news.
        tell: reports a message to a worker's actor by name (never blocks).
        clock: the monotonic clock the provider actors' breakers use.
    """

    def __init__(
        self, board: Board, tell: Tell, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._board = board
        self._tell = tell
        self._clock = clock
        self._pending: dict[str, list[float]] = {}
        self._flush_due: asyncio.TimerHandle | None = None

    def succeeded(self, worker: str) -> None:
        """Report a success: batched while ``worker`` is steady, told at once otherwise."""
        if not self._steady(worker):
            self.flush(worker)
            self._tell(worker, AttemptEnded(None))
            return
        times = self._pending.setdefault(worker, [])
        times.append(self._clock())
        if len(times) >= MAX_BATCH:
            self.flush(worker)
        elif self._flush_due is None:
            self._flush_due = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush_all)

    def failed(self, worker: str, failure: UpstreamFailure) -> None:
        """Report a failure at once, after the successes that came before it."""
        self.flush(worker)
        self._tell(worker, AttemptEnded(failure))

    def flush(self, worker: str) -> None:
        """Tell ``worker``'s pending successes now, if it has any."""
        times = self._pending.pop(worker, None)
        if times:
            self._tell(worker, AttemptsSucceeded(tuple(times)))

    def flush_all(self) -> None:
        """Tell every worker's pending successes (the timer's callback)."""
        self._flush_due = None
        for worker in list(self._pending):
            self.flush(worker)

    def _steady(self, worker: str) -> bool:
        health = self._board.health(worker)
        return (
            health is not None
            and health.status is HealthStatus.AVAILABLE
            and health.breaker.opened_at is None
            and health.breaker.consecutive_failures == 0
        )


__all__ = ["FLUSH_SECONDS", "MAX_BATCH", "SuccessReports"]

"""The live dashboard: one page served by Cortex, fed by a Server-Sent Events stream.

``GET /dashboard`` returns a self-contained HTML page (no CDN: its small CSS and canvas
charts are inline). The page opens ``GET /dashboard/events``, which sends the gateway's
state as one ``state`` event per second, and only when it changed: workers with status,
breaker, in-flight, latency and error rate; keys per worker (masked) with usage and block
countdowns (a key rejected for good is blocked with no countdown: until a reload); the
supervision tree with restart counts; per-second request rate, latency and time to first
token over the last minutes; and the recent failovers.

:class:`DashboardHub` keeps the only history the page needs (bounded per-second buckets
and the last failovers); everything else is read from the board, the key ledger and the
admin operator's tree at the moment an event is built.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from actors.board import Board
from actors.keys import KeyLedger
from actors.outcomes import UpstreamFailure
from actors.workers import WorkerView
from cortex.chat import Usage
from cortex.errors import Attempt
from cortex.observability.observe import AnswerOutcome

HISTORY_SECONDS = 300
"""Seconds of per-second history the charts show (five minutes)."""
MAX_FAILOVERS = 20
"""Recent failovers kept for the page."""

Json = dict[str, Any]


@dataclass(slots=True)
class _Second:
    """Totals of one wall-clock second; only touched on the event loop."""

    at: int
    requests: int = 0
    errors: int = 0
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    answers: int = 0


class DashboardHub:
    """Per-second history and recent failovers, plus the snapshot the page renders.

    It is also a :class:`~cortex.observability.observe.DispatchObserver` (failovers, time to first
    token). Every method runs on the front's event loop, so no lock is needed.

    Args:
        board: worker configurations and views.
        ledger: key usage and blocks.
        clock: wall clock (injectable for tests).
    """

    def __init__(
        self, board: Board, ledger: KeyLedger, clock: Callable[[], float] = time.time
    ) -> None:
        self._board = board
        self._ledger = ledger
        self._clock = clock
        self._seconds: deque[_Second] = deque(maxlen=HISTORY_SECONDS)
        self._failovers: deque[Json] = deque(maxlen=MAX_FAILOVERS)

    def _bucket(self) -> _Second:
        now = int(self._clock())
        if not self._seconds or self._seconds[-1].at != now:
            self._seconds.append(_Second(now))
        return self._seconds[-1]

    def request_finished(self, seconds: float, *, ok: bool) -> None:
        """Count one finished chat request into the current second."""
        bucket = self._bucket()
        bucket.requests += 1
        bucket.errors += 0 if ok else 1
        bucket.latency_ms += seconds * 1000.0

    def attempt_started(self, worker: str, earlier: Sequence[Attempt]) -> None:
        """Remember a failover: an attempt on another worker after a failure."""
        if earlier and earlier[-1].worker != worker:
            last = earlier[-1]
            self._failovers.append(
                {"at": self._clock(), "from": last.worker, "to": worker, "reason": last.reason}
            )

    def attempt_ended(self, worker: str, key: str | None, failure: UpstreamFailure | None) -> None:
        """Nothing to keep: errors are counted per request and per worker view."""

    def answer_started(self, worker: str, model: str, ttft_ms: float) -> None:  # noqa: ARG002 - protocol signature
        """Add a time to first token to the current second."""
        bucket = self._bucket()
        bucket.answers += 1
        bucket.ttft_ms += ttft_ms

    def answer_continued(self, worker: str, model: str, ttft_ms: float) -> None:
        """Nothing to keep: the move to the continuing worker was kept as a failover."""

    def answer_finished(
        self, worker: str, model: str, usage: Usage | None, outcome: AnswerOutcome
    ) -> None:
        """Nothing to keep: finished answers are counted by their request."""

    def series(self) -> Json:
        """The last :data:`HISTORY_SECONDS` seconds, oldest first, gaps filled with zeros."""
        now = int(self._clock())
        start = now - HISTORY_SECONDS + 1
        by_second = {b.at: b for b in self._seconds if b.at >= start}
        rate, latency, ttft = [], [], []
        for at in range(start, now + 1):
            bucket = by_second.get(at)
            rate.append(bucket.requests if bucket else 0)
            latency.append(_mean(bucket.latency_ms, bucket.requests) if bucket else None)
            ttft.append(_mean(bucket.ttft_ms, bucket.answers) if bucket else None)
        return {"end": now, "requests": rate, "latency_ms": latency, "ttft_ms": ttft}

    def snapshot(self, tree: Json | None) -> Json:
        """Everything the page shows, as JSON-ready values (masked keys only)."""
        wall, mono = self._clock(), time.monotonic()
        keys = self._ledger.snapshot()
        workers = []
        for view in self._board.views():
            finished = view.successes + view.failures
            workers.append(
                {
                    "name": view.name,
                    "type": view.config.type,
                    "status": view.status.value,
                    "breaker": view.breaker.state(mono).value,
                    "in_flight": view.in_flight,
                    "latency_ms": None if view.latency_ms is None else round(view.latency_ms, 1),
                    "requests": view.requests,
                    "failures": view.failures,
                    "error_rate": round(view.failures / finished, 3) if finished else None,
                    "models": _models(view),
                    "keys": [
                        {
                            "key": k.masked,
                            "requests": k.requests,
                            "successes": k.successes,
                            "failures": k.failures,
                            "blocked": k.blocked_until is not None,
                            "blocked_for": _seconds_left(k.blocked_until, wall),
                            "block_reason": k.block_reason.value if k.block_reason else None,
                        }
                        for k in keys.get(view.name, ())
                    ],
                }
            )
        return {
            "workers": workers,
            "tree": tree,
            "series": self.series(),
            "failovers": list(reversed(self._failovers)),
        }


def _seconds_left(until: float | None, now: float) -> int | None:
    """Whole seconds until a block ends; None when unblocked or blocked until a reload."""
    if until is None or not math.isfinite(until):
        return None
    return max(0, math.ceil(until - now))


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def _models(view: WorkerView) -> list[Json]:
    """The worker's models for the page; an Ollama instance's on disk, those loaded marked."""
    inventory = view.inventory
    if inventory is None:
        return [{"name": model, "loaded": False} for model in view.models]
    loaded = {entry.name for entry in inventory.loaded}
    names = dict.fromkeys([*loaded, *(entry.name for entry in inventory.on_disk)])
    return [{"name": name, "loaded": name in loaded} for name in names]


__all__ = ["HISTORY_SECONDS", "DashboardHub"]

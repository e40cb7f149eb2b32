"""The spend ledger's writer: one row per served request, appended off the hot path.

A request's task puts its row on a bounded queue and moves on; one thread takes rows off
it and writes them in batches, one transaction each. A batch waits at most
:data:`FLUSH_EVERY` seconds after its first row, so a row is on disk (in the WAL file,
which survives the process being killed) well within a second of its request's answer.
When the queue is full, the row is not written: it is counted in :attr:`Ledger.overflow`
and logged, never dropped in silence.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from dataclasses import astuple, dataclass
from pathlib import Path

import structlog

from cortex.tenants.counters import day_of
from cortex.tenants.store import connect

log = structlog.get_logger("cortex.tenants")

FLUSH_EVERY = 0.2
"""Most seconds a row waits in a batch before the batch is written."""
CAPACITY = 10_000
"""Most rows waiting to be written; beyond it rows are counted as overflow."""
BATCH = 500
"""Most rows one transaction writes."""
WRITE_ATTEMPTS = 3
"""Times a batch is tried (the database may be locked by another process for a while)."""


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One served request, as the ledger keeps it.

    Attributes:
        at: when the answer ended (epoch seconds); its UTC day is the row's ``day``.
        key_id: the gateway key record's id.
        request_id: the request's ``X-Request-ID``.
        worker: the worker that answered.
        model: the model that answered.
        tokens_in: prompt tokens, as the upstream reported them.
        tokens_out: completion tokens, as the upstream reported them.
        cost: ``(tokens_in + tokens_out) * price / 1e6``, price from the worker's config.
        outcome: ``completed``, ``failed`` (broke off mid-answer) or ``cancelled``.
    """

    at: float
    key_id: str
    request_id: str
    worker: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    outcome: str


_STOP = object()


class Ledger:
    """The bounded queue of rows and the thread that writes them to ``path``."""

    def __init__(self, path: str | Path, *, capacity: int = CAPACITY) -> None:
        self._path = Path(path)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="spend-ledger", daemon=True)
        self.overflow = 0
        self.written = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def append(self, row: SpendRow) -> bool:
        """Queue a row for writing; never blocks. Returns False (and counts it) when full."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.overflow += 1
            log.warning("spend_ledger_overflow", key_id=row.key_id, overflow=self.overflow)
            return False
        return True

    @property
    def queued(self) -> int:
        """Rows waiting to be written."""
        return self._queue.qsize()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread (waiting at most ``timeout``)."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("spend_ledger_close_timeout", queued=self.queued)
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        conn = connect(self._path)
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._next_batch()
                if batch:
                    self._write(conn, batch)
        finally:
            conn.close()

    def _next_batch(self) -> tuple[list[SpendRow], bool]:
        """The rows of one batch: the first waited for, the rest for up to FLUSH_EVERY."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + FLUSH_EVERY
        while len(batch) < BATCH:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return [r for r in batch if isinstance(r, SpendRow)], True
            batch.append(item)
        return [r for r in batch if isinstance(r, SpendRow)], False

    def _write(self, conn: sqlite3.Connection, batch: list[SpendRow]) -> None:
        rows = [(r.at, day_of(r.at), *astuple(r)[1:]) for r in batch]
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with conn:
                    conn.execute("BEGIN")
                    conn.executemany(
                        "INSERT INTO spend (at, day, key_id, request_id, worker, model,"
                        " tokens_in, tokens_out, cost, outcome) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        rows,
                    )
            except sqlite3.Error as exc:
                log.warning("spend_ledger_write_failed", attempt=attempt, error=str(exc))
                continue
            self.written += len(rows)
            return
        self.overflow += len(rows)
        log.error("spend_ledger_rows_lost", rows=len(rows), overflow=self.overflow)

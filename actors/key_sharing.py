"""A key ledger's side of a fleet: what it tells other instances, and what it takes back.

The ``actors`` layer knows nothing of Redis. :class:`KeyObserver` is told of the changes a
ledger makes on its own (a rest, an operator's unblock); :class:`LedgerSharing`, mixed into
:class:`~actors.keys.KeyLedger`, applies what the fleet learned (a rest or an unblock made
through another instance, the fleet's counts) and hands over what this instance counted.
What it applies never reaches the observer, so nothing echoes around the fleet.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from actors.key_records import KeyState, WorkerKeys
from actors.outcomes import ErrorKind


@dataclass(frozen=True, slots=True)
class KeyRest:
    """A key taken out of rotation: by whom it is known, why, and until when.

    Attributes:
        worker: the worker the key belongs to.
        key_id: the key's stable id.
        reason: the failure kind that rested it.
        until: wall-clock end of the rest; ``math.inf`` for an invalid key (until the
            configuration is reloaded).
    """

    worker: str
    key_id: str
    reason: ErrorKind
    until: float


@dataclass(frozen=True, slots=True)
class KeyCounts:
    """A key's counters: leases handed out, successes and failures reported."""

    requests: int = 0
    successes: int = 0
    failures: int = 0


class KeyObserver(Protocol):
    """Told of the ledger's own changes that the rest of a fleet must learn.

    Called without the ledger's lock held, on whatever thread made the change (the event
    loop for a rest, the key manager for an unblock); an implementation must not block.
    """

    def rested(self, rest: KeyRest) -> None:
        """A key was rested, or its rest lengthened, by an outcome seen here."""

    def unblocked(self, worker: str, key_id: str) -> None:
        """An operator lifted a key's rest here (an unblock, or a reload for an invalid key)."""


class LedgerSharing:
    """The fleet's side of :class:`~actors.keys.KeyLedger`, under the ledger's own lock."""

    _lock: threading.Lock
    _workers: dict[str, WorkerKeys]
    _clock: Callable[[], float]
    _wall_clock: Callable[[], float]

    def apply_remote_rest(self, rest: KeyRest) -> bool:
        """Rest a key as another instance did; never shortens a rest, never tells the observer.

        An invalid key's rest lasts until a reload, whatever ``rest.until`` says.

        Returns:
            Whether the key's rest began or lengthened here (False for unknown keys and
            for rests already over).
        """
        with self._lock:
            state = self._find(rest.worker, rest.key_id)
            if state is None:
                return False
            now, wall = self._clock(), self._wall_clock()
            if rest.reason is ErrorKind.INVALID_KEY:
                until, until_wall = math.inf, math.inf
            else:
                until, until_wall = now + (rest.until - wall), rest.until
            if until <= now or (state.blocked_until is not None and until <= state.blocked_until):
                return False
            state.blocked_until = until
            state.blocked_until_wall = until_wall
            state.block_reason = rest.reason
            return True

    def apply_remote_unblock(self, worker: str, key_id: str) -> bool:
        """Lift a key's rest as an operator did through another instance (no observer call).

        Returns:
            Whether the key was resting here.
        """
        with self._lock:
            state = self._find(worker, key_id)
            if state is None or not state.is_blocked(self._clock()):
                return False
            state.clear_block()
            return True

    def rests(self) -> list[KeyRest]:
        """Every current rest, for a fleet resynchronising after an outage."""
        with self._lock:
            now = self._clock()
            return [
                KeyRest(worker, s.key_id, s.block_reason, s.blocked_until_wall)
                for worker, entry in self._workers.items()
                for s in entry.keys.values()
                if s.is_blocked(now)
                and s.block_reason is not None
                and s.blocked_until_wall is not None
            ]

    def take_unsent(self) -> dict[tuple[str, str], KeyCounts]:
        """The counts made here since the last call, per ``(worker, key_id)``; zeroed after.

        Keys with nothing new are left out.
        """
        taken: dict[tuple[str, str], KeyCounts] = {}
        with self._lock:
            for worker, entry in self._workers.items():
                for s in entry.keys.values():
                    if s.unsent_requests or s.unsent_successes or s.unsent_failures:
                        taken[worker, s.key_id] = KeyCounts(
                            s.unsent_requests, s.unsent_successes, s.unsent_failures
                        )
                        s.unsent_requests = s.unsent_successes = s.unsent_failures = 0
        return taken

    def merge_fleet_counts(self, totals: dict[tuple[str, str], KeyCounts]) -> None:
        """Show the fleet's counts: each key's total plus what it counted since it was taken.

        See :func:`merged_count` for the rule. Keys the fleet has no total for keep theirs.
        """
        with self._lock:
            for (worker, kid), total in totals.items():
                state = self._find(worker, kid)
                if state is None:
                    continue
                state.requests = merged_count(state.requests, total.requests, state.unsent_requests)
                state.successes = merged_count(
                    state.successes, total.successes, state.unsent_successes
                )
                state.failures = merged_count(state.failures, total.failures, state.unsent_failures)

    def _find(self, worker: str, kid: str) -> KeyState | None:
        entry = self._workers.get(worker)
        return None if entry is None else entry.keys.get(kid)


def merged_count(local: int, fleet: int, unsent: int) -> int:
    """A key's count once the fleet's total is known: the total plus what is not in it yet.

    ``fleet`` includes everything this instance handed over; ``unsent`` is what it counted
    since. Counts only grow, so a fleet total that went backwards (a Redis that restarted
    empty) never lowers the local count; the resync puts the known totals back.
    """
    return max(local, fleet + unsent)

"""The key ledger's records: a key's id, its lease, its published view and its state.

Kept apart from :mod:`actors.keys` (the ledger and its rules) so each reads on its own.
Only the ledger touches a :class:`KeyState`, under its lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from actors.outcomes import ErrorKind


def key_id(secret: str) -> str:
    """Return a stable, non-secret identifier for a key, safe in URLs and logs.

    The same secret always gets the same id, across restarts and processes.
    """
    return "k" + hashlib.sha256(secret.encode()).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class KeyLease:
    """A key handed out for one upstream attempt. ``secret`` never appears in its repr."""

    worker: str
    key_id: str
    masked: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key's published state, safe to show: no secret, only its masked form.

    Attributes:
        key_id: the key's stable id (see :func:`key_id`).
        masked: the key as :func:`mask_key` shows it.
        requests: leases handed out.
        successes: attempts reported successful.
        failures: attempts reported failed, whatever the kind.
        last_used: wall-clock time of the last lease, if any.
        blocked_until: wall-clock time the current block ends, if blocked.
        block_reason: the failure kind that caused the current block, if blocked.
    """

    key_id: str
    masked: str
    requests: int = 0
    successes: int = 0
    failures: int = 0
    last_used: float | None = None
    blocked_until: float | None = None
    block_reason: ErrorKind | None = None


@dataclass(slots=True)
class KeyState:
    """One key's mutable record; only touched with the ledger's lock held."""

    secret: str = field(repr=False)
    key_id: str
    masked: str
    requests: int = 0
    successes: int = 0
    failures: int = 0
    last_used: float | None = None
    # Monotonic deadline drives expiry; the wall-clock twin is only for display.
    blocked_until: float | None = None
    blocked_until_wall: float | None = None
    block_reason: ErrorKind | None = None
    # Counts not yet handed to the fleet (see KeyLedger.take_unsent).
    unsent_requests: int = 0
    unsent_successes: int = 0
    unsent_failures: int = 0

    def is_blocked(self, now: float) -> bool:
        return self.blocked_until is not None and self.blocked_until > now

    def clear_block(self) -> None:
        self.blocked_until = None
        self.blocked_until_wall = None
        self.block_reason = None

    def view(self, now: float) -> KeyView:
        blocked = self.is_blocked(now)
        return KeyView(
            key_id=self.key_id,
            masked=self.masked,
            requests=self.requests,
            successes=self.successes,
            failures=self.failures,
            last_used=self.last_used,
            blocked_until=self.blocked_until_wall if blocked else None,
            block_reason=self.block_reason if blocked else None,
        )


@dataclass(slots=True)
class WorkerKeys:
    """A worker's keys in configured order, plus the round-robin position."""

    keys: dict[str, KeyState] = field(default_factory=dict)
    last_leased: str | None = None

"""API-key state per worker: rotation, usage counters, temporary blocks and masking.

:class:`KeyLedger` is the table the ``KeyManager`` actor owns. It lives outside the actor,
the way OTP keeps an ETS table with an heir, so that key blocks and counters survive a
crash of the actor: the restarted incarnation is handed the same ledger. The actor
configures it and releases expired blocks; the data plane leases keys and reports their
outcomes on it directly (see :mod:`actors.key_manager`); the HTTP status endpoints read
:meth:`KeyLedger.snapshot`. All of that happens on different threads, so every method
takes the ledger's lock and the rules (rotation, blocks) live here, in one place.

Secrets leave the ledger only inside a :class:`KeyLease` (whose repr hides them); every
other output names a key by its :func:`key_id` and shows it through :func:`mask_key`. The
ledger tells its :class:`~actors.redaction.Redactor` every key it is given before the key
can be leased, so an upstream that echoes a key never gets it past the redactor.
Memory is bounded by the configured keys: counters are integers, no history is kept.

A fleet shares this table through a :class:`KeyObserver` (the ``actors`` layer knows
nothing of Redis): the ledger tells it every rest it takes and every unblock an operator
makes, and counts what it has not yet handed over (:meth:`KeyLedger.take_unsent`); what
the fleet learns comes back through :meth:`KeyLedger.apply_remote_rest`,
:meth:`KeyLedger.apply_remote_unblock` and :meth:`KeyLedger.merge_fleet_counts`, which
never call the observer, so nothing echoes around the fleet.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from actors.outcomes import ErrorKind, UpstreamFailure
from actors.redaction import Redactor, mask_key


class RotationStrategy(StrEnum):
    """How :meth:`KeyLedger.checkout` picks among a worker's usable keys."""

    ROUND_ROBIN = "round_robin"
    LEAST_USED = "least_used"
    RANDOM = "random"


def key_id(secret: str) -> str:
    """Return a stable, non-secret identifier for a key, safe in URLs and logs.

    The same secret always gets the same id, across restarts and processes.
    """
    return "k" + hashlib.sha256(secret.encode()).hexdigest()[:10]


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
class _KeyState:
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
class _WorkerKeys:
    """A worker's keys in configured order, plus the round-robin position."""

    keys: dict[str, _KeyState] = field(default_factory=dict)
    last_leased: str | None = None


class KeyLedger:
    """Thread-safe key table: one writer (the KeyManager actor), any number of readers.

    Args:
        strategy: how to pick among usable keys.
        default_block_seconds: how long a key stays blocked when the provider gave no
            ``Retry-After``.
        quota_block_seconds: how long a key whose quota is exhausted stays blocked (or the
            provider's ``Retry-After`` when longer).
        max_block_seconds: the longest any timed block lasts, whatever the provider asked
            (``CORTEX_MAX_KEY_REST``): a ``Retry-After`` of a year would otherwise take the
            key out for a year. A key still limited then is simply blocked again.
        clock: monotonic clock that drives block expiry (injectable for tests).
        wall_clock: wall clock for ``last_used`` and ``blocked_until`` in views.
        rng: random source for :attr:`RotationStrategy.RANDOM`; a fresh one if omitted.
        redactor: told every worker's keys as they change; a fresh one if omitted.
    """

    def __init__(
        self,
        *,
        strategy: RotationStrategy = RotationStrategy.ROUND_ROBIN,
        default_block_seconds: float = 900.0,
        quota_block_seconds: float = 3600.0,
        max_block_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._strategy = strategy
        self._default_block = default_block_seconds
        self._quota_block = quota_block_seconds
        self._max_block = max_block_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng if rng is not None else random.Random()
        self._workers: dict[str, _WorkerKeys] = {}
        self._lock = threading.Lock()
        self._observer: KeyObserver | None = None
        self.redactor = redactor if redactor is not None else Redactor()

    def __repr__(self) -> str:
        return f"KeyLedger(strategy={self._strategy.value!r}, workers={sorted(self._workers)!r})"

    @property
    def strategy(self) -> RotationStrategy:
        """The rotation strategy in force."""
        return self._strategy

    def observe(self, observer: KeyObserver | None) -> None:
        """Tell ``observer`` of every rest and unblock made here from now on (None: nobody)."""
        with self._lock:
            self._observer = observer

    def set_strategy(self, strategy: RotationStrategy) -> None:
        """Switch rotation strategy; counters, blocks and positions are kept."""
        with self._lock:
            self._strategy = strategy

    def configure(self, worker: str, secrets: Sequence[str]) -> None:
        """Set or replace a worker's keys.

        Keys that stay keep their counters and blocks, except that a key marked invalid
        gets another chance (reloading configuration is how an operator says the key was
        fixed); new keys start fresh; keys no
        longer listed are forgotten. Blank entries and duplicates are dropped, the first
        occurrence giving the key its place in the rotation. Surrounding whitespace is
        stripped, since it is never part of a real key.
        """
        self.redactor.use(_owner(worker), secrets)
        fixed: list[str] = []
        with self._lock:
            old = self._workers.get(worker, _WorkerKeys())
            keys: dict[str, _KeyState] = {}
            for raw in secrets:
                secret = raw.strip()
                if not secret:
                    continue
                kid = key_id(secret)
                if kid not in keys:
                    keys[kid] = old.keys.get(kid) or _KeyState(
                        secret=secret, key_id=kid, masked=mask_key(secret)
                    )
                    if keys[kid].block_reason is ErrorKind.INVALID_KEY:
                        # A reload is the operator saying the key was fixed upstream.
                        keys[kid].clear_block()
                        fixed.append(kid)
            self._workers[worker] = _WorkerKeys(keys=keys, last_leased=old.last_leased)
            observer = self._observer
        if observer is not None:
            for kid in fixed:
                observer.unblocked(worker, kid)

    def remove_worker(self, worker: str) -> None:
        """Forget a worker and all its keys; unknown workers are ignored.

        The keys stay redacted (see :mod:`actors.redaction`): answers in flight may carry them.
        """
        with self._lock:
            self._workers.pop(worker, None)
        self.redactor.use(_owner(worker), ())

    def checkout(self, worker: str, *, exclude: Collection[str] = ()) -> KeyLease | None:
        """Lease the next usable key of a worker and count it as a request.

        A key whose block has passed is unblocked here, so it is usable again without
        waiting for :meth:`unblock_expired`.

        Args:
            worker: the worker's name.
            exclude: key ids not to hand out (keys already tried for this request).

        Returns:
            The lease, or None when the worker is unknown, has no keys, or every key is
            blocked or excluded.
        """
        with self._lock:
            entry = self._workers.get(worker)
            if entry is None:
                return None
            now = self._clock()
            usable: list[_KeyState] = []
            for state in entry.keys.values():
                if state.blocked_until is not None and not state.is_blocked(now):
                    state.clear_block()
                if not state.is_blocked(now) and state.key_id not in exclude:
                    usable.append(state)
            if not usable:
                return None
            chosen = self._pick(entry, usable)
            chosen.requests += 1
            chosen.unsent_requests += 1
            chosen.last_used = self._wall_clock()
            entry.last_leased = chosen.key_id
            return KeyLease(worker, chosen.key_id, chosen.masked, chosen.secret)

    def _pick(self, entry: _WorkerKeys, usable: list[_KeyState]) -> _KeyState:
        """Choose among usable keys (non-empty, in configured order) by strategy."""
        if self._strategy is RotationStrategy.RANDOM:
            return self._rng.choice(usable)
        if self._strategy is RotationStrategy.LEAST_USED:
            # min() keeps the first of equals, so ties go to configured order.
            return min(usable, key=lambda s: s.requests)
        order = list(entry.keys)
        start = order.index(entry.last_leased) + 1 if entry.last_leased in entry.keys else 0
        rank = {kid: (i - start) % len(order) for i, kid in enumerate(order)}
        return min(usable, key=lambda s: rank[s.key_id])

    def report_success(self, worker: str, key_id: str) -> None:
        """Count a successful attempt; reports about unknown keys are ignored."""
        with self._lock:
            state = self._find(worker, key_id)
            if state is not None:
                state.successes += 1
                state.unsent_successes += 1

    def report_failure(self, worker: str, key_id: str, failure: UpstreamFailure) -> None:
        """Count a failed attempt and block the key if the failure is the key's fault.

        A rate limit blocks the key for the provider's ``retry_after`` when it gave one,
        else for the default block time; an exhausted quota for the longer quota block
        (or ``retry_after`` when longer); each of these for at most the longest block.
        An invalid key is blocked until the configuration is reloaded (:meth:`configure`),
        since waiting will not fix it. A block
        is never shortened by a later report (late answers to earlier requests arrive
        out of order). Reports about unknown keys are ignored.
        """
        with self._lock:
            state = self._find(worker, key_id)
            if state is None:
                return
            state.failures += 1
            state.unsent_failures += 1
            if not failure.blocks_key:
                return
            seconds = self._block_seconds(failure)
            until = self._clock() + seconds
            if state.blocked_until is not None and until < state.blocked_until:
                return
            state.blocked_until = until
            state.blocked_until_wall = self._wall_clock() + seconds
            state.block_reason = failure.kind
            observer = self._observer
            rest = KeyRest(worker, key_id, failure.kind, state.blocked_until_wall)
        if observer is not None:
            observer.rested(rest)

    def _block_seconds(self, failure: UpstreamFailure) -> float:
        if failure.kind is ErrorKind.INVALID_KEY:
            return math.inf
        if failure.kind is ErrorKind.QUOTA_EXHAUSTED:
            seconds = max(self._quota_block, failure.retry_after or 0.0)
        else:
            seconds = self._default_block if failure.retry_after is None else failure.retry_after
        return min(seconds, self._max_block)

    def unblock(self, worker: str, key_id: str) -> bool:
        """Lift a key's block at once (admin action).

        Returns:
            Whether the key was blocked; False also for unknown keys.
        """
        with self._lock:
            state = self._find(worker, key_id)
            if state is None or not state.is_blocked(self._clock()):
                return False
            state.clear_block()
            observer = self._observer
        if observer is not None:
            observer.unblocked(worker, key_id)
        return True

    # -- the fleet's side: what other instances saw, merged here without echo ----------

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

    def unblock_expired(self) -> list[tuple[str, str]]:
        """Clear every block whose time has passed (the periodic sweep).

        Returns:
            ``(worker, key_id)`` of each key unblocked by this call, in configured order.
            Blocks already cleared lazily by :meth:`checkout` are not listed again.
        """
        with self._lock:
            now = self._clock()
            freed: list[tuple[str, str]] = []
            for worker, entry in self._workers.items():
                for state in entry.keys.values():
                    if state.blocked_until is not None and not state.is_blocked(now):
                        state.clear_block()
                        freed.append((worker, state.key_id))
            return freed

    def next_unblock_in(self, worker: str) -> float | None:
        """Seconds until the worker's earliest-ending block ends, for ``Retry-After``.

        Returns:
            None when the worker is unknown or none of its keys is blocked.
        """
        with self._lock:
            entry = self._workers.get(worker)
            if entry is None:
                return None
            now = self._clock()
            ends = [
                s.blocked_until
                for s in entry.keys.values()
                if s.blocked_until is not None and s.is_blocked(now)
            ]
            return min(ends) - now if ends else None

    def available(self, worker: str) -> int:
        """Number of the worker's keys not blocked right now (0 for unknown workers)."""
        with self._lock:
            entry = self._workers.get(worker)
            if entry is None:
                return 0
            now = self._clock()
            return sum(not s.is_blocked(now) for s in entry.keys.values())

    def probe_key(self, worker: str) -> str | None:
        """A usable key's secret for a health probe, without counting it as a request.

        Probes are not client traffic, so they must not skew usage or rotation.
        """
        with self._lock:
            entry = self._workers.get(worker)
            if entry is None:
                return None
            now = self._clock()
            return next((s.secret for s in entry.keys.values() if not s.is_blocked(now)), None)

    def snapshot(self) -> dict[str, tuple[KeyView, ...]]:
        """Every worker's keys as immutable, masked views, in configured order.

        Expired blocks show as unblocked even before a sweep clears them.
        """
        with self._lock:
            now = self._clock()
            return {
                worker: tuple(s.view(now) for s in entry.keys.values())
                for worker, entry in self._workers.items()
            }

    def _find(self, worker: str, kid: str) -> _KeyState | None:
        entry = self._workers.get(worker)
        return None if entry is None else entry.keys.get(kid)


def merged_count(local: int, fleet: int, unsent: int) -> int:
    """A key's count once the fleet's total is known: the total plus what is not in it yet.

    ``fleet`` includes everything this instance handed over; ``unsent`` is what it counted
    since. Counts only grow, so a fleet total that went backwards (a Redis that restarted
    empty) never lowers the local count; the resync puts the known totals back.
    """
    return max(local, fleet + unsent)


def _owner(worker: str) -> str:
    """The redactor's name for a worker's keys."""
    return f"worker:{worker}"

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

A fleet shares this table (:mod:`actors.key_sharing`): the ledger tells its
:class:`KeyObserver` every rest it takes and every unblock an operator makes, and counts
what it has not yet handed over; what the fleet learns comes back through the methods of
:class:`~actors.key_sharing.LedgerSharing`, which never call the observer.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Collection, Sequence
from enum import StrEnum

from actors.key_records import KeyLease, KeyState, KeyView, WorkerKeys, key_id
from actors.key_sharing import KeyCounts, KeyObserver, KeyRest, LedgerSharing, merged_count
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.redaction import Redactor, mask_key


class RotationStrategy(StrEnum):
    """How :meth:`KeyLedger.checkout` picks among a worker's usable keys."""

    ROUND_ROBIN = "round_robin"
    LEAST_USED = "least_used"
    RANDOM = "random"


class KeyLedger(LedgerSharing):
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
        self._workers: dict[str, WorkerKeys] = {}
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
            old = self._workers.get(worker, WorkerKeys())
            keys: dict[str, KeyState] = {}
            for raw in secrets:
                secret = raw.strip()
                if not secret:
                    continue
                kid = key_id(secret)
                if kid not in keys:
                    keys[kid] = old.keys.get(kid) or KeyState(
                        secret=secret, key_id=kid, masked=mask_key(secret)
                    )
                    if keys[kid].block_reason is ErrorKind.INVALID_KEY:
                        # A reload is the operator saying the key was fixed upstream.
                        keys[kid].clear_block()
                        fixed.append(kid)
            self._workers[worker] = WorkerKeys(keys=keys, last_leased=old.last_leased)
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
            usable: list[KeyState] = []
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

    def _pick(self, entry: WorkerKeys, usable: list[KeyState]) -> KeyState:
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


def _owner(worker: str) -> str:
    """The redactor's name for a worker's keys."""
    return f"worker:{worker}"


__all__ = [
    "KeyCounts",
    "KeyLease",
    "KeyLedger",
    "KeyObserver",
    "KeyRest",
    "KeyView",
    "RotationStrategy",
    "key_id",
    "mask_key",
    "merged_count",
]

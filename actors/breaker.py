"""A circuit breaker per worker: stop sending traffic to an upstream that keeps failing.

Pure and immutable: the provider actor owns one :class:`Breaker` value, replaces it on
every attempt outcome, and publishes it in the worker's view; the pool reads it to decide
whether the worker may be tried.

    closed ──(N consecutive failures, or error rate over the window)──▶ open
    open ──(cool-down passed: one trial request allowed)──▶ half-open
    half-open ──success──▶ closed          half-open ──failure──▶ open (new cool-down)

Only failures that say something about the worker count (connect errors, timeouts, 5xx,
overload, empty or broken streams). A client's bad request or a resting key does not.
Half-open is not stored: a breaker is half-open when it is open and its cool-down has
passed, so no timer is needed to move it there.

In a fleet the breaker is shared (:mod:`actors.fleet_breakers`): an open breaker is
*gated*, and stays open past its cool-down until this instance is granted the fleet's one
trial; one opened by another instance is applied here with that instance's id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

WINDOW_LIMIT = 200
"""Most outcomes remembered for the error-rate window (bounds memory per worker)."""


class BreakerState(StrEnum):
    """What the router may do with the worker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a breaker opens and how long it stays open.

    Attributes:
        failure_threshold: consecutive failures that open the breaker.
        error_rate: failure ratio over ``window`` seconds that opens it (0 to 1).
        min_requests: outcomes needed in the window before the rate is judged.
        window: seconds of history for the error rate.
        cooldown: seconds the breaker stays open before a trial request.
    """

    failure_threshold: int = 5
    error_rate: float = 0.5
    min_requests: int = 20
    window: float = 30.0
    cooldown: float = 10.0


@dataclass(frozen=True, slots=True)
class Breaker:
    """One worker's breaker. Times are monotonic seconds.

    Attributes:
        opened_at: when the breaker last opened (identifies the open period), or None.
        next_trial_at: when a trial request may go through, while open.
        consecutive_failures: failures since the last success.
        outcomes: recent ``(time, succeeded)`` pairs, oldest first.
        gated: the trial waits for the fleet's grant, even after the cool-down.
        opened_by: the instance of the fleet that opened it, when not this one.
    """

    opened_at: float | None = None
    next_trial_at: float | None = None
    consecutive_failures: int = 0
    outcomes: tuple[tuple[float, bool], ...] = ()
    gated: bool = False
    opened_by: str | None = None

    def state(self, now: float) -> BreakerState:
        """The state at ``now``: open, half-open once the cool-down passed, or closed."""
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.next_trial_at is not None and now >= self.next_trial_at and not self.gated:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def succeeded(self, now: float, settings: BreakerSettings) -> Breaker:
        """Record a success: it closes an open or half-open breaker."""
        return Breaker(outcomes=self._remember(now, ok=True, settings=settings))

    def succeeded_at(self, times: tuple[float, ...], settings: BreakerSettings) -> Breaker:
        """Record several successes at once (``times`` oldest first), in one pass."""
        if not times:
            return self
        kept = [o for o in self.outcomes if o[0] >= times[-1] - settings.window]
        kept.extend((at, True) for at in times if at >= times[-1] - settings.window)
        return Breaker(outcomes=tuple(kept[-WINDOW_LIMIT:]))

    def failed(self, now: float, settings: BreakerSettings) -> Breaker:
        """Record a worker-side failure; open (or re-open) the breaker when warranted."""
        outcomes = self._remember(now, ok=False, settings=settings)
        failures = self.consecutive_failures + 1
        if self.opened_at is not None or self._should_open(failures, outcomes, settings):
            return Breaker(now, now + settings.cooldown, failures, outcomes)
        return replace(self, consecutive_failures=failures, outcomes=outcomes)

    def allow_trial_now(self, now: float) -> Breaker:
        """Let the next request through as a trial (a health probe just succeeded)."""
        if self.opened_at is None:
            return self
        return replace(self, next_trial_at=min(self.next_trial_at or now, now))

    def gate(self) -> Breaker:
        """Hold the trial until :meth:`granted`: the fleet chooses the instance that tries."""
        return replace(self, gated=True)

    def granted(self, now: float) -> Breaker:
        """This instance holds the fleet's trial: let the next request through as it."""
        if self.opened_at is None:
            return self
        return replace(self, gated=False, next_trial_at=min(self.next_trial_at or now, now))

    def opened_elsewhere(self, now: float, cooldown_left: float, by: str) -> Breaker:
        """Open as another instance of the fleet did, until its cool-down passes (gated)."""
        return replace(
            self, opened_at=now, next_trial_at=now + cooldown_left, gated=True, opened_by=by
        )

    def closed_elsewhere(self) -> Breaker:
        """Close as another instance's trial did; this instance's outcomes are kept."""
        return Breaker(outcomes=self.outcomes)

    def error_rate(self, now: float, settings: BreakerSettings) -> float | None:
        """Failure ratio over the window, or None with too few outcomes to judge."""
        recent = [ok for at, ok in self.outcomes if at >= now - settings.window]
        if len(recent) < settings.min_requests:
            return None
        return recent.count(False) / len(recent)

    def _remember(
        self, now: float, *, ok: bool, settings: BreakerSettings
    ) -> tuple[tuple[float, bool], ...]:
        kept = [o for o in self.outcomes if o[0] >= now - settings.window]
        kept.append((now, ok))
        return tuple(kept[-WINDOW_LIMIT:])

    @staticmethod
    def _should_open(
        failures: int, outcomes: tuple[tuple[float, bool], ...], settings: BreakerSettings
    ) -> bool:
        if failures >= settings.failure_threshold:
            return True
        if len(outcomes) < settings.min_requests:
            return False
        return [ok for _, ok in outcomes].count(False) / len(outcomes) >= settings.error_rate

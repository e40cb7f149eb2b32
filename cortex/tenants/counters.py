"""Rate, token and budget counters per gateway key: admit (check and reserve), then settle.

:class:`Counters` is the interface the gate uses; :class:`LocalCounters` keeps the counts
in this process, under one lock, so a check and its reservation are one atomic step. A
shared implementation (Redis, for a fleet) implements the same two calls atomically on
the server (:class:`~cortex.tenants.fleet_counters.FleetCounters`); nothing outside this
interface assumes the counts are local. :meth:`Counters.admit` is a coroutine, since a
shared implementation asks the network; :meth:`Counters.settle` never waits (a shared one
sends its update in a task of its own), so a request's end never blocks on it.

Windows:

* requests and tokens per minute: a sliding window of the last 60 seconds;
* spend per day and per month: the UTC calendar day and month of the clock.

A request reserves its expected tokens when admitted and settles them to the real count
when it ends, so tokens per minute can overshoot by at most the difference on the
requests in flight; the last request admitted may be larger than what was left (a request
bigger than the whole limit runs alone in an empty window, instead of never), so one
request's tokens is the bound. Spend is known only when a request ends, so a budget stops
the requests after the one that spent it.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from cortex.tenants.records import Limits

WINDOW = 60.0
"""Seconds of the requests and tokens per minute windows."""


class Refusal(StrEnum):
    """Why a request was not admitted."""

    REQUESTS = "requests"
    TOKENS = "tokens"
    BUDGET_DAILY = "budget_daily"
    BUDGET_MONTHLY = "budget_monthly"


@dataclass(frozen=True, slots=True)
class Standing:
    """A key's counts at admission, for the ``x-ratelimit-*`` headers (None: no limit).

    Attributes:
        remaining_requests / remaining_tokens: what is left in the minute's window.
        reset_requests / reset_tokens: seconds until the window has room again.
    """

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float = 0.0
    reset_tokens: float = 0.0


@dataclass(slots=True)
class Ticket:
    """An admitted request's reservation, settled once with :meth:`Counters.settle`."""

    key_id: str
    reserved: int
    entry: list[float] = field(default_factory=list)
    settled: bool = False
    shared: str | None = None
    """The reservation's id in the fleet's shared store; None: counted in this process."""
    owed: bool = False
    """Counted here in place of the shared store (it was unreachable): its spend is owed."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :meth:`Counters.admit` decided: a ticket, or why not and when to come back."""

    standing: Standing
    ticket: Ticket | None = None
    refusal: Refusal | None = None
    retry_after: float = 0.0


class Counters(Protocol):
    """Per-key counters; each call is atomic with respect to every other call."""

    async def admit(self, key_id: str, limits: Limits, tokens: int) -> Verdict:
        """Check every limit and, if all allow, reserve one request and ``tokens`` tokens."""

    def settle(self, ticket: Ticket, tokens: int, cost: float) -> None:
        """Replace the ticket's reservation with the tokens used, and add its cost."""

    def seed_spend(self, daily: Mapping[str, float], monthly: Mapping[str, float]) -> None:
        """Start today's and this month's spend from the ledger (at start-up)."""


def day_of(moment: float) -> str:
    """The UTC calendar day of ``moment`` (``2026-01-31``)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


def seconds_to_next(moment: float, *, month: bool) -> float:
    """Seconds from ``moment`` to the next UTC midnight, or the next month's first."""
    now = datetime.fromtimestamp(moment, UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if month:
        year, next_month = divmod(now.month, 12)
        start = start.replace(year=now.year + year, month=next_month + 1, day=1)
    else:
        start += timedelta(days=1)
    return max(0.0, start.timestamp() - moment)


@dataclass(slots=True)
class _KeyCounts:
    """One key's windows: admission times, token entries ``[time, tokens]``, spend."""

    requests: deque[float] = field(default_factory=deque)
    tokens: deque[list[float]] = field(default_factory=deque)
    token_total: float = 0.0
    day: str = ""
    day_spend: float = 0.0
    month: str = ""
    month_spend: float = 0.0
    day_ends: float = -math.inf

    def expire(self, now: float) -> None:
        """Drop what left the minute's window; a dropped entry no longer counts."""
        while self.requests and self.requests[0] <= now - WINDOW:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - WINDOW:
            entry = self.tokens.popleft()
            self.token_total -= entry[1]
            entry[0] = -math.inf  # settled later: outside the window, not counted again

    def roll(self, now: float) -> None:
        """Start a new day's or month's spend when the calendar moved on."""
        if self.day_ends > now:  # the calendar is read once a day, not on every request
            return
        self.day_ends = now + seconds_to_next(now, month=False)
        day = day_of(now)
        if day != self.day:
            self.day, self.day_spend = day, 0.0
        if day[:7] != self.month:
            self.month, self.month_spend = day[:7], 0.0


class LocalCounters:
    """:class:`Counters` for one process: every call holds one lock, so it is atomic.

    Args:
        clock: wall-clock seconds (epoch); the calendar windows follow it.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyCounts] = {}

    def _counts(self, key_id: str, now: float) -> _KeyCounts:
        counts = self._keys.setdefault(key_id, _KeyCounts())
        counts.expire(now)
        counts.roll(now)
        return counts

    async def admit(self, key_id: str, limits: Limits, tokens: int) -> Verdict:
        """Check every limit and, if all allow, reserve one request and ``tokens`` tokens."""
        return self.admit_now(key_id, limits, tokens)

    def admit_now(self, key_id: str, limits: Limits, tokens: int) -> Verdict:
        """:meth:`admit` without a coroutine (it never waits), for a caller that has none."""
        with self._lock:
            now = self._clock()
            counts = self._counts(key_id, now)
            refusal, retry_after = _refused(counts, limits, tokens, now)
            standing = _standing(counts, limits, now)
            if refusal is not None:
                return Verdict(standing, refusal=refusal, retry_after=retry_after)
            counts.requests.append(now)
            entry = [now, float(tokens)]
            counts.tokens.append(entry)
            counts.token_total += tokens
            return Verdict(_standing(counts, limits, now), Ticket(key_id, tokens, entry))

    def settle(self, ticket: Ticket, tokens: int, cost: float) -> None:
        """Replace the ticket's reservation with the tokens used, and add its cost."""
        with self._lock:
            if ticket.settled:
                return
            ticket.settled = True
            counts = self._counts(ticket.key_id, self._clock())
            if ticket.entry and ticket.entry[0] != -math.inf:
                counts.token_total += tokens - ticket.entry[1]
                ticket.entry[1] = float(tokens)
            counts.day_spend += cost
            counts.month_spend += cost

    def add_spend(self, key_id: str, cost: float) -> None:
        """Add spend counted elsewhere (in a shared store) to today's and this month's."""
        with self._lock:
            counts = self._counts(key_id, self._clock())
            counts.day_spend += cost
            counts.month_spend += cost

    def raise_spend(self, key_id: str, day: float, month: float) -> None:
        """Raise today's and this month's spend to at least what the fleet has counted.

        Kept so that local budgets, should the shared store become unreachable, start
        from the fleet's spend rather than this process's alone.
        """
        with self._lock:
            counts = self._counts(key_id, self._clock())
            counts.day_spend = max(counts.day_spend, day)
            counts.month_spend = max(counts.month_spend, month)

    def seed_spend(self, daily: Mapping[str, float], monthly: Mapping[str, float]) -> None:
        """Start today's and this month's spend from the ledger (at start-up)."""
        with self._lock:
            now = self._clock()
            for key_id in {*daily, *monthly}:
                counts = self._counts(key_id, now)
                counts.day_spend = daily.get(key_id, 0.0)
                counts.month_spend = monthly.get(key_id, 0.0)


def _refused(
    counts: _KeyCounts, limits: Limits, tokens: int, now: float
) -> tuple[Refusal | None, float]:
    """The first limit that refuses a request of ``tokens`` now, and when it may pass."""
    if limits.budget_daily is not None and counts.day_spend >= limits.budget_daily:
        return Refusal.BUDGET_DAILY, seconds_to_next(now, month=False)
    if limits.budget_monthly is not None and counts.month_spend >= limits.budget_monthly:
        return Refusal.BUDGET_MONTHLY, seconds_to_next(now, month=True)
    if limits.rpm is not None and len(counts.requests) >= limits.rpm:
        return Refusal.REQUESTS, counts.requests[0] + WINDOW - now
    if limits.tpm is not None and counts.tokens and counts.token_total + tokens > limits.tpm:
        return Refusal.TOKENS, _tokens_free_at(counts, limits.tpm - tokens) - now
    return None, 0.0


def _tokens_free_at(counts: _KeyCounts, room: float) -> float:
    """When enough token entries leave the window for the total to fit ``room``."""
    total = counts.token_total
    for entry in counts.tokens:
        total -= entry[1]
        if total <= room:
            return entry[0] + WINDOW
    return counts.tokens[-1][0] + WINDOW


def _standing(counts: _KeyCounts, limits: Limits, now: float) -> Standing:
    reset_requests = counts.requests[0] + WINDOW - now if counts.requests else 0.0
    reset_tokens = counts.tokens[0][0] + WINDOW - now if counts.tokens else 0.0
    return Standing(
        None if limits.rpm is None else max(0, limits.rpm - len(counts.requests)),
        None if limits.tpm is None else max(0, int(limits.tpm - counts.token_total)),
        max(0.0, reset_requests),
        max(0.0, reset_tokens),
    )

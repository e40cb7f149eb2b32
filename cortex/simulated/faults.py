"""Scriptable faults for the simulated upstream providers.

A test (or the ``--demo`` mode) tells a simulated server how to misbehave;
the server asks its :class:`FaultPlan` before answering each request. The
plan is shared between the caller's thread and the server's event-loop
thread, so every method takes the plan's lock and returns plain values.

Precedence for one request: a rule scripted for the request's key wins over
a rule scripted for every key; a scripted rule wins over ``rate_limit_every``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = ["ErrorKind", "Fault", "FaultPlan", "FaultRule"]


class Fault(StrEnum):
    """One way a simulated provider can misbehave."""

    NONE = "none"
    RATE_LIMIT = "rate_limit"  # 429 + Retry-After and the provider's rate-limit body
    QUOTA = "quota"  # the provider's quota / billing-exhausted error
    UNAUTHORIZED = "unauthorized"  # the provider's auth failure for a known key
    SERVER_ERROR = "server_error"  # 500
    OVERLOADED = "overloaded"  # 503, or 529 for Anthropic
    BAD_REQUEST = "bad_request"  # 400 invalid-request error
    HANG = "hang"  # accept the request, answer nothing until the server stops
    DROP_MID_STREAM = "drop_mid_stream"  # a couple of chunks, then abort the TCP connection
    EMPTY_STREAM = "empty_stream"  # 200 whose body carries no content
    STREAM_ERROR = "stream_error"  # a couple of chunks, then the provider's in-stream error
    RATE_LIMIT_BARE = "rate_limit_bare"  # 429 with the provider's body but no Retry-After
    MALFORMED_CHUNK = "malformed_chunk"  # one unparseable frame among good ones
    SLOW_FIRST_BYTE = "slow_first_byte"  # wait ``retry_after`` seconds, then answer normally
    NO_SENTINEL = "no_sentinel"  # the whole answer and its end signal, but no closing sentinel
    ENDS_EARLY = "ends_early"  # a couple of chunks, then a clean end of the body, no end signal
    REDIRECT = "redirect"  # 307 to the same path on the server's ``redirect_to`` origin
    DRIP_FEED = "drip_feed"  # 200 at once, then one byte per ``drip_interval``, never ending

    @property
    def error_kind(self) -> ErrorKind | None:
        """The error response this fault produces before any body is sent, if any."""
        return _STATUS_FAULTS.get(self)


class ErrorKind(StrEnum):
    """Every error a simulated provider can render in its own wire format."""

    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    UNAUTHORIZED = "unauthorized"
    SERVER_ERROR = "server_error"
    OVERLOADED = "overloaded"
    BAD_REQUEST = "bad_request"
    INVALID_KEY = "invalid_key"  # missing or unknown API key
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_LENGTH = "context_length"  # the prompt is longer than the model's window


_STATUS_FAULTS: dict[Fault, ErrorKind] = {
    Fault.RATE_LIMIT: ErrorKind.RATE_LIMIT,
    Fault.RATE_LIMIT_BARE: ErrorKind.RATE_LIMIT,
    Fault.QUOTA: ErrorKind.QUOTA,
    Fault.UNAUTHORIZED: ErrorKind.UNAUTHORIZED,
    Fault.SERVER_ERROR: ErrorKind.SERVER_ERROR,
    Fault.OVERLOADED: ErrorKind.OVERLOADED,
    Fault.BAD_REQUEST: ErrorKind.BAD_REQUEST,
}


@dataclass(frozen=True, slots=True)
class FaultRule:
    """A scripted fault.

    Attributes:
        fault: what to do.
        times: how many more requests it applies to; ``None`` means until cleared.
        retry_after: seconds advertised in ``Retry-After`` for RATE_LIMIT.
        probes: also apply to model-listing / version endpoints (health probes).
        chat: apply to generation requests; False with ``probes`` scripts probes only.
    """

    fault: Fault
    times: int | None = None
    retry_after: float = 1.0
    probes: bool = False
    chat: bool = True


@dataclass(frozen=True, slots=True)
class _EveryRule:
    every: int
    retry_after: float


class FaultPlan:
    """Thread-safe table of scripted faults, keyed by API key (``None`` = every key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str | None, FaultRule] = {}
        self._every: dict[str | None, _EveryRule] = {}
        self._counts: dict[str | None, int] = {}
        self._dealt: dict[Fault, int] = {}
        self._random: tuple[tuple[Fault, float], ...] = ()
        self._rng = random.Random(0)
        self._random_retry_after = 1.0

    def set_fault(
        self,
        fault: Fault,
        *,
        key: str | None = None,
        times: int | None = None,
        retry_after: float = 1.0,
        probes: bool = False,
        chat: bool = True,
    ) -> None:
        """Script ``fault`` for ``key`` (or every key), replacing any earlier rule for it.

        Raises:
            ValueError: ``times`` is not positive, ``retry_after`` is negative, or the
                rule would apply to nothing (neither ``chat`` nor ``probes``).
        """
        if times is not None and times < 1:
            raise ValueError(f"times must be a positive count or None, got {times}")
        if retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {retry_after}")
        if not (chat or probes):
            raise ValueError("a fault must apply to chat requests, probes or both")
        with self._lock:
            if fault is Fault.NONE:
                self._rules.pop(key, None)
            else:
                self._rules[key] = FaultRule(fault, times, retry_after, probes, chat)

    def set_rate_limit_every(
        self, every: int | None, *, key: str | None = None, retry_after: float = 1.0
    ) -> None:
        """Answer every ``every``-th chat request of ``key`` with RATE_LIMIT.

        With ``key=None`` each key is counted on its own. ``every=None`` turns it off.

        Raises:
            ValueError: ``every`` is not positive.
        """
        if every is not None and every < 1:
            raise ValueError(f"every must be a positive count or None, got {every}")
        with self._lock:
            if every is None:
                self._every.pop(key, None)
            else:
                self._every[key] = _EveryRule(every, retry_after)

    def set_random(
        self, rates: Mapping[Fault, float], *, seed: int = 0, retry_after: float = 1.0
    ) -> None:
        """Answer each chat request with a fault drawn at random: ``rates[f]`` is its chance.

        Scripted rules and periodic rate limits take precedence. The draw is seeded, so a
        chaos run is reproducible from its seed.

        Raises:
            ValueError: a rate is negative or the rates add up to more than 1.
        """
        if any(rate < 0 for rate in rates.values()) or sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates must be non-negative and add up to at most 1")
        with self._lock:
            self._random = tuple((fault, rate) for fault, rate in rates.items() if rate > 0)
            self._rng = random.Random(seed)
            self._random_retry_after = retry_after

    def clear(self) -> None:
        """Forget every scripted fault, random rate, periodic rate limit and count."""
        with self._lock:
            self._rules.clear()
            self._every.clear()
            self._counts.clear()
            self._dealt.clear()
            self._random = ()

    def dealt(self) -> dict[Fault, int]:
        """How many requests got each fault since the last :meth:`clear` (a chaos run's record)."""
        with self._lock:
            return dict(self._dealt)

    def take(self, key: str | None, *, probe: bool) -> FaultRule | None:
        """Decide the fault for one request of ``key`` and consume it.

        Args:
            key: the API key the request carried (``None`` for keyless servers).
            probe: the request is a model listing / version probe, not a generation.

        Returns:
            The rule to apply, or ``None`` to answer normally.
        """
        with self._lock:
            rule = self._decide(key, probe)
            if rule is not None:
                self._dealt[rule.fault] = self._dealt.get(rule.fault, 0) + 1
            return rule

    def _decide(self, key: str | None, probe: bool) -> FaultRule | None:
        rule = self._consume(key, probe) or self._consume(None, probe)
        if probe:
            return rule
        # Every chat request counts, even one a scripted rule answers, so
        # "every Nth request" means exactly that.
        count = self._counts[key] = self._counts.get(key, 0) + 1
        if rule is not None:
            return rule
        every = self._every.get(key) or self._every.get(None)
        if every is not None and count % every.every == 0:
            return FaultRule(Fault.RATE_LIMIT, 1, every.retry_after)
        return self._draw()

    def _draw(self) -> FaultRule | None:
        roll = self._rng.random()
        for fault, rate in self._random:
            if roll < rate:
                return FaultRule(fault, 1, self._random_retry_after)
            roll -= rate
        return None

    def _consume(self, key: str | None, probe: bool) -> FaultRule | None:
        rule = self._rules.get(key)
        if rule is None or not (rule.probes if probe else rule.chat):
            return None
        if rule.times is not None:
            if rule.times == 1:
                del self._rules[key]
            else:
                self._rules[key] = replace(rule, times=rule.times - 1)
        return rule

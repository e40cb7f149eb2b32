"""Per-key counters: admit and settle, the minute windows, the calendar budgets, costs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cortex.chat import Usage
from cortex.tenants.counters import LocalCounters, Refusal, day_of, seconds_to_next
from cortex.tenants.gate import _expectation, cost, limit_headers
from cortex.tenants.records import GatewayKey, Limits


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_requests_per_minute_refuse_the_next_request_until_the_oldest_leaves_the_window():
    clock = Clock(1000.0)
    counters = LocalCounters(clock)
    limits = Limits(rpm=2)

    admitted = [counters.admit_now("k", limits, 0).ticket is not None for _ in range(2)]
    refused = counters.admit_now("k", limits, 0)
    clock.now += 60.0
    later = counters.admit_now("k", limits, 0)

    assert admitted == [True, True]
    assert refused.refusal is Refusal.REQUESTS
    assert refused.retry_after == pytest.approx(60.0)
    assert later.ticket is not None


def test_a_reservation_counts_until_it_is_settled_to_the_real_tokens():
    counters = LocalCounters(Clock(0.0))
    limits = Limits(tpm=100)
    first = counters.admit_now("k", limits, 80).ticket
    assert first is not None

    while_reserved = counters.admit_now("k", limits, 30)
    counters.settle(first, 10, 0.0)
    after_settling = counters.admit_now("k", limits, 30)

    assert while_reserved.refusal is Refusal.TOKENS
    assert after_settling.ticket is not None
    assert after_settling.standing.remaining_tokens == 60


def test_settling_twice_counts_once():
    counters = LocalCounters(Clock(0.0))
    limits = Limits(tpm=100, budget_daily=1.0)
    ticket = counters.admit_now("k", limits, 10).ticket
    assert ticket is not None

    counters.settle(ticket, 50, 0.6)
    counters.settle(ticket, 50, 0.6)
    again = counters.admit_now("k", limits, 10)

    assert again.ticket is not None
    assert again.standing.remaining_tokens == 40


def test_a_request_larger_than_the_whole_limit_runs_alone_in_an_empty_window():
    clock = Clock(0.0)
    counters = LocalCounters(clock)
    limits = Limits(tpm=100)

    alone = counters.admit_now("k", limits, 500)
    beside_it = counters.admit_now("k", limits, 1)

    assert alone.ticket is not None
    assert beside_it.refusal is Refusal.TOKENS
    assert beside_it.retry_after == pytest.approx(60.0)


def test_a_settled_reservation_that_left_the_window_is_not_counted_again():
    clock = Clock(0.0)
    counters = LocalCounters(clock)
    limits = Limits(tpm=100)
    ticket = counters.admit_now("k", limits, 90).ticket
    assert ticket is not None
    clock.now = 61.0

    counters.settle(ticket, 200, 0.0)

    assert counters.admit_now("k", limits, 100).ticket is not None


def test_the_daily_budget_stops_a_key_and_the_next_utc_day_restores_it():
    clock = Clock(at("2026-03-31T23:59:00"))
    counters = LocalCounters(clock)
    limits = Limits(budget_daily=1.0)
    ticket = counters.admit_now("k", limits, 0).ticket
    assert ticket is not None
    counters.settle(ticket, 0, 1.0)

    stopped = counters.admit_now("k", limits, 0)
    clock.now = at("2026-04-01T00:00:01")
    next_day = counters.admit_now("k", limits, 0)

    assert stopped.refusal is Refusal.BUDGET_DAILY
    assert stopped.retry_after == pytest.approx(60.0)
    assert next_day.ticket is not None


def test_the_monthly_budget_holds_across_days_until_the_next_month():
    clock = Clock(at("2026-12-30T12:00:00"))
    counters = LocalCounters(clock)
    limits = Limits(budget_monthly=2.0)
    counters.seed_spend({}, {"k": 2.0})

    stopped = counters.admit_now("k", limits, 0)
    clock.now = at("2026-12-31T12:00:00")
    still = counters.admit_now("k", limits, 0)
    clock.now = at("2027-01-01T00:00:00")
    next_month = counters.admit_now("k", limits, 0)

    assert stopped.refusal is Refusal.BUDGET_MONTHLY
    assert still.refusal is Refusal.BUDGET_MONTHLY
    assert next_month.ticket is not None


@pytest.mark.parametrize(
    ("moment", "month", "seconds"),
    [
        ("2026-01-31T23:00:00", False, 3600.0),
        ("2026-01-31T23:00:00", True, 3600.0),
        ("2026-12-31T00:00:00", True, 86400.0),
        ("2026-02-01T00:00:00", False, 86400.0),
    ],
)
def test_seconds_to_the_next_calendar_window(moment, month, seconds):
    assert seconds_to_next(at(moment), month=month) == pytest.approx(seconds)


def test_days_are_utc():
    assert day_of(at("2026-05-01T23:30:00")) == "2026-05-01"


@pytest.mark.parametrize(
    ("body", "model", "tokens"),
    [
        (b'{"model": "m", "messages": [], "max_tokens": 10}', "m", 48 // 4 + 10),
        (b'{"messages": []}', None, 16 // 4 + 1024),
        (b'{"model": "e", "input": "x"}', "e", 28 // 4),
        (b'{"model": "m", "messages": [], "max_completion_tokens": 7}', "m", 58 // 4 + 7),
    ],
)
def test_the_reservation_is_the_body_over_four_plus_the_completion_cap(body, model, tokens):
    asked, expected = _expectation(body)

    assert asked is not None
    assert asked.name == model
    assert expected == tokens


@pytest.mark.parametrize("body", [b"not json", b"[1]"])
def test_an_unreadable_body_is_left_to_the_handler(body):
    assert _expectation(body) == (None, 0)


def test_limit_headers_name_only_the_limits_a_key_has():
    key = GatewayKey("gk_1", "m", "n", "", Limits(rpm=5), None, 0.0)
    counters = LocalCounters(Clock(0.0))
    standing = counters.admit_now("gk_1", key.limits, 10).standing

    headers = limit_headers(key, standing)

    assert headers == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "60.000s",
    }


@pytest.mark.parametrize(
    ("prompt", "completion", "price", "expected"),
    [(1_000_000, 0, 2.0, 2.0), (300, 700, 2.5, 0.0025), (10, 5, None, 0.0), (0, 0, 9.0, 0.0)],
)
def test_cost_is_prompt_plus_completion_tokens_at_the_price_per_million(
    prompt, completion, price, expected
):
    assert cost(Usage(prompt, completion), price) == pytest.approx(expected)

"""Each routing strategy, model routes and circuit breakers, as pure planning functions."""

from __future__ import annotations

import dataclasses
import random

import pytest

from actors.breaker import Breaker, BreakerSettings, BreakerState
from actors.planning import (
    BREAKER_OPEN,
    NoRouteForModel,
    NoWorkerAvailable,
    PlanContext,
    Route,
    RoutingStrategy,
    build_plan,
)
from actors.workers import WorkerConfig, WorkerView
from cortex.providers.profiles import PROFILES


def view(name, type_="openai", *, priority=10, price=None, **state):
    config = WorkerConfig(
        name=name,
        type=type_,
        base_url=PROFILES[type_].base_url,
        api_keys=("k",),
        models=("m",),
        priority=priority,
        price=price,
        is_local=PROFILES[type_].local,
        needs_key=PROFILES[type_].needs_key,
    )
    return WorkerView(config=config, **state)


def order(views, strategy, **context):
    return [c.worker for c in build_plan(views, None, strategy, PlanContext(**context))]


def test_cloud_first_puts_cloud_workers_before_local_ones():
    fleet = [view("local", "ollama", priority=1), view("cloud", priority=9)]
    assert order(fleet, RoutingStrategy.CLOUD_FIRST) == ["cloud", "local"]


def test_local_first_puts_local_workers_before_cloud_ones():
    fleet = [view("cloud", priority=1), view("local", "ollama", priority=9)]
    assert order(fleet, RoutingStrategy.LOCAL_FIRST) == ["local", "cloud"]


@pytest.mark.parametrize(
    ("turn", "expected"), [(0, ["a", "b", "c"]), (1, ["b", "c", "a"]), (5, ["c", "a", "b"])]
)
def test_round_robin_rotates_the_priority_order_by_turn(turn, expected):
    fleet = [view("c", priority=3), view("a", priority=1), view("b", priority=2)]
    assert order(fleet, RoutingStrategy.ROUND_ROBIN, turn=turn) == expected


def test_least_used_prefers_the_worker_with_the_fewest_requests():
    fleet = [view("busy", requests=10, priority=1), view("idle", requests=2, priority=2)]
    assert order(fleet, RoutingStrategy.LEAST_USED) == ["idle", "busy"]


def test_least_loaded_prefers_the_worker_with_the_fewest_in_flight():
    fleet = [view("loaded", in_flight=4, priority=1), view("free", in_flight=0, priority=2)]
    assert order(fleet, RoutingStrategy.LEAST_LOADED) == ["free", "loaded"]


def test_fastest_prefers_the_lowest_smoothed_time_to_first_token():
    fleet = [view("slow", latency_ms=900.0, priority=1), view("quick", latency_ms=80.0, priority=2)]
    assert order(fleet, RoutingStrategy.FASTEST) == ["quick", "slow"]


def test_fastest_tries_an_unmeasured_worker_so_it_gets_measured():
    fleet = [view("measured", latency_ms=50.0, priority=1), view("new", priority=2)]
    assert order(fleet, RoutingStrategy.FASTEST) == ["new", "measured"]


def test_cost_optimized_prefers_free_local_then_cheapest_and_unknown_prices_last():
    fleet = [
        view("unknown", priority=1),
        view("pricey", price=10.0, priority=2),
        view("cheap", price=0.5, priority=3),
        view("local", "ollama", priority=4),
    ]
    assert order(fleet, RoutingStrategy.COST_OPTIMIZED) == ["local", "cheap", "pricey", "unknown"]


def test_random_order_is_reproducible_with_a_seeded_generator():
    fleet = [view(name) for name in "abcdef"]
    first = order(fleet, RoutingStrategy.RANDOM, rng=random.Random(7))
    second = order(fleet, RoutingStrategy.RANDOM, rng=random.Random(7))
    assert first == second
    assert sorted(first) == list("abcdef")


def test_a_route_is_walked_in_its_own_order_with_its_upstream_models():
    fleet = [
        view("anthropic", priority=1),
        view("openai", priority=2),
        view("ollama", "ollama"),
    ]
    route = Route("smart", (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4")))

    plan = build_plan(
        fleet, "smart", RoutingStrategy.PRIORITY, PlanContext(routes={"smart": route})
    )

    assert [(c.worker, c.model) for c in plan] == [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4"),
    ]


def test_a_route_naming_only_unknown_workers_has_no_route():
    route = Route("smart", (("ghost", "x"),))
    with pytest.raises(NoRouteForModel):
        build_plan(
            [view("a")], "smart", RoutingStrategy.PRIORITY, PlanContext(routes={"smart": route})
        )


def opened(now=100.0):
    return Breaker().failed(now, BreakerSettings(failure_threshold=1, cooldown=10.0))


def test_a_worker_with_an_open_breaker_is_skipped():
    fleet = [view("broken", breaker=opened(), priority=1), view("fine", priority=2)]
    assert order(fleet, RoutingStrategy.PRIORITY, now=105.0) == ["fine"]


def test_when_every_breaker_is_open_the_error_says_when_a_trial_is_due():
    with pytest.raises(NoWorkerAvailable) as caught:
        build_plan(
            [view("broken", breaker=opened())],
            None,
            RoutingStrategy.PRIORITY,
            PlanContext(now=104.0),
        )
    assert caught.value.reasons == {"broken": BREAKER_OPEN}
    assert caught.value.retry_after == pytest.approx(6.0)


def test_a_half_open_worker_gets_one_trial_request():
    fleet = [view("recovering", breaker=opened(), priority=1), view("fine", priority=2)]

    plan = build_plan(fleet, None, RoutingStrategy.PRIORITY, PlanContext(now=111.0))
    again = build_plan(
        fleet,
        None,
        RoutingStrategy.PRIORITY,
        PlanContext(now=111.0, trials_taken=frozenset({"recovering"})),
    )

    assert [(c.worker, c.trial) for c in plan] == [("recovering", True), ("fine", False)]
    assert [c.worker for c in again] == ["fine"]


class TestBreaker:
    settings = BreakerSettings(
        failure_threshold=3, error_rate=0.5, min_requests=4, window=30.0, cooldown=10.0
    )

    def test_it_opens_after_consecutive_failures(self):
        breaker = Breaker()
        for at in (1.0, 2.0):
            breaker = breaker.failed(at, self.settings)
        assert breaker.state(2.0) is BreakerState.CLOSED
        assert breaker.failed(3.0, self.settings).state(3.0) is BreakerState.OPEN

    def test_it_opens_when_the_error_rate_over_the_window_is_too_high(self):
        breaker = Breaker()
        for at, ok in [(1.0, False), (2.0, True), (3.0, False), (4.0, True), (5.0, False)]:
            breaker = (
                breaker.failed(at, self.settings)
                if not ok
                else breaker.succeeded(at, self.settings)
            )
        assert breaker.state(5.0) is BreakerState.OPEN

    def test_old_outcomes_leave_the_window(self):
        breaker = Breaker()
        for at in (1.0, 2.0):
            breaker = breaker.failed(at, self.settings)
        breaker = breaker.succeeded(3.0, self.settings)
        assert breaker.error_rate(100.0, self.settings) is None

    def test_it_becomes_half_open_after_the_cool_down(self):
        breaker = dataclasses.replace(Breaker(), opened_at=0.0, next_trial_at=10.0)
        assert breaker.state(9.9) is BreakerState.OPEN
        assert breaker.state(10.0) is BreakerState.HALF_OPEN

    def test_a_successful_trial_closes_it(self):
        breaker = dataclasses.replace(Breaker(), opened_at=0.0, next_trial_at=10.0)
        assert breaker.succeeded(11.0, self.settings).state(11.0) is BreakerState.CLOSED

    def test_a_failed_trial_opens_it_for_another_cool_down(self):
        breaker = dataclasses.replace(Breaker(), opened_at=0.0, next_trial_at=10.0)
        reopened = breaker.failed(11.0, self.settings)
        assert reopened.state(11.0) is BreakerState.OPEN
        assert reopened.next_trial_at == 21.0

    def test_a_successful_probe_allows_a_trial_at_once(self):
        breaker = dataclasses.replace(Breaker(), opened_at=0.0, next_trial_at=10.0)
        assert breaker.allow_trial_now(2.0).state(2.0) is BreakerState.HALF_OPEN

    def test_its_memory_is_bounded(self):
        breaker = Breaker()
        settings = BreakerSettings(failure_threshold=10_000, min_requests=10_000, window=1e9)
        for at in range(1000):
            breaker = breaker.succeeded(float(at), settings)
        assert len(breaker.outcomes) <= 200

"""Unit tests for the board: configurations, health and attempt counts, composed into views."""

from __future__ import annotations

import threading

import pytest

from actors.board import Board
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.workers import (
    AttemptCounts,
    AttemptOutcome,
    HealthStatus,
    WorkerConfig,
    WorkerHealth,
    WorkerView,
)

GROQ = WorkerConfig(name="groq", type="groq", base_url="http://g", api_keys=("k",))
OLLAMA = WorkerConfig(
    name="ollama", type="ollama", base_url="http://o", is_local=True, needs_key=False
)


def board_with(*configs: WorkerConfig) -> Board:
    board = Board()
    for config in configs:
        board.put_config(config)
    return board


def test_configs_keep_registration_order() -> None:
    assert board_with(OLLAMA, GROQ).configs() == (OLLAMA, GROQ)


def test_put_config_replaces_a_config_of_the_same_name() -> None:
    moved = WorkerConfig(
        name="ollama", type="ollama", base_url="http://elsewhere", is_local=True, needs_key=False
    )
    board = board_with(OLLAMA)
    board.put_config(moved)
    assert board.configs() == (moved,)


def test_a_replaced_config_shows_in_the_view_with_health_and_counts_kept() -> None:
    moved = WorkerConfig(
        name="ollama", type="ollama", base_url="http://elsewhere", is_local=True, needs_key=False
    )
    board = board_with(OLLAMA)
    board.publish_health("ollama", WorkerHealth(status=HealthStatus.DEGRADED))
    board.attempt_started("ollama")
    board.put_config(moved)
    view = board.view("ollama")
    assert view is not None
    assert (view.config, view.status, view.requests) == (moved, HealthStatus.DEGRADED, 1)


def test_health_of_an_unregistered_worker_is_dropped() -> None:
    board = board_with(OLLAMA)
    board.publish_health("groq", WorkerHealth(status=HealthStatus.DEGRADED))
    assert board.view("groq") is None
    assert board.health("groq") is None
    assert [v.name for v in board.views()] == ["ollama"]


def test_published_health_is_what_readers_and_a_restarted_actor_get() -> None:
    board = board_with(OLLAMA)
    health = WorkerHealth(status=HealthStatus.UNAVAILABLE, last_error="probe timeout: slow")
    board.publish_health("ollama", health)
    assert board.health("ollama") == health
    assert board.views() == (WorkerView(config=OLLAMA, **_fields(health)),)


def test_a_registered_worker_without_health_or_attempts_has_the_default_view() -> None:
    assert board_with(OLLAMA, GROQ).views() == (WorkerView(config=OLLAMA), WorkerView(config=GROQ))


def test_remove_drops_the_config_the_health_and_the_counts() -> None:
    board = board_with(OLLAMA, GROQ)
    board.publish_health("ollama", WorkerHealth(status=HealthStatus.DEGRADED))
    board.attempt_started("ollama")
    board.remove("ollama")
    assert board.config("ollama") is None
    assert board.view("ollama") is None
    assert board.health("ollama") is None
    assert board.views() == (WorkerView(config=GROQ),)


def test_a_removed_worker_registered_again_starts_from_a_default_view() -> None:
    board = board_with(OLLAMA)
    board.publish_health("ollama", WorkerHealth(status=HealthStatus.UNAVAILABLE))
    board.attempt_started("ollama")
    board.remove("ollama")
    board.put_config(OLLAMA)
    assert board.view("ollama") == WorkerView(config=OLLAMA)


def test_removing_an_unknown_worker_changes_nothing() -> None:
    board = board_with(OLLAMA)
    board.remove("nobody")
    assert board.configs() == (OLLAMA,)


# --- attempt counts -----------------------------------------------------------------


def test_an_attempt_is_counted_in_flight_until_it_ends() -> None:
    board = board_with(OLLAMA)
    tally = board.attempt_started("ollama")
    assert tally is not None
    started = board.view("ollama")
    board.attempt_ended(tally, AttemptOutcome.SUCCEEDED, 120.0)
    ended = board.view("ollama")
    assert started is not None
    assert ended is not None
    assert (started.in_flight, started.requests, started.successes) == (1, 1, 0)
    assert (ended.in_flight, ended.requests, ended.successes, ended.latency_ms) == (0, 1, 1, 120.0)


def test_an_attempt_on_an_unknown_worker_is_not_counted() -> None:
    assert board_with(OLLAMA).attempt_started("nobody") is None


def test_an_attempt_that_outlives_its_worker_does_not_count_on_a_new_worker_of_that_name() -> None:
    board = board_with(OLLAMA)
    tally = board.attempt_started("ollama")
    assert tally is not None
    board.remove("ollama")
    board.put_config(OLLAMA)
    board.attempt_ended(tally, AttemptOutcome.FAILED)
    assert board.view("ollama") == WorkerView(config=OLLAMA)


def test_health_publishing_never_touches_the_counts() -> None:
    board = board_with(OLLAMA)
    tally = board.attempt_started("ollama")
    assert tally is not None
    board.attempt_ended(tally, AttemptOutcome.SUCCEEDED)
    board.publish_health("ollama", WorkerHealth(status=HealthStatus.DEGRADED))
    view = board.view("ollama")
    assert view is not None
    assert (view.status, view.requests, view.successes) == (HealthStatus.DEGRADED, 1, 1)


def test_counts_from_many_threads_add_up_exactly() -> None:
    board = board_with(OLLAMA)
    outcomes = list(AttemptOutcome)

    def attempts(index: int) -> None:
        for n in range(500):
            tally = board.attempt_started("ollama")
            assert tally is not None
            board.attempt_ended(tally, outcomes[(index + n) % len(outcomes)])

    threads = [threading.Thread(target=attempts, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    view = board.view("ollama")
    assert view is not None
    assert view.requests == 8 * 500
    assert view.in_flight == 0
    assert view.successes == view.failures == view.client_errors == view.cancelled == 1000


@pytest.mark.parametrize(
    ("outcome", "field"),
    [
        (AttemptOutcome.SUCCEEDED, "successes"),
        (AttemptOutcome.FAILED, "failures"),
        (AttemptOutcome.CLIENT_ERROR, "client_errors"),
        (AttemptOutcome.CANCELLED, "cancelled"),
    ],
)
def test_each_outcome_is_counted_once_in_its_own_counter(
    outcome: AttemptOutcome, field: str
) -> None:
    counts = AttemptCounts().started().ended(outcome, None)
    assert getattr(counts, field) == 1
    assert counts.requests == 1
    assert counts.in_flight == 0
    assert (
        counts.successes + counts.failures + counts.client_errors + counts.cancelled
    ) == counts.requests


@pytest.mark.parametrize(
    ("outcome", "first_token_ms", "latency"),
    [
        (AttemptOutcome.SUCCEEDED, 200.0, 130.0),
        (AttemptOutcome.SUCCEEDED, None, 100.0),
        (AttemptOutcome.FAILED, 900.0, 100.0),
        (AttemptOutcome.CANCELLED, 900.0, 100.0),
    ],
)
def test_only_a_success_with_a_first_token_time_moves_the_latency(
    outcome: AttemptOutcome, first_token_ms: float | None, latency: float
) -> None:
    counts = AttemptCounts(latency_ms=100.0).started().ended(outcome, first_token_ms)
    assert counts.latency_ms == pytest.approx(latency)


def test_the_first_time_to_first_token_becomes_the_latency() -> None:
    counts = AttemptCounts().started().ended(AttemptOutcome.SUCCEEDED, 80.0)
    assert counts.latency_ms == 80.0


def test_in_flight_never_goes_below_zero() -> None:
    assert AttemptCounts().ended(AttemptOutcome.CANCELLED, None).in_flight == 0


@pytest.mark.parametrize(
    ("failure_kind", "cancelled", "outcome"),
    [
        (None, False, AttemptOutcome.SUCCEEDED),
        (None, True, AttemptOutcome.CANCELLED),
        ("timeout", False, AttemptOutcome.FAILED),
        ("rate_limited", False, AttemptOutcome.FAILED),
        ("bad_request", False, AttemptOutcome.CLIENT_ERROR),
        ("timeout", True, AttemptOutcome.CANCELLED),
    ],
)
def test_an_attempt_end_is_classified_by_cancellation_then_failure_kind(
    failure_kind: str | None, cancelled: bool, outcome: AttemptOutcome
) -> None:
    failure = None if failure_kind is None else UpstreamFailure(ErrorKind(failure_kind), "x")
    assert AttemptOutcome.of(failure, cancelled=cancelled) is outcome


def _fields(health: WorkerHealth) -> dict[str, object]:
    return {
        "status": health.status,
        "last_error": health.last_error,
        "last_check": health.last_check,
        "discovered_models": health.discovered_models,
        "breaker": health.breaker,
    }

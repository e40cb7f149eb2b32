"""Unit tests for the dashboard's history and the snapshot its page renders."""

from __future__ import annotations

import json

from actors.board import Board
from actors.keys import KeyLedger, RotationStrategy, key_id
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.workers import WorkerConfig
from cortex.errors import Attempt
from cortex.observability.dashboard import HISTORY_SECONDS, DashboardHub

SECRETS = ("sk-dashboard-secret-0001", "sk-dashboard-secret-0002")
GROQ = WorkerConfig("groq", "groq", "http://x", api_keys=SECRETS, models=("m",))


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_hub(clock: Clock) -> tuple[DashboardHub, KeyLedger]:
    board = Board()
    board.put_config(GROQ)
    ledger = KeyLedger(strategy=RotationStrategy.ROUND_ROBIN, wall_clock=clock)
    ledger.configure(GROQ.name, GROQ.api_keys)
    return DashboardHub(board, ledger, clock=clock), ledger


def failed(worker: str) -> Attempt:
    return Attempt(worker, None, "upstream_error", "boom")


def test_the_series_covers_the_whole_history_with_gaps_as_zero_requests() -> None:
    clock = Clock()
    hub, _ = make_hub(clock)

    hub.request_finished(0.2, ok=True)
    clock.now += 2
    hub.request_finished(0.4, ok=True)
    hub.request_finished(0.6, ok=False)
    series = hub.series()

    assert len(series["requests"]) == HISTORY_SECONDS
    assert series["requests"][-3:] == [1, 0, 2]
    assert series["latency_ms"][-3:] == [200.0, None, 500.0]
    assert series["end"] == int(clock.now)


def test_requests_older_than_the_history_fall_off_the_series() -> None:
    clock = Clock()
    hub, _ = make_hub(clock)

    hub.request_finished(0.1, ok=True)
    clock.now += HISTORY_SECONDS

    assert sum(hub.series()["requests"]) == 0


def test_time_to_first_token_is_averaged_per_second() -> None:
    clock = Clock()
    hub, _ = make_hub(clock)

    hub.answer_started("groq", "m", 10.0)
    hub.answer_started("groq", "m", 30.0)

    assert hub.series()["ttft_ms"][-1] == 20.0


def test_only_a_move_to_another_worker_is_a_failover_newest_first() -> None:
    clock = Clock()
    hub, _ = make_hub(clock)

    hub.attempt_started("groq", [failed("groq")])
    hub.attempt_started("local", [failed("groq")])
    clock.now += 1
    hub.attempt_started("cloud", [failed("groq"), failed("local")])
    failovers = hub.snapshot(None)["failovers"]

    assert [(f["from"], f["to"]) for f in failovers] == [("local", "cloud"), ("groq", "local")]
    assert failovers[0]["reason"] == "upstream_error"


def test_a_resting_key_shows_its_countdown_and_reason_and_only_its_masked_form() -> None:
    clock = Clock()
    hub, ledger = make_hub(clock)
    limited = UpstreamFailure(ErrorKind.RATE_LIMITED, "slow down", retry_after=90.0)

    ledger.report_failure("groq", key_id(SECRETS[0]), limited)
    state = hub.snapshot(None)
    (worker,) = state["workers"]

    resting, fresh = worker["keys"]
    assert resting["blocked"] is True
    assert resting["blocked_for"] == 90
    assert resting["block_reason"] == "rate_limited"
    assert fresh["blocked"] is False
    assert fresh["blocked_for"] is None
    assert all(secret not in json.dumps(state) for secret in SECRETS)


def test_a_key_rejected_for_good_is_blocked_with_no_countdown_and_stays_valid_json() -> None:
    clock = Clock()
    hub, ledger = make_hub(clock)
    rejected = UpstreamFailure(ErrorKind.INVALID_KEY, "bad key")

    ledger.report_failure("groq", key_id(SECRETS[0]), rejected)
    state = hub.snapshot(None)
    key = state["workers"][0]["keys"][0]

    assert (key["blocked"], key["blocked_for"], key["block_reason"]) == (True, None, "invalid_key")
    json.dumps(state, allow_nan=False)


def test_a_worker_with_no_finished_attempt_has_no_error_rate_yet() -> None:
    hub, _ = make_hub(Clock())

    (worker,) = hub.snapshot({"name": "root"})["workers"]

    assert worker["error_rate"] is None
    assert worker["status"] == "available"
    assert worker["breaker"] == "closed"

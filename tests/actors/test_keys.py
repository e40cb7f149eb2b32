"""Unit tests for the API-key ledger: rotation, blocking, masking and snapshots."""

from __future__ import annotations

import math
import random

import pytest

from actors.keys import (
    KeyLease,
    KeyLedger,
    KeyView,
    RotationStrategy,
    key_id,
    mask_key,
)
from actors.outcomes import ErrorKind, UpstreamFailure

SECRETS = ("sk-alpha-0123456789", "sk-bravo-0123456789", "sk-charlie-0123456789")
IDS = tuple(key_id(s) for s in SECRETS)
WALL_EPOCH = 1_700_000_000.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_ledger(
    clock: FakeClock,
    strategy: RotationStrategy = RotationStrategy.ROUND_ROBIN,
    rng: random.Random | None = None,
) -> KeyLedger:
    ledger = KeyLedger(
        strategy=strategy,
        default_block_seconds=900.0,
        clock=clock,
        wall_clock=lambda: WALL_EPOCH + clock.now,
        rng=rng,
    )
    ledger.configure("groq", SECRETS)
    return ledger


def lease_ids(ledger: KeyLedger, count: int, worker: str = "groq") -> list[str]:
    ids = []
    for _ in range(count):
        lease = ledger.checkout(worker)
        assert lease is not None
        ids.append(lease.key_id)
    return ids


def rate_limited(retry_after: float | None = None) -> UpstreamFailure:
    return UpstreamFailure(ErrorKind.RATE_LIMITED, "slow down", 429, retry_after)


def views_by_id(ledger: KeyLedger, worker: str = "groq") -> dict[str, KeyView]:
    return {v.key_id: v for v in ledger.snapshot()[worker]}


# --- masking and ids ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("gsk_abcdefghijklmnopqrstuvwxyz", "gsk_ab***wxyz"),
        ("abcdefghijkl", "abcdef***ijkl"),
        ("abcdefghijk", "ab***jk"),
        ("abcdefgh", "ab***gh"),
        ("abcdefg", "***"),
        ("a", "***"),
        ("", "***"),
    ],
)
def test_mask_key_reveals_less_of_shorter_keys(secret: str, masked: str) -> None:
    assert mask_key(secret) == masked


def test_key_id_is_stable_and_does_not_contain_the_secret() -> None:
    secret = "sk-very-secret-value-123"
    assert key_id(secret) == key_id(secret)
    assert key_id(secret).startswith("k")
    assert secret not in key_id(secret)


def test_key_ids_differ_between_secrets() -> None:
    assert len(set(IDS)) == len(IDS)


# --- rotation ----------------------------------------------------------------------


def test_round_robin_cycles_through_keys_in_configured_order(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    assert lease_ids(ledger, 4) == [IDS[0], IDS[1], IDS[2], IDS[0]]


def test_least_used_picks_the_key_with_fewest_requests(clock: FakeClock) -> None:
    ledger = make_ledger(clock, RotationStrategy.ROUND_ROBIN)
    lease_ids(ledger, 2)  # keys 0 and 1 now have one request each
    ledger.set_strategy(RotationStrategy.LEAST_USED)
    assert lease_ids(ledger, 1) == [IDS[2]]


def test_least_used_breaks_ties_by_configured_order(clock: FakeClock) -> None:
    ledger = make_ledger(clock, RotationStrategy.LEAST_USED)
    assert lease_ids(ledger, 3) == list(IDS)


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_random_follows_the_injected_rng(clock: FakeClock, seed: int) -> None:
    ledger = make_ledger(clock, RotationStrategy.RANDOM, rng=random.Random(seed))
    expected_rng = random.Random(seed)
    expected = [expected_rng.choice(IDS) for _ in range(10)]
    assert lease_ids(ledger, 10) == expected


def test_set_strategy_changes_the_reported_strategy(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.set_strategy(RotationStrategy.RANDOM)
    assert ledger.strategy is RotationStrategy.RANDOM


def test_default_strategy_is_round_robin() -> None:
    assert KeyLedger().strategy is RotationStrategy.ROUND_ROBIN


@pytest.mark.parametrize("strategy", list(RotationStrategy))
def test_checkout_skips_excluded_keys(clock: FakeClock, strategy: RotationStrategy) -> None:
    ledger = make_ledger(clock, strategy, rng=random.Random(0))
    for _ in range(10):
        lease = ledger.checkout("groq", exclude={IDS[0], IDS[2]})
        assert lease is not None
        assert lease.key_id == IDS[1]


@pytest.mark.parametrize("strategy", list(RotationStrategy))
def test_checkout_skips_blocked_keys(clock: FakeClock, strategy: RotationStrategy) -> None:
    ledger = make_ledger(clock, strategy, rng=random.Random(0))
    ledger.report_failure("groq", IDS[0], rate_limited())
    ledger.report_failure("groq", IDS[1], rate_limited())
    assert set(lease_ids(ledger, 10)) == {IDS[2]}


def test_checkout_returns_none_when_every_key_is_excluded(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    assert ledger.checkout("groq", exclude=IDS) is None


def test_checkout_returns_none_when_every_key_is_blocked(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    for kid in IDS:
        ledger.report_failure("groq", kid, rate_limited())
    assert ledger.checkout("groq") is None


def test_checkout_returns_none_for_an_unknown_worker(clock: FakeClock) -> None:
    assert make_ledger(clock).checkout("nobody") is None


def test_checkout_returns_none_for_a_worker_without_keys(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.configure("ollama", [])
    assert ledger.checkout("ollama") is None


def test_lease_carries_worker_id_mask_and_secret(clock: FakeClock) -> None:
    lease = make_ledger(clock).checkout("groq")
    assert lease == KeyLease("groq", IDS[0], mask_key(SECRETS[0]), SECRETS[0])


def test_checkout_counts_a_request_and_last_used(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.checkout("groq")
    view = views_by_id(ledger)[IDS[0]]
    assert (view.requests, view.last_used) == (1, WALL_EPOCH + clock.now)


# --- reports and blocking ----------------------------------------------------------


def test_report_success_counts_a_success(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_success("groq", IDS[1])
    assert views_by_id(ledger)[IDS[1]].successes == 1


def test_report_failure_counts_a_failure(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[1], rate_limited())
    assert views_by_id(ledger)[IDS[1]].failures == 1


@pytest.mark.parametrize(
    "kind",
    [
        ErrorKind.OVERLOADED,
        ErrorKind.UPSTREAM_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECT_ERROR,
        ErrorKind.EMPTY_RESPONSE,
        ErrorKind.BAD_REQUEST,
    ],
)
def test_failures_that_are_not_the_keys_fault_do_not_block(
    clock: FakeClock, kind: ErrorKind
) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], UpstreamFailure(kind, "boom", retry_after=5.0))
    assert ledger.available("groq") == 3


@pytest.mark.parametrize(
    ("failure", "seconds"),
    [
        (rate_limited(30.0), 30.0),
        (rate_limited(None), 900.0),
        (UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "out", 429, 3600.0), 3600.0),
        (UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "out", 429), 3600.0),
        (UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "out", 429, 5.0), 3600.0),
        (UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "out", 429, 7200.0), 3600.0),
        (rate_limited(31_536_000.0), 3600.0),
        (UpstreamFailure(ErrorKind.INVALID_KEY, "bad key", 401), math.inf),
        (UpstreamFailure(ErrorKind.INVALID_KEY, "bad key", 401, 5.0), math.inf),
    ],
)
def test_block_lasts_retry_after_the_default_the_quota_block_or_until_reload(
    clock: FakeClock, failure: UpstreamFailure, seconds: float
) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], failure)
    assert ledger.next_unblock_in("groq") == seconds


def test_an_invalid_key_is_usable_again_after_the_configuration_is_reloaded(
    clock: FakeClock,
) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], UpstreamFailure(ErrorKind.INVALID_KEY, "bad", 401))
    clock.advance(10 * 86400.0)
    assert ledger.available("groq") == 2
    ledger.configure("groq", SECRETS)
    assert ledger.available("groq") == 3


@pytest.mark.parametrize(
    ("failure", "seconds"),
    [
        (rate_limited(31_536_000.0), 120.0),
        (rate_limited(119.0), 119.0),
        (rate_limited(None), 120.0),
        (UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "out", 429), 120.0),
        (UpstreamFailure(ErrorKind.INVALID_KEY, "bad key", 401), math.inf),
    ],
)
def test_no_timed_block_outlasts_the_longest_block(
    clock: FakeClock, failure: UpstreamFailure, seconds: float
) -> None:
    ledger = KeyLedger(max_block_seconds=120.0, clock=clock)
    ledger.configure("groq", SECRETS)

    ledger.report_failure("groq", IDS[0], failure)

    assert ledger.next_unblock_in("groq") == seconds


def test_a_key_still_limited_after_the_longest_block_simply_rests_again(clock: FakeClock) -> None:
    ledger = KeyLedger(max_block_seconds=120.0, clock=clock)
    ledger.configure("groq", SECRETS[:1])
    ledger.report_failure("groq", IDS[0], rate_limited(31_536_000.0))
    clock.advance(120.0)

    lease = ledger.checkout("groq")
    assert lease is not None
    ledger.report_failure("groq", lease.key_id, rate_limited(31_536_000.0))

    assert ledger.checkout("groq") is None
    assert ledger.next_unblock_in("groq") == 120.0


def test_retry_after_zero_leaves_the_key_usable(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(0.0))
    assert ledger.available("groq") == 3


def test_blocked_key_view_shows_wall_time_and_reason(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(30.0))
    view = views_by_id(ledger)[IDS[0]]
    assert (view.blocked_until, view.block_reason) == (
        WALL_EPOCH + clock.now + 30.0,
        ErrorKind.RATE_LIMITED,
    )


def test_a_later_shorter_block_does_not_shorten_the_current_one(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(60.0))
    ledger.report_failure("groq", IDS[0], rate_limited(5.0))
    assert ledger.next_unblock_in("groq") == 60.0


def test_a_later_longer_block_extends_the_current_one(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(5.0))
    ledger.report_failure("groq", IDS[0], rate_limited(60.0))
    assert ledger.next_unblock_in("groq") == 60.0


def test_key_is_usable_again_once_its_block_passes(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.configure("groq", SECRETS[:1])
    ledger.report_failure("groq", IDS[0], rate_limited(30.0))
    clock.advance(30.0)
    lease = ledger.checkout("groq")
    assert lease is not None
    assert lease.key_id == IDS[0]


def test_key_stays_blocked_until_its_block_passes(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.configure("groq", SECRETS[:1])
    ledger.report_failure("groq", IDS[0], rate_limited(30.0))
    clock.advance(29.9)
    assert ledger.checkout("groq") is None


def test_snapshot_shows_an_expired_block_as_unblocked(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(30.0))
    clock.advance(31.0)
    view = views_by_id(ledger)[IDS[0]]
    assert (view.blocked_until, view.block_reason) == (None, None)


def test_unblock_expired_lists_only_keys_whose_block_passed(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.configure("gemini", ["gm-key-0123456789abc"])
    ledger.report_failure("groq", IDS[0], rate_limited(10.0))
    ledger.report_failure("groq", IDS[1], rate_limited(100.0))
    ledger.report_failure("gemini", key_id("gm-key-0123456789abc"), rate_limited(5.0))
    clock.advance(50.0)
    assert ledger.unblock_expired() == [
        ("groq", IDS[0]),
        ("gemini", key_id("gm-key-0123456789abc")),
    ]


def test_unblock_expired_does_not_report_a_key_twice(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(10.0))
    clock.advance(10.0)
    ledger.unblock_expired()
    assert ledger.unblock_expired() == []


def test_unblock_lifts_a_block_at_once(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(60.0))
    assert ledger.unblock("groq", IDS[0]) is True
    assert ledger.available("groq") == 3


@pytest.mark.parametrize(
    ("worker", "kid"),
    [("groq", IDS[1]), ("groq", "k-unknown"), ("nobody", IDS[0])],
)
def test_unblock_returns_false_when_nothing_was_blocked(
    clock: FakeClock, worker: str, kid: str
) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(60.0))
    assert ledger.unblock(worker, kid) is False


def test_next_unblock_in_reports_the_earliest_block_end(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(60.0))
    ledger.report_failure("groq", IDS[1], rate_limited(20.0))
    clock.advance(5.0)
    assert ledger.next_unblock_in("groq") == 15.0


@pytest.mark.parametrize("worker", ["groq", "nobody"])
def test_next_unblock_in_is_none_without_blocks(clock: FakeClock, worker: str) -> None:
    assert make_ledger(clock).next_unblock_in(worker) is None


def test_available_counts_unblocked_keys(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[2], rate_limited())
    assert ledger.available("groq") == 2


def test_available_is_zero_for_an_unknown_worker(clock: FakeClock) -> None:
    assert make_ledger(clock).available("nobody") == 0


@pytest.mark.parametrize(
    ("worker", "kid"),
    [("groq", "k-unknown"), ("nobody", IDS[0])],
)
def test_reports_about_unknown_keys_are_ignored(clock: FakeClock, worker: str, kid: str) -> None:
    ledger = make_ledger(clock)
    before = ledger.snapshot()
    ledger.report_success(worker, kid)
    ledger.report_failure(worker, kid, rate_limited())
    assert ledger.snapshot() == before


# --- configuration -----------------------------------------------------------------


def test_configure_keeps_counters_of_keys_that_stay(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.checkout("groq")
    ledger.report_success("groq", IDS[0])
    ledger.configure("groq", [SECRETS[2], SECRETS[0]])
    view = views_by_id(ledger)[IDS[0]]
    assert (view.requests, view.successes) == (1, 1)


def test_configure_keeps_blocks_of_keys_that_stay(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.report_failure("groq", IDS[0], rate_limited(60.0))
    ledger.configure("groq", SECRETS)
    assert ledger.next_unblock_in("groq") == 60.0


def test_configure_forgets_keys_no_longer_listed(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.configure("groq", SECRETS[1:])
    assert [v.key_id for v in ledger.snapshot()["groq"]] == list(IDS[1:])


def test_configure_drops_duplicates_and_blanks(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.configure("groq", [SECRETS[1], "", SECRETS[0], f" {SECRETS[1]} ", "  "])
    assert [v.key_id for v in ledger.snapshot()["groq"]] == [IDS[1], IDS[0]]


def test_remove_worker_forgets_its_keys(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.remove_worker("groq")
    ledger.remove_worker("never-configured")
    assert ledger.snapshot() == {}


# --- secrecy -----------------------------------------------------------------------


def test_snapshot_never_contains_a_secret(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    ledger.checkout("groq")
    ledger.report_failure("groq", IDS[0], rate_limited())
    text = repr(ledger.snapshot())
    assert not [s for s in SECRETS if s in text]


def test_lease_repr_never_contains_the_secret(clock: FakeClock) -> None:
    lease = make_ledger(clock).checkout("groq")
    assert SECRETS[0] not in repr(lease)
    assert SECRETS[0] not in str(lease)


def test_ledger_repr_never_contains_a_secret(clock: FakeClock) -> None:
    ledger = make_ledger(clock)
    assert not [s for s in SECRETS if s in repr(ledger)]


def test_probe_key_returns_a_usable_secret_without_counting_a_request():
    ledger = KeyLedger()
    ledger.configure("groq", ["gsk_first_secret_key_0001", "gsk_second_secret_key_002"])
    lease = ledger.checkout("groq")
    assert lease is not None
    ledger.report_failure(
        "groq", lease.key_id, UpstreamFailure(ErrorKind.RATE_LIMITED, "slow down", retry_after=60)
    )
    assert ledger.probe_key("groq") == "gsk_second_secret_key_002"
    counts = {v.masked: v.requests for v in ledger.snapshot()["groq"]}
    assert sum(counts.values()) == 1


def test_probe_key_is_none_when_every_key_is_blocked_or_the_worker_is_unknown():
    ledger = KeyLedger()
    ledger.configure("groq", ["gsk_only_secret_key_00001"])
    lease = ledger.checkout("groq")
    assert lease is not None
    ledger.report_failure("groq", lease.key_id, UpstreamFailure(ErrorKind.INVALID_KEY, "bad"))
    assert ledger.probe_key("groq") is None
    assert ledger.probe_key("nobody") is None

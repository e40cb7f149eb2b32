"""Tests of the key manager actor under a supervisor, reached by name through a Handle."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from actors.key_manager import KeyManagerActor
from actors.keys import KeyLease, KeyLedger, key_id
from actors.messages import CheckoutKey, ConfigureKeys, ForgetKeys, KeyUsed, UnblockKey
from actors.providers.errors import ErrorKind, UpstreamFailure
from supervisors import ChildSpec, Directory, Handle, RootLink, SupFlags, start_supervisor

WAIT = 5.0
SECRETS = ("sk-alpha-000000000001", "sk-bravo-000000000002")
ALPHA, BRAVO = (key_id(s) for s in SECRETS)
RATE_LIMITED = UpstreamFailure(ErrorKind.RATE_LIMITED, "slow down", status=429, retry_after=60.0)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(clock: FakeClock) -> KeyLedger:
    return KeyLedger(clock=clock)


@pytest.fixture
def keys(ledger: KeyLedger) -> Iterator[Handle]:
    """The key manager under a one-child root supervisor, with worker ``w`` configured."""
    directory, root = Directory(), RootLink("root")
    spec = ChildSpec("keys", lambda link: KeyManagerActor.start(link, ledger, sweep_interval=0.02))
    ref = start_supervisor("root", SupFlags(), [spec], root, directory)
    handle = Handle(directory, "keys")
    handle.ask(ConfigureKeys("w", SECRETS), timeout=WAIT)
    yield handle
    root.stop(ref, timeout=WAIT)


def checkout(keys: Handle, exclude: frozenset[str] = frozenset()) -> KeyLease | None:
    lease = keys.ask(CheckoutKey("w", exclude), timeout=WAIT)
    assert lease is None or isinstance(lease, KeyLease)
    return lease


def report(keys: Handle, kid: str, failure: UpstreamFailure | None) -> None:
    keys.tell(KeyUsed("w", kid, failure))


def test_checkout_hands_out_the_configured_keys_in_turn(keys: Handle) -> None:
    first, second = checkout(keys), checkout(keys)
    assert first is not None
    assert second is not None
    assert (first.secret, second.secret) == SECRETS


def test_checkout_skips_excluded_keys(keys: Handle) -> None:
    lease = checkout(keys, frozenset({ALPHA}))
    assert lease is not None
    assert lease.key_id == BRAVO


def test_checkout_of_an_unknown_worker_gives_none(keys: Handle) -> None:
    assert keys.ask(CheckoutKey("nobody"), timeout=WAIT) is None


def test_a_reported_success_is_counted(keys: Handle, ledger: KeyLedger) -> None:
    report(keys, ALPHA, None)
    checkout(keys)  # the ask comes after the tell, so the report is handled
    alpha = next(v for v in ledger.snapshot()["w"] if v.key_id == ALPHA)
    assert alpha.successes == 1


def test_a_rate_limited_key_is_blocked_and_skipped(keys: Handle) -> None:
    report(keys, ALPHA, RATE_LIMITED)
    leases = [checkout(keys), checkout(keys)]
    assert [lease.key_id for lease in leases if lease] == [BRAVO, BRAVO]


def test_checkout_gives_none_when_every_key_is_blocked(keys: Handle) -> None:
    report(keys, ALPHA, RATE_LIMITED)
    report(keys, BRAVO, RATE_LIMITED)
    assert checkout(keys) is None


def test_a_block_is_logged_with_the_key_id_and_never_the_secret(keys: Handle) -> None:
    with capture_logs() as logs:
        report(keys, ALPHA, RATE_LIMITED)
        checkout(keys)
    blocked = [e for e in logs if e["event"] == "key_blocked"]
    assert blocked == [
        {
            "event": "key_blocked",
            "log_level": "warning",
            "worker": "w",
            "key_id": ALPHA,
            "reason": "rate_limited",
            "retry_after": 60.0,
        }
    ]
    assert not any(secret in repr(logs) for secret in SECRETS)


def test_unblock_puts_a_blocked_key_back_into_rotation(keys: Handle) -> None:
    report(keys, ALPHA, RATE_LIMITED)
    report(keys, BRAVO, RATE_LIMITED)
    assert keys.ask(UnblockKey("w", ALPHA), timeout=WAIT) is True
    lease = checkout(keys)
    assert lease is not None
    assert lease.key_id == ALPHA


def test_unblock_of_a_key_that_is_not_blocked_answers_false(keys: Handle) -> None:
    assert keys.ask(UnblockKey("w", ALPHA), timeout=WAIT) is False


def test_the_timer_releases_expired_blocks_and_logs_it(
    keys: Handle, ledger: KeyLedger, clock: FakeClock
) -> None:
    with capture_logs() as logs:
        report(keys, ALPHA, RATE_LIMITED)
        checkout(keys)
        clock.now += 61.0
        deadline = time.monotonic() + WAIT
        while not any(e["event"] == "key_unblocked" for e in logs):
            assert time.monotonic() < deadline, "the sweep never released the key"
            time.sleep(0.01)
    unblocked = next(e for e in logs if e["event"] == "key_unblocked")
    assert (unblocked["worker"], unblocked["key_id"]) == ("w", ALPHA)
    assert ledger.available("w") == 2


def test_forget_keys_drops_the_worker(keys: Handle) -> None:
    keys.tell(ForgetKeys("w"))
    assert checkout(keys) is None


def test_configure_keys_replaces_the_key_list(keys: Handle) -> None:
    keys.ask(ConfigureKeys("w", ("sk-charlie-00000000003",)), timeout=WAIT)
    leases = [checkout(keys), checkout(keys)]
    assert {lease.secret for lease in leases if lease} == {"sk-charlie-00000000003"}

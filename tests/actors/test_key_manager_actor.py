"""Tests of the key manager actor under a supervisor, reached by name through a Handle.

The data plane leases keys and reports outcomes on the ledger itself; the actor configures,
forgets and unblocks keys and runs the timer that releases expired blocks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from actors.key_manager import KeyManagerActor
from actors.keys import KeyLease, KeyLedger, key_id
from actors.messages import ConfigureKeys, ForgetKeys, UnblockKey
from actors.outcomes import ErrorKind, UpstreamFailure
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


def checkout(ledger: KeyLedger, exclude: frozenset[str] = frozenset()) -> KeyLease | None:
    return ledger.checkout("w", exclude=exclude)


def block(ledger: KeyLedger, kid: str) -> None:
    ledger.report_failure("w", kid, RATE_LIMITED)


def test_unblock_puts_a_blocked_key_back_into_rotation(keys: Handle, ledger: KeyLedger) -> None:
    block(ledger, ALPHA)
    block(ledger, BRAVO)
    assert keys.ask(UnblockKey("w", ALPHA), timeout=WAIT) is True
    lease = checkout(ledger)
    assert lease is not None
    assert lease.key_id == ALPHA


def test_unblock_of_a_key_that_is_not_blocked_answers_false(keys: Handle) -> None:
    assert keys.ask(UnblockKey("w", ALPHA), timeout=WAIT) is False


def test_the_timer_releases_expired_blocks_and_logs_it(
    keys: Handle, ledger: KeyLedger, clock: FakeClock
) -> None:
    with capture_logs() as logs:
        block(ledger, ALPHA)
        clock.now += 61.0
        deadline = time.monotonic() + WAIT
        while not any(e["event"] == "key_unblocked" for e in logs):
            assert time.monotonic() < deadline, "the sweep never released the key"
            time.sleep(0.01)
    unblocked = next(e for e in logs if e["event"] == "key_unblocked")
    assert (unblocked["worker"], unblocked["key_id"]) == ("w", ALPHA)
    assert ledger.available("w") == 2


def test_forget_keys_drops_the_worker(keys: Handle, ledger: KeyLedger) -> None:
    keys.ask(ForgetKeys("w"), timeout=WAIT)
    assert checkout(ledger) is None


def test_configure_keys_replaces_the_key_list(keys: Handle, ledger: KeyLedger) -> None:
    keys.ask(ConfigureKeys("w", ("sk-charlie-00000000003",)), timeout=WAIT)
    leases = [checkout(ledger), checkout(ledger)]
    assert {lease.secret for lease in leases if lease} == {"sk-charlie-00000000003"}

"""The key manager actor: owner of the key ledger, its configuration and its timer.

All key state lives in a :class:`~actors.keys.KeyLedger` handed in by the tree, the way
OTP keeps an ETS table with an heir: when this actor crashes and restarts, blocks and usage
counts are still there. Like a public ETS table updated with ``ets:update_counter``, the
ledger is also written by the data plane: an attempt leases its key and reports how it
ended under the ledger's lock, by the ledger's own rules, in microseconds and without a
mailbox round trip per request (and a key stays leasable while this actor restarts). The
actor configures, forgets and unblocks keys, and its timer releases keys whose block has
passed; every release is logged with the masked key only.
"""

from __future__ import annotations

import structlog

from actors.keys import KeyLedger
from actors.messages import (
    ConfigureKeys,
    ForgetKeys,
    SetKeyRotation,
    UnblockExpired,
    UnblockKey,
)
from actors.ticker import Ticker
from supervisors import Link, SupervisedActor

log = structlog.get_logger("cortex.keys")


class KeyManagerActor(SupervisedActor):
    """Rotates, blocks and releases the API keys of every worker."""

    def __init__(self, link: Link, ledger: KeyLedger, *, sweep_interval: float = 1.0) -> None:
        super().__init__(link)
        self._ledger = ledger
        self._ticker = Ticker(self.actor_ref, sweep_interval, UnblockExpired)

    def on_start(self) -> None:
        """Start the periodic release of expired blocks."""
        self._ticker.start()

    def on_stop(self) -> None:
        """Stop the timer with the actor."""
        self._ticker.stop()

    def on_failure(self, *_: object) -> None:
        """Stop the timer when the actor crashes, so the next incarnation owns the only one."""
        self._ticker.stop()

    def on_receive(self, message: object) -> object:
        """Handle key administration and the timer's release of expired blocks."""
        match message:
            case ConfigureKeys(worker=worker, secrets=secrets):
                self._ledger.configure(worker, secrets)
            case ForgetKeys(worker=worker):
                self._ledger.remove_worker(worker)
            case UnblockKey(worker=worker, key_id=key_id):
                return self._ledger.unblock(worker, key_id)
            case SetKeyRotation(strategy=strategy):
                self._ledger.set_strategy(strategy)
            case UnblockExpired():
                for worker, key_id in self._ledger.unblock_expired():
                    log.info("key_unblocked", worker=worker, key_id=key_id)
            case _:
                return super().on_receive(message)
        return None

"""The key manager actor: the one place that decides which API key an attempt uses.

All key state lives in a :class:`~actors.keys.KeyLedger` handed in by the tree, the way
OTP keeps an ETS table with an heir: when this actor crashes and restarts, blocks and usage
counts are still there. A timer releases keys whose block has passed, and every block and
release is logged with the masked key only.
"""

from __future__ import annotations

import structlog

from actors.keys import KeyLedger
from actors.messages import (
    CheckoutKey,
    ConfigureKeys,
    ForgetKeys,
    KeyUsed,
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
        """Handle key checkouts, reports and administration."""
        match message:
            case CheckoutKey(worker=worker, exclude=exclude):
                return self._ledger.checkout(worker, exclude=exclude)
            case KeyUsed(worker=worker, key_id=key_id, failure=None):
                self._ledger.report_success(worker, key_id)
            case KeyUsed(worker=worker, key_id=key_id, failure=failure) if failure is not None:
                self._ledger.report_failure(worker, key_id, failure)
                if failure.blocks_key:
                    log.warning(
                        "key_blocked",
                        worker=worker,
                        key_id=key_id,
                        reason=failure.kind.value,
                        retry_after=failure.retry_after,
                    )
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

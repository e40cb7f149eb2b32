"""The provider actor: one per worker, the owner of that worker's health.

It never carries a client's stream (those run on the front's event loop) and never waits
on the network: it is told how attempts ended, starts a probe of its upstream's cheapest
endpoint on a timer (the probe runs on a thread of its own, see :mod:`actors.probe`, and
its result comes back as a message), decides the worker's
:class:`~actors.workers.HealthStatus` and circuit breaker, and publishes its
:class:`~actors.workers.WorkerHealth` to the board whenever that changes. Attempt counters
(requests, successes, in flight, latency) are not its business: the data plane keeps them
on the board, so the actor wakes for decisions, not for counters.

Status rules:

- a successful attempt or probe makes the worker ``available``;
- a worker-side failure (connect error, timeout, 5xx, overload, empty answer) makes it
  ``degraded`` and counts against its circuit breaker (:mod:`actors.breaker`), which
  keeps it out of plans while open; a failed probe makes it ``unavailable``;
- a probe that succeeds makes it ``available`` and lets an open breaker try at once;
- when no key of the worker is usable, it is ``rate_limited`` (or ``quota_exceeded``)
  until a key is released;
- a client's bad request, or a client that went away, says nothing about the worker (the
  data plane does not even tell).

After a crash the next incarnation starts from the last published health, so the breaker
and the status survive; the counters never depended on the actor.

In a fleet (``peers`` given) the breaker is shared, see :mod:`actors.fleet_breakers`: what
opens or closes here is told to the peers, what they send is applied without being told
back, and an open breaker waits for the fleet's grant before its trial.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from typing import Any

import pykka
import structlog

from actors.board import Board
from actors.breaker import Breaker, BreakerSettings
from actors.fleet_breakers import (
    BreakerClosedElsewhere,
    BreakerOpenedElsewhere,
    BreakerPeers,
    TrialGranted,
)
from actors.inventory import ModelInventory
from actors.messages import (
    AttemptEnded,
    AttemptsSucceeded,
    ProbeFinished,
    ProbeHealth,
    RefreshModels,
    WarmFinished,
)
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.probe import ProbeReply, ProbeResult, start_probes
from actors.redaction import Redactor, mask_key, scrub
from actors.ticker import Ticker
from actors.warming import Warmer
from actors.wire import InventoryWire, ProbeWire
from actors.workers import HealthStatus, WorkerConfig, WorkerHealth
from supervisors import Link, SupervisedActor

log = structlog.get_logger("cortex.provider")

UNAVAILABLE_PROBE_INTERVAL = 5.0
KEY_RECHECK_FLOOR = 0.2  # seconds: the soonest a worker with every key blocked is probed again

_KEY_STATUS = {
    ErrorKind.RATE_LIMITED: HealthStatus.RATE_LIMITED,
    ErrorKind.QUOTA_EXHAUSTED: HealthStatus.QUOTA_EXCEEDED,
    ErrorKind.INVALID_KEY: HealthStatus.UNAVAILABLE,
}


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeSettings:
    """How often and how patiently a provider actor probes its upstream, and its breaker.

    ``timeout`` bounds a whole probe: connecting, the headers and the body together.
    """

    interval: float = 30.0
    timeout: float = 5.0
    breaker: BreakerSettings = dataclasses.field(default_factory=BreakerSettings)


class ProviderActor(SupervisedActor):
    """Decides one worker's health and breaker from attempt outcomes and probes."""

    def __init__(
        self,
        link: Link,
        config: WorkerConfig,
        *,
        board: Board,
        adapter: ProbeWire,
        probe: ProbeSettings,
        usable_keys: Callable[[], int],
        probe_key: Callable[[], str | None],
        next_unblock_in: Callable[[], float | None] = lambda: None,
        redactor: Redactor | None = None,
        peers: BreakerPeers | None = None,
    ) -> None:
        super().__init__(link)
        self._peers = peers
        # The gateway's redactor: a probe's error text is stored on the board, shown on
        # unauthenticated endpoints and logged, so it is scrubbed of every secret first.
        self._redactor = redactor if redactor is not None else Redactor()
        self._config = config
        self._adapter = adapter
        self._board = board
        self._probe = probe
        self._usable_keys = usable_keys
        self._probe_key = probe_key
        self._next_unblock_in = next_unblock_in
        self._health = board.health(config.name) or WorkerHealth()
        self._clock = time.monotonic
        self._probe_ids = itertools.count(1)
        self._probing: int | None = None
        self._probe_masked: str | None = None  # the masked key the probe under way presents
        self._probe_again = False  # the models changed while a probe was under way
        self._warmer = Warmer(config, adapter, probe_key, self.actor_ref)
        self._ticker = Ticker(self.actor_ref, probe.interval, ProbeHealth, first_delay=0.0)

    def on_start(self) -> None:
        """Publish the starting health and begin probing at once."""
        self._board.publish_health(self._config.name, self._health)
        self._ticker.start()
        if self._peers is not None:
            self._peers.attach(self._config.name, self._deliver)

    def on_stop(self) -> None:
        """Stop probing; a probe under way ends by its own deadline and is ignored."""
        self._ticker.stop()
        if self._peers is not None:
            self._peers.detach(self._config.name, self._deliver)

    def on_failure(self, *_: object) -> None:
        """Stop probing when crashing; the next incarnation starts its own timer."""
        self.on_stop()

    def _deliver(self, message: object) -> None:
        """Hand the fleet's news to this actor; a stopped actor needs none."""
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            return

    def on_receive(self, message: object) -> object:
        """Update health from attempt outcomes and probes."""
        match message:
            case AttemptEnded(failure=failure):
                self._attempt_ended(failure)
            case AttemptsSucceeded(times=times):
                self._attempts_succeeded(times)
            case ProbeHealth():
                self._start_probe()
            case RefreshModels():
                self._refresh()
            case ProbeFinished(probe_id=probe_id, result=result, loaded=loaded) if (
                probe_id == self._probing
            ):
                self._probing = None
                self._probe_finished(result, loaded)
                if self._probe_again:
                    self._probe_again = False
                    self._start_probe()
            case ProbeFinished():
                return None
            case WarmFinished(model=model, result=result):
                if self._warmer.finished(model, result):
                    self._refresh()
            case BreakerOpenedElsewhere() | BreakerClosedElsewhere() | TrialGranted():
                self._fleet_news(message)
            case _:
                return super().on_receive(message)
        return None

    def _fleet_news(
        self, news: BreakerOpenedElsewhere | BreakerClosedElsewhere | TrialGranted
    ) -> None:
        """Apply what the fleet decided about this worker's breaker; never told back."""
        breaker = self._health.breaker
        match news:
            case BreakerOpenedElsewhere(cooldown_left=left, by=by):
                self._update(breaker=breaker.opened_elsewhere(self._clock(), left, by))
            case BreakerClosedElsewhere() if breaker.opened_at is not None:
                self._update(breaker=breaker.closed_elsewhere())
            case TrialGranted():
                self._update(breaker=breaker.granted(self._clock()))

    def _attempts_succeeded(self, times: tuple[float, ...]) -> None:
        """Record a batch of successes, each at the time it happened, as one update."""
        breaker = self._health.breaker.succeeded_at(times, self._probe.breaker)
        self._update(status=self._status_after_success(), breaker=self._shared(breaker))

    def _attempt_ended(self, failure: UpstreamFailure | None) -> None:
        if failure is None:
            self._update(
                status=self._status_after_success(),
                breaker=self._shared(
                    self._health.breaker.succeeded(self._clock(), self._probe.breaker)
                ),
            )
            return
        if failure.is_client_error:
            return
        breaker = self._health.breaker
        if not failure.blocks_key:
            breaker = breaker.failed(self._clock(), self._probe.breaker)
        self._update(
            last_error=f"{failure.kind.value}: {failure.message}"[:300],
            status=self._status_after_failure(failure),
            breaker=self._shared(breaker),
        )

    def _shared(self, breaker: Breaker) -> Breaker:
        """Tell the fleet that this instance's breaker opened or closed; gate a shared one.

        Only outcomes seen here come through this: a change the fleet sent is applied
        directly, so nothing received is ever published again.
        """
        peers, before = self._peers, self._health.breaker
        if peers is None or breaker.opened_at == before.opened_at:
            return breaker
        if breaker.opened_at is None:
            peers.closed(self._config.name)
            return breaker
        if peers.opened(self._config.name, self._probe.breaker.cooldown):
            return breaker.gate()
        return breaker

    def _status_after_success(self) -> HealthStatus:
        if self._config.needs_key and self._usable_keys() == 0:
            return self._health.status
        return HealthStatus.AVAILABLE

    def _status_after_failure(self, failure: UpstreamFailure) -> HealthStatus:
        if failure.blocks_key:
            if self._config.needs_key and self._usable_keys() == 0:
                self._look_again_when_a_key_frees()
                return _KEY_STATUS[failure.kind]
            return self._health.status
        if self._health.status is HealthStatus.AVAILABLE:
            return HealthStatus.DEGRADED
        return self._health.status

    def _look_again_when_a_key_frees(self) -> None:
        """Probe as soon as the earliest key block ends, not a whole probe period later.

        A worker whose keys are all blocked is left out of every plan, so nothing but a
        probe can bring it back; without this it would sit out up to ``interval`` seconds
        after its keys were usable again.
        """
        wait = self._next_unblock_in()
        if wait is not None and wait < self._probe.interval:
            self._ticker.tick_in(max(wait, KEY_RECHECK_FLOOR))

    def _start_probe(self) -> None:
        """Start a probe of the list-models endpoint on its own thread, unless one runs.

        The actor goes straight back to its mailbox; the result arrives as
        :class:`ProbeFinished`. A probe still under way (possible only when the timeout
        exceeds the interval) makes this tick a no-op, so probes never pile up.
        """
        if self._probing is not None:
            return
        config = self._config
        key = self._probe_key() if config.needs_key else None
        if config.needs_key and key is None:
            status = self._health.status
            if status in (HealthStatus.AVAILABLE, HealthStatus.DEGRADED):
                status = HealthStatus.RATE_LIMITED
            self._update(status=status, last_check=time.time())
            self._look_again_when_a_key_frees()
            return
        probe_id = self._probing = next(self._probe_ids)
        self._probe_masked = mask_key(key) if key else None
        ref = self.actor_ref

        def report(results: tuple[ProbeResult, ...]) -> None:
            loaded = results[1] if len(results) > 1 else None
            try:
                ref.tell(ProbeFinished(probe_id, results[0], loaded))
            except pykka.ActorDeadError:
                return  # the actor stopped while its probe ran; nobody needs the result

        calls = [self._adapter.models_call(config.base_url, key)]
        if isinstance(self._adapter, InventoryWire):
            calls.append(self._adapter.loaded_call(config.base_url, key))
        start_probes(
            calls,
            timeout=self._probe.timeout,
            done=report,
            name=f"probe-{config.name}",
        )

    def _probe_finished(self, result: ProbeResult, loaded: ProbeResult | None = None) -> None:
        """Judge a finished probe: a readable model list means the worker is up.

        A wire that reports its inventory also reads what is loaded from ``loaded``; when
        that call failed, nothing is taken to be loaded, which only costs a preference.
        """
        if isinstance(result, UpstreamFailure):
            self._probe_failed(result)
            return
        if result.status >= 400:
            failure = self._adapter.classify(result.status, result.headers, result.body)
            self._probe_failed(failure, self._probe_masked)
            return
        try:
            models = self._adapter.parse_models(result.body)
            inventory = self._inventory(result.body, loaded)
        except ValueError as exc:
            self._probe_failed(UpstreamFailure(ErrorKind.UPSTREAM_ERROR, str(exc)[:200]))
            return
        self._ticker.set_interval(self._probe.interval)
        if inventory is not None:
            self._warmer.warm(inventory)
        self._update(
            status=HealthStatus.AVAILABLE,
            discovered_models=models,
            inventory=inventory,
            last_check=time.time(),
            breaker=self._health.breaker.allow_trial_now(self._clock()),
        )

    def _refresh(self) -> None:
        """Probe now, or right after the probe under way (which may have read old models)."""
        self._probe_again = self._probing is not None
        self._start_probe()

    def _inventory(self, listing: bytes, loaded: ProbeResult | None) -> ModelInventory | None:
        """The inventory a probe read, or None for a wire that reports none.

        Raises:
            ValueError: the listing is not valid (a loaded list that is not is ignored).
        """
        if not isinstance(self._adapter, InventoryWire):
            return None
        body = loaded.body if isinstance(loaded, ProbeReply) and loaded.status < 400 else None
        try:
            return self._adapter.parse_inventory(listing, body)
        except ValueError:
            if body is None:
                raise
            return self._adapter.parse_inventory(listing, None)

    def _probe_failed(self, failure: UpstreamFailure, key: str | None = None) -> None:
        failure = scrub(failure, self._redactor, key)
        if failure.kind in _KEY_STATUS:
            status = _KEY_STATUS[failure.kind]
        else:
            status = HealthStatus.UNAVAILABLE
            self._ticker.set_interval(min(self._probe.interval, UNAVAILABLE_PROBE_INTERVAL))
        if status is not self._health.status:
            log.warning(
                "worker_status_changed",
                worker=self._config.name,
                status=status.value,
                reason=failure.kind.value,
            )
        self._update(
            status=status,
            last_error=f"probe {failure.kind.value}: {failure.message}"[:300],
            last_check=time.time(),
        )

    def _update(self, **changes: Any) -> None:  # noqa: ANN401 - replace() checks each field
        self._health = dataclasses.replace(self._health, **changes)
        self._board.publish_health(self._config.name, self._health)

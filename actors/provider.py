"""The provider actor: one per worker, the owner of that worker's health and statistics.

It never carries a client's stream (those run on the front's event loop); it is told when
attempts start and end, probes its upstream's cheapest endpoint on a timer, decides the
worker's :class:`~actors.workers.HealthStatus`, and publishes an immutable
:class:`~actors.workers.WorkerView` to the board whenever any of that changes.

Status rules:

- a successful attempt or probe makes the worker ``available``;
- a worker-side failure (connect error, timeout, 5xx, overload, empty answer) makes it
  ``degraded`` and counts against its circuit breaker (:mod:`actors.breaker`), which
  keeps it out of plans while open; a failed probe makes it ``unavailable``;
- a probe that succeeds makes it ``available`` and lets an open breaker try at once;
- when no key of the worker is usable, it is ``rate_limited`` (or ``quota_exceeded``)
  until a key is released;
- a client's bad request, or a client that went away, says nothing about the worker.

After a crash the next incarnation starts from the last published view, so statistics
survive; in-flight counts are kept too because the data plane reports every attempt's
end, including those that straddle the restart.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import requests
import structlog

from actors.board import Board
from actors.breaker import BreakerSettings
from actors.messages import AttemptEnded, AttemptStarted, ProbeHealth
from actors.providers.base import Adapter
from actors.providers.errors import ErrorKind, UpstreamFailure, is_redirect, redirect_failure
from actors.redaction import Redactor, mask_key, scrub
from actors.ticker import Ticker
from actors.workers import HealthStatus, WorkerConfig, WorkerView
from supervisors import Link, SupervisedActor

log = structlog.get_logger("cortex.provider")

LATENCY_SMOOTHING = 0.3
MAX_PROBE_BODY = 1_048_576
UNAVAILABLE_PROBE_INTERVAL = 5.0
KEY_RECHECK_FLOOR = 0.2  # seconds: the soonest a worker with every key blocked is probed again

_KEY_STATUS = {
    ErrorKind.RATE_LIMITED: HealthStatus.RATE_LIMITED,
    ErrorKind.QUOTA_EXHAUSTED: HealthStatus.QUOTA_EXCEEDED,
    ErrorKind.INVALID_KEY: HealthStatus.UNAVAILABLE,
}


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeSettings:
    """How often and how patiently a provider actor probes its upstream, and its breaker."""

    interval: float = 30.0
    timeout: float = 5.0
    breaker: BreakerSettings = dataclasses.field(default_factory=BreakerSettings)


class ProviderActor(SupervisedActor):
    """Tracks one worker's health, load and latency."""

    def __init__(
        self,
        link: Link,
        config: WorkerConfig,
        *,
        board: Board,
        adapter: Adapter,
        probe: ProbeSettings,
        usable_keys: Callable[[], int],
        probe_key: Callable[[], str | None],
        next_unblock_in: Callable[[], float | None] = lambda: None,
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__(link)
        # The gateway's redactor: a probe's error text is stored on the board, shown on
        # unauthenticated endpoints and logged, so it is scrubbed of every secret first.
        self._redactor = redactor if redactor is not None else Redactor()
        self._adapter = adapter
        self._board = board
        self._probe = probe
        self._usable_keys = usable_keys
        self._probe_key = probe_key
        self._next_unblock_in = next_unblock_in
        self._view = board.view(config.name) or WorkerView(config=config)
        self._view = dataclasses.replace(self._view, config=config)
        self._clock = time.monotonic
        self._http = requests.Session()
        self._ticker = Ticker(self.actor_ref, probe.interval, ProbeHealth, first_delay=0.0)

    def on_start(self) -> None:
        """Publish the starting view and begin probing at once."""
        self._board.publish(self._view)
        self._ticker.start()

    def on_stop(self) -> None:
        """Stop probing and release the probe's connections."""
        self._ticker.stop()
        self._http.close()

    def on_failure(self, *_: object) -> None:
        """Stop probing when crashing; the next incarnation starts its own timer."""
        self._ticker.stop()
        self._http.close()

    def on_receive(self, message: object) -> object:
        """Update state from attempt reports and probes."""
        match message:
            case AttemptStarted():
                self._update(in_flight=self._view.in_flight + 1, requests=self._view.requests + 1)
            case AttemptEnded(failure=failure, first_token_ms=first_token_ms, cancelled=True):
                self._update(in_flight=max(0, self._view.in_flight - 1))
            case AttemptEnded(failure=failure, first_token_ms=first_token_ms):
                self._attempt_ended(failure, first_token_ms)
            case ProbeHealth():
                self._run_probe()
            case _:
                return super().on_receive(message)
        return None

    def _attempt_ended(self, failure: UpstreamFailure | None, first_token_ms: float | None) -> None:
        in_flight = max(0, self._view.in_flight - 1)
        if failure is None:
            latency = self._view.latency_ms
            if first_token_ms is not None:
                latency = (
                    first_token_ms
                    if latency is None
                    else latency + LATENCY_SMOOTHING * (first_token_ms - latency)
                )
            self._update(
                in_flight=in_flight,
                successes=self._view.successes + 1,
                latency_ms=latency,
                status=self._status_after_success(),
                breaker=self._view.breaker.succeeded(self._clock(), self._probe.breaker),
            )
            return
        if failure.is_client_error:
            self._update(in_flight=in_flight)
            return
        breaker = self._view.breaker
        if not failure.blocks_key:
            breaker = breaker.failed(self._clock(), self._probe.breaker)
        self._update(
            in_flight=in_flight,
            failures=self._view.failures + 1,
            last_error=f"{failure.kind.value}: {failure.message}"[:300],
            status=self._status_after_failure(failure),
            breaker=breaker,
        )

    def _status_after_success(self) -> HealthStatus:
        if self._view.config.needs_key and self._usable_keys() == 0:
            return self._view.status
        return HealthStatus.AVAILABLE

    def _status_after_failure(self, failure: UpstreamFailure) -> HealthStatus:
        if failure.blocks_key:
            if self._view.config.needs_key and self._usable_keys() == 0:
                self._look_again_when_a_key_frees()
                return _KEY_STATUS[failure.kind]
            return self._view.status
        if self._view.status is HealthStatus.AVAILABLE:
            return HealthStatus.DEGRADED
        return self._view.status

    def _look_again_when_a_key_frees(self) -> None:
        """Probe as soon as the earliest key block ends, not a whole probe period later.

        A worker whose keys are all blocked is left out of every plan, so nothing but a
        probe can bring it back; without this it would sit out up to ``interval`` seconds
        after its keys were usable again.
        """
        wait = self._next_unblock_in()
        if wait is not None and wait < self._probe.interval:
            self._ticker.tick_in(max(wait, KEY_RECHECK_FLOOR))

    def _run_probe(self) -> None:
        """Probe the list-models endpoint, bounded by the probe timeout."""
        config = self._view.config
        key = self._probe_key() if config.needs_key else None
        if config.needs_key and key is None:
            status = self._view.status
            if status in (HealthStatus.AVAILABLE, HealthStatus.DEGRADED):
                status = HealthStatus.RATE_LIMITED
            self._update(status=status, last_check=time.time())
            self._look_again_when_a_key_frees()
            return
        call = self._adapter.models_call(config.base_url, key)
        try:
            response = self._http.request(
                call.method,
                call.url,
                headers=dict(call.headers),
                timeout=self._probe.timeout,
                allow_redirects=False,
            )
            body = response.content[:MAX_PROBE_BODY]
        except requests.Timeout:
            self._probe_failed(UpstreamFailure(ErrorKind.TIMEOUT, "health probe timed out"))
            return
        except requests.RequestException as exc:
            self._probe_failed(UpstreamFailure(ErrorKind.CONNECT_ERROR, type(exc).__name__))
            return
        if is_redirect(response.status_code):
            location = response.headers.get("Location")
            self._probe_failed(redirect_failure(response.status_code, location, call.url))
            return
        if response.status_code >= 400:
            headers = dict(response.headers)
            failure = self._adapter.classify(response.status_code, headers, body)
            self._probe_failed(failure, mask_key(key) if key else None)
            return
        try:
            models = self._adapter.parse_models(body)
        except ValueError as exc:
            self._probe_failed(UpstreamFailure(ErrorKind.UPSTREAM_ERROR, str(exc)[:200]))
            return
        self._ticker.set_interval(self._probe.interval)
        self._update(
            status=HealthStatus.AVAILABLE,
            discovered_models=models,
            last_check=time.time(),
            breaker=self._view.breaker.allow_trial_now(self._clock()),
        )

    def _probe_failed(self, failure: UpstreamFailure, key: str | None = None) -> None:
        failure = scrub(failure, self._redactor, key)
        if failure.kind in _KEY_STATUS:
            status = _KEY_STATUS[failure.kind]
        else:
            status = HealthStatus.UNAVAILABLE
            self._ticker.set_interval(min(self._probe.interval, UNAVAILABLE_PROBE_INTERVAL))
        if status is not self._view.status:
            log.warning(
                "worker_status_changed",
                worker=self._view.name,
                status=status.value,
                reason=failure.kind.value,
            )
        self._update(
            status=status,
            last_error=f"probe {failure.kind.value}: {failure.message}"[:300],
            last_check=time.time(),
        )

    def _update(self, **changes: Any) -> None:  # noqa: ANN401 - replace() checks each field
        self._view = dataclasses.replace(self._view, **changes)
        self._board.publish(self._view)

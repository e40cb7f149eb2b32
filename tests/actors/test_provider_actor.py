"""Tests of the provider actor: status rules, statistics and the health probe.

Each test runs a real ProviderActor; ``responses`` stands in for the upstream's model
listing, which the actor probes as soon as it starts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pykka
import pytest
import requests
import responses

from actors.board import Board
from actors.breaker import BreakerSettings, BreakerState
from actors.messages import AttemptEnded, AttemptStarted
from actors.provider import ProbeSettings, ProviderActor
from actors.providers.errors import ErrorKind, UpstreamFailure
from actors.providers.ollama import OllamaAdapter
from actors.providers.openai import OpenAIAdapter
from actors.workers import HealthStatus, ProviderType, WorkerConfig, WorkerView
from supervisors import Link, Ready

BASE_URL = "http://upstream.test/v1"
MODELS_URL = f"{BASE_URL}/models"
KEY = "sk-probe-key-0000000001"
CONFIG = WorkerConfig(
    name="openai", type=ProviderType.OPENAI, base_url=BASE_URL, api_keys=(KEY,), models=("m",)
)
WAIT = 5.0

TIMEOUT = UpstreamFailure(ErrorKind.TIMEOUT, "no answer")
RATE_LIMITED = UpstreamFailure(ErrorKind.RATE_LIMITED, "slow down", status=429)
QUOTA = UpstreamFailure(ErrorKind.QUOTA_EXHAUSTED, "no credit", status=429)
CLIENT_ERROR = UpstreamFailure(ErrorKind.BAD_REQUEST, "bad", status=400)


@dataclass
class Keys:
    """What the key ledger would answer the actor; tests change it as they go."""

    usable: int = 1
    probe: str | None = KEY
    unblock_in: float | None = None


class Provider:
    """A running provider actor and what it publishes."""

    def __init__(self, ref: pykka.ActorRef[ProviderActor], board: Board, name: str) -> None:
        self.ref = ref
        self.board = board
        self.name = name

    @property
    def view(self) -> WorkerView:
        view = self.board.view(self.name)
        assert view is not None
        return view

    def tell(self, *messages: object) -> WorkerView:
        """Tell each message, then wait until the actor has handled them all."""
        for message in messages:
            self.ref.tell(message)
        assert self.ref.ask(Ready(), timeout=WAIT) is True
        return self.view

    def wait_for(self, predicate: Callable[[WorkerView], bool]) -> WorkerView:
        deadline = time.monotonic() + WAIT
        while not predicate(self.view):
            assert time.monotonic() < deadline, f"timed out; last view {self.view!r}"
            time.sleep(0.005)
        return self.view

    def probed(self) -> WorkerView:
        return self.wait_for(lambda v: v.last_check is not None)


StartProvider = Callable[..., Provider]


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def board() -> Board:
    return Board()


@pytest.fixture
def start(upstream: responses.RequestsMock, keys: Keys, board: Board) -> Iterator[StartProvider]:
    """Start provider actors; each is stopped before the upstream mock goes away."""
    started: list[pykka.ActorRef[ProviderActor]] = []

    def run(config: WorkerConfig = CONFIG) -> Provider:
        board.put_config(config)
        adapter = OllamaAdapter() if config.type is ProviderType.OLLAMA else OpenAIAdapter()
        ref = ProviderActor.start(
            Link(config.name),
            config,
            board=board,
            adapter=adapter,
            probe=ProbeSettings(interval=60.0, timeout=1.0),
            usable_keys=lambda: keys.usable,
            probe_key=lambda: keys.probe,
            next_unblock_in=lambda: keys.unblock_in,
        )
        started.append(ref)
        return Provider(ref, board, config.name)

    yield run
    for ref in started:
        if ref.is_alive():
            ref.stop(block=True, timeout=WAIT)


@pytest.fixture
def available(upstream: responses.RequestsMock, start: StartProvider) -> Provider:
    """A provider whose first probe succeeded."""
    upstream.get(MODELS_URL, json={"data": [{"id": "m"}]})
    provider = start()
    assert provider.probed().status is HealthStatus.AVAILABLE
    return provider


def ended(failure: UpstreamFailure | None = None, ms: float | None = None) -> list[object]:
    return [AttemptStarted(), AttemptEnded(failure=failure, first_token_ms=ms)]


# --- the health probe ---------------------------------------------------------------


def test_a_successful_probe_makes_the_worker_available_with_the_models_it_listed(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, json={"data": [{"id": "m"}, {"id": "m-large"}]})
    view = start().probed()
    assert view.status is HealthStatus.AVAILABLE
    assert view.discovered_models == ("m", "m-large")
    assert view.models == ("m", "m-large")


def test_the_probe_sends_the_probe_key_as_a_bearer_token(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, json={"data": []})
    start().probed()
    assert upstream.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


def test_a_keyless_worker_probes_its_native_model_list(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get("http://gpu.test:11434/api/tags", json={"models": [{"name": "llama3.1:8b"}]})
    config = WorkerConfig(name="ollama", type=ProviderType.OLLAMA, base_url="http://gpu.test:11434")
    view = start(config).probed()
    assert (view.status, view.discovered_models) == (HealthStatus.AVAILABLE, ("llama3.1:8b",))


def test_a_probe_answered_429_marks_the_worker_rate_limited(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, status=429, json={"error": {"message": "slow down"}})
    view = start().probed()
    assert view.status is HealthStatus.RATE_LIMITED
    assert view.last_error == "probe rate_limited: slow down"


def test_a_probe_answered_401_marks_the_worker_unavailable(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, status=401, json={"error": {"message": "bad key"}})
    view = start().probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error is not None
    assert view.last_error.startswith("probe invalid_key")


def test_a_probe_that_cannot_connect_marks_the_worker_unavailable(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, body=requests.ConnectionError("refused"))
    view = start().probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error == "probe connect_error: ConnectionError"


def test_a_probe_that_times_out_marks_the_worker_unavailable(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, body=requests.ReadTimeout("slow"))
    view = start().probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error == "probe timeout: health probe timed out"


def test_a_probe_with_an_unreadable_model_list_marks_the_worker_unavailable(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, body="<html>not json</html>")
    view = start().probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error is not None
    assert view.last_error.startswith("probe upstream_error")


def test_without_a_usable_key_the_probe_marks_the_worker_rate_limited_without_a_call(
    upstream: responses.RequestsMock, start: StartProvider, keys: Keys
) -> None:
    keys.probe = None
    view = start().probed()
    assert view.status is HealthStatus.RATE_LIMITED
    assert len(upstream.calls) == 0


def test_a_probe_never_puts_the_key_in_the_published_error(
    upstream: responses.RequestsMock, start: StartProvider
) -> None:
    upstream.get(MODELS_URL, status=401, json={"error": {"message": "invalid"}})
    view = start().probed()
    assert KEY not in repr(view)


# --- attempts and status rules ------------------------------------------------------


def test_an_attempt_start_counts_a_request_in_flight(available: Provider) -> None:
    view = available.tell(AttemptStarted())
    assert (view.in_flight, view.requests) == (1, 1)


def test_an_attempt_end_releases_the_in_flight_slot_and_counts_a_success(
    available: Provider,
) -> None:
    view = available.tell(*ended())
    assert (view.in_flight, view.requests, view.successes, view.failures) == (0, 1, 1, 0)


def test_one_worker_side_failure_makes_the_worker_degraded(available: Provider) -> None:
    view = available.tell(*ended(TIMEOUT))
    assert view.status is HealthStatus.DEGRADED
    assert view.failures == 1
    assert view.last_error == "timeout: no answer"


def test_consecutive_worker_side_failures_open_the_breaker(available: Provider) -> None:
    threshold = BreakerSettings().failure_threshold
    for _ in range(threshold - 1):
        view = available.tell(*ended(TIMEOUT))
        assert view.breaker.state(time.monotonic()) is BreakerState.CLOSED
    view = available.tell(*ended(TIMEOUT))
    assert view.breaker.state(time.monotonic()) is BreakerState.OPEN
    assert view.status is HealthStatus.DEGRADED


def test_key_failures_do_not_count_against_the_breaker(available: Provider) -> None:
    for _ in range(BreakerSettings().failure_threshold + 1):
        view = available.tell(*ended(RATE_LIMITED))
    assert view.breaker.consecutive_failures == 0


def test_a_cancelled_attempt_only_frees_its_slot(available: Provider) -> None:
    view = available.tell(AttemptStarted(), AttemptEnded(cancelled=True))
    assert (view.in_flight, view.successes, view.failures) == (0, 0, 0)
    assert view.breaker.outcomes == ()


def test_a_success_makes_a_failing_worker_available_again(available: Provider) -> None:
    available.tell(*ended(TIMEOUT), *ended(TIMEOUT), *ended(TIMEOUT))
    assert available.tell(*ended()).status is HealthStatus.AVAILABLE


def test_a_success_closes_the_breaker_and_resets_its_count(available: Provider) -> None:
    available.tell(*ended(TIMEOUT), *ended(TIMEOUT))
    view = available.tell(*ended())
    assert view.breaker.consecutive_failures == 0
    assert view.breaker.state(time.monotonic()) is BreakerState.CLOSED


def test_a_rate_limit_with_no_usable_key_left_marks_the_worker_rate_limited(
    available: Provider, keys: Keys
) -> None:
    keys.usable = 0
    assert available.tell(*ended(RATE_LIMITED)).status is HealthStatus.RATE_LIMITED


def test_a_worker_whose_keys_all_rest_is_probed_again_as_soon_as_the_first_frees(
    upstream: responses.RequestsMock, available: Provider, keys: Keys
) -> None:
    keys.usable, keys.unblock_in = 0, 0.3
    checked = available.view.last_check
    assert available.tell(*ended(RATE_LIMITED)).status is HealthStatus.RATE_LIMITED

    keys.usable = 1
    view = available.wait_for(lambda v: v.last_check != checked)

    assert view.status is HealthStatus.AVAILABLE


def test_an_exhausted_quota_with_no_usable_key_left_marks_the_worker_quota_exceeded(
    available: Provider, keys: Keys
) -> None:
    keys.usable = 0
    assert available.tell(*ended(QUOTA)).status is HealthStatus.QUOTA_EXCEEDED


def test_a_key_failure_while_another_key_is_usable_keeps_the_status(
    available: Provider,
) -> None:
    view = available.tell(*ended(RATE_LIMITED))
    assert view.status is HealthStatus.AVAILABLE
    assert view.failures == 1


def test_key_failures_do_not_count_towards_unavailable(available: Provider) -> None:
    available.tell(*ended(TIMEOUT), *ended(TIMEOUT), *ended(RATE_LIMITED))
    assert available.view.status is HealthStatus.DEGRADED


def test_a_success_with_no_usable_key_keeps_the_key_status(available: Provider, keys: Keys) -> None:
    keys.usable = 0
    available.tell(*ended(RATE_LIMITED))
    assert available.tell(*ended()).status is HealthStatus.RATE_LIMITED


def test_a_client_error_changes_nothing_but_the_in_flight_slot(available: Provider) -> None:
    before = available.tell(*ended(TIMEOUT), AttemptStarted())
    after = available.tell(AttemptEnded(failure=CLIENT_ERROR))
    assert after == dataclasses.replace(before, in_flight=before.in_flight - 1)


def test_in_flight_never_goes_below_zero(available: Provider) -> None:
    assert available.tell(AttemptEnded(), AttemptEnded()).in_flight == 0


# --- latency ------------------------------------------------------------------------


def test_the_first_time_to_first_token_becomes_the_latency(available: Provider) -> None:
    assert available.tell(*ended(ms=100.0)).latency_ms == 100.0


def test_later_times_to_first_token_are_smoothed_into_the_latency(available: Provider) -> None:
    view = available.tell(*ended(ms=100.0), *ended(ms=200.0))
    assert view.latency_ms == pytest.approx(130.0)


def test_a_success_without_a_first_token_time_keeps_the_latency(available: Provider) -> None:
    assert available.tell(*ended(ms=100.0), *ended()).latency_ms == 100.0


def test_failures_do_not_change_the_latency(available: Provider) -> None:
    assert available.tell(*ended(ms=100.0), *ended(TIMEOUT, ms=900.0)).latency_ms == 100.0


# --- restarts -----------------------------------------------------------------------


def test_a_new_incarnation_starts_from_the_last_published_view(
    available: Provider, start: StartProvider
) -> None:
    first_check = available.tell(*ended(ms=50.0), *ended(TIMEOUT)).last_check
    available.ref.stop(block=True, timeout=WAIT)
    view = start().wait_for(lambda v: v.last_check != first_check)
    assert (view.requests, view.successes, view.failures, view.latency_ms) == (2, 1, 1, 50.0)

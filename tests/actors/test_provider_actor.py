"""Tests of the provider actor: status rules, the breaker and the health probe.

Each test runs a real ProviderActor against a simulated upstream on loopback, whose
model listing the actor probes as soon as it starts. Attempt counters are not the actor's
business (the data plane keeps them on the board; see ``test_board.py``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pykka
import pytest

from actors.board import Board
from actors.breaker import BreakerSettings, BreakerState
from actors.messages import AttemptEnded, AttemptsSucceeded, ProbeHealth
from actors.outcomes import ErrorKind, UpstreamFailure
from actors.provider import ProbeSettings, ProviderActor
from actors.workers import HealthStatus, WorkerConfig, WorkerView
from cortex.providers.ollama import OllamaAdapter
from cortex.providers.openai import OpenAIAdapter
from cortex.simulated import Fault, SimulatedOllama, SimulatedOpenAI
from supervisors import Link, Ready

KEY = "sk-probe-key-0000000001"
WAIT = 5.0
PROBE_TIMEOUT = 1.0

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
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("up", keys=(KEY,), models=("m", "m-large"), chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def board() -> Board:
    return Board()


def openai_config(upstream: SimulatedOpenAI) -> WorkerConfig:
    return WorkerConfig(
        name="openai",
        type="openai",
        base_url=upstream.base_url,
        api_keys=(KEY,),
        models=("m",),
    )


@pytest.fixture
def start(upstream: SimulatedOpenAI, keys: Keys, board: Board) -> Iterator[StartProvider]:
    """Start provider actors; each is stopped before the upstream goes away."""
    started: list[pykka.ActorRef[ProviderActor]] = []

    def run(config: WorkerConfig | None = None, timeout: float = PROBE_TIMEOUT) -> Provider:
        config = config or openai_config(upstream)
        board.put_config(config)
        adapter = OllamaAdapter() if config.type == "ollama" else OpenAIAdapter()
        ref = ProviderActor.start(
            Link(config.name),
            config,
            board=board,
            adapter=adapter,
            probe=ProbeSettings(interval=60.0, timeout=timeout),
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
def available(start: StartProvider) -> Provider:
    """A provider whose first probe succeeded."""
    provider = start()
    assert provider.probed().status is HealthStatus.AVAILABLE
    return provider


def probes(upstream: SimulatedOpenAI) -> int:
    return sum(1 for r in upstream.requests if r.path.endswith("/models"))


# --- the health probe ---------------------------------------------------------------


def test_a_successful_probe_makes_the_worker_available_with_the_models_it_listed(
    start: StartProvider,
) -> None:
    view = start().probed()
    assert view.status is HealthStatus.AVAILABLE
    assert view.discovered_models == ("m", "m-large")
    assert view.models == ("m", "m-large")


def test_the_probe_sends_the_probe_key_as_a_bearer_token(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    start().probed()
    assert upstream.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_keyless_worker_probes_its_native_model_list(start: StartProvider) -> None:
    with SimulatedOllama("gpu", models=("llama3.1:8b",)) as ollama:
        config = WorkerConfig(
            name="ollama", type="ollama", base_url=ollama.base_url, is_local=True, needs_key=False
        )
        view = start(config).probed()
    assert (view.status, view.discovered_models) == (HealthStatus.AVAILABLE, ("llama3.1:8b",))


def test_a_probe_answered_429_marks_the_worker_rate_limited(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.set_fault(Fault.RATE_LIMIT, probes=True)
    view = start().probed()
    assert view.status is HealthStatus.RATE_LIMITED
    assert view.last_error is not None
    assert view.last_error.startswith("probe rate_limited: ")


def test_a_probe_answered_401_marks_the_worker_unavailable(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.set_fault(Fault.UNAUTHORIZED, probes=True)
    view = start().probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error is not None
    assert view.last_error.startswith("probe invalid_key")


def test_a_probe_that_cannot_connect_marks_the_worker_unavailable(start: StartProvider) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = WorkerConfig(name="gone", type="openai", base_url=f"http://127.0.0.1:{port}/v1")
    view = start(config).probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error == "probe connect_error: ClientConnectorError"


def test_a_probe_that_gets_no_answer_times_out_and_marks_the_worker_unavailable(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.set_fault(Fault.HANG, probes=True)
    view = start(timeout=0.3).probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error == "probe timeout: health probe got no whole answer within 0.3s"


def test_a_drip_fed_answer_is_cut_at_the_probe_timeout_for_the_whole_exchange(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.drip_interval = 0.02  # every byte comes far sooner than any read timeout
    upstream.set_fault(Fault.DRIP_FEED, probes=True)
    began = time.time()
    view = start(timeout=0.5).probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error == "probe timeout: health probe got no whole answer within 0.5s"
    assert view.last_check is not None
    assert view.last_check - began >= 0.5


def test_the_actor_answers_at_once_and_stops_at_once_while_its_probe_hangs(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.set_fault(Fault.DRIP_FEED, probes=True)
    provider = start(timeout=60.0)
    upstream.wait_for_requests(1, timeout=WAIT)

    assert provider.ref.ask(Ready(), timeout=WAIT) is True
    provider.ref.stop(block=True, timeout=WAIT)
    assert provider.view.last_check is None


def test_a_probe_still_running_is_not_started_again(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.set_fault(Fault.HANG, probes=True)
    provider = start(timeout=60.0)
    upstream.wait_for_requests(1, timeout=WAIT)
    for _ in range(3):
        provider.ref.tell(ProbeHealth())
    provider.tell()
    assert probes(upstream) == 1


def test_a_probe_with_an_unreadable_model_list_marks_the_worker_unavailable(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.set_fault(Fault.EMPTY_STREAM, probes=True)
    view = start().probed()
    assert view.status is HealthStatus.UNAVAILABLE
    assert view.last_error is not None
    assert view.last_error.startswith("probe upstream_error")


def test_without_a_usable_key_the_probe_marks_the_worker_rate_limited_without_a_call(
    upstream: SimulatedOpenAI, start: StartProvider, keys: Keys
) -> None:
    keys.probe = None
    view = start().probed()
    assert view.status is HealthStatus.RATE_LIMITED
    assert probes(upstream) == 0


def test_a_probe_never_puts_the_key_in_the_published_error(
    upstream: SimulatedOpenAI, start: StartProvider
) -> None:
    upstream.set_fault(Fault.UNAUTHORIZED, probes=True)
    view = start().probed()
    assert KEY not in repr(view)


# --- attempts and status rules ------------------------------------------------------


def ended(failure: UpstreamFailure | None = None) -> AttemptEnded:
    return AttemptEnded(failure=failure)


def test_one_worker_side_failure_makes_the_worker_degraded(available: Provider) -> None:
    view = available.tell(ended(TIMEOUT))
    assert view.status is HealthStatus.DEGRADED
    assert view.last_error == "timeout: no answer"


def test_consecutive_worker_side_failures_open_the_breaker(available: Provider) -> None:
    threshold = BreakerSettings().failure_threshold
    for _ in range(threshold - 1):
        view = available.tell(ended(TIMEOUT))
        assert view.breaker.state(time.monotonic()) is BreakerState.CLOSED
    view = available.tell(ended(TIMEOUT))
    assert view.breaker.state(time.monotonic()) is BreakerState.OPEN
    assert view.status is HealthStatus.DEGRADED


def test_key_failures_do_not_count_against_the_breaker(available: Provider) -> None:
    for _ in range(BreakerSettings().failure_threshold + 1):
        view = available.tell(ended(RATE_LIMITED))
    assert view.breaker.consecutive_failures == 0


def test_a_success_makes_a_failing_worker_available_again(available: Provider) -> None:
    available.tell(ended(TIMEOUT), ended(TIMEOUT), ended(TIMEOUT))
    assert available.tell(ended()).status is HealthStatus.AVAILABLE


def test_a_success_closes_the_breaker_and_resets_its_count(available: Provider) -> None:
    available.tell(ended(TIMEOUT), ended(TIMEOUT))
    view = available.tell(ended())
    assert view.breaker.consecutive_failures == 0
    assert view.breaker.state(time.monotonic()) is BreakerState.CLOSED


def test_a_batch_of_successes_is_remembered_at_the_times_each_happened(
    available: Provider,
) -> None:
    available.tell(ended(TIMEOUT))
    now = time.monotonic()
    view = available.tell(AttemptsSucceeded((now - 0.3, now - 0.2, now - 0.1)))
    assert view.status is HealthStatus.AVAILABLE
    assert view.breaker.consecutive_failures == 0
    assert [at for at, ok in view.breaker.outcomes if ok] == [now - 0.3, now - 0.2, now - 0.1]
    assert [ok for _, ok in view.breaker.outcomes] == [False, True, True, True]


def test_a_rate_limit_with_no_usable_key_left_marks_the_worker_rate_limited(
    available: Provider, keys: Keys
) -> None:
    keys.usable = 0
    assert available.tell(ended(RATE_LIMITED)).status is HealthStatus.RATE_LIMITED


def test_a_worker_whose_keys_all_rest_is_probed_again_as_soon_as_the_first_frees(
    available: Provider, keys: Keys
) -> None:
    keys.usable, keys.unblock_in = 0, 0.3
    checked = available.view.last_check
    assert available.tell(ended(RATE_LIMITED)).status is HealthStatus.RATE_LIMITED

    keys.usable = 1
    view = available.wait_for(lambda v: v.last_check != checked)

    assert view.status is HealthStatus.AVAILABLE


def test_an_exhausted_quota_with_no_usable_key_left_marks_the_worker_quota_exceeded(
    available: Provider, keys: Keys
) -> None:
    keys.usable = 0
    assert available.tell(ended(QUOTA)).status is HealthStatus.QUOTA_EXCEEDED


def test_a_key_failure_while_another_key_is_usable_keeps_the_status(
    available: Provider,
) -> None:
    view = available.tell(ended(RATE_LIMITED))
    assert view.status is HealthStatus.AVAILABLE
    assert view.last_error == "rate_limited: slow down"


def test_key_failures_do_not_count_towards_unavailable(available: Provider) -> None:
    available.tell(ended(TIMEOUT), ended(TIMEOUT), ended(RATE_LIMITED))
    assert available.view.status is HealthStatus.DEGRADED


def test_a_success_with_no_usable_key_keeps_the_key_status(available: Provider, keys: Keys) -> None:
    keys.usable = 0
    available.tell(ended(RATE_LIMITED))
    assert available.tell(ended()).status is HealthStatus.RATE_LIMITED


def test_a_client_error_changes_nothing(available: Provider) -> None:
    before = available.tell(ended(TIMEOUT))
    assert available.tell(ended(CLIENT_ERROR)) == before


def test_the_actor_never_touches_the_attempt_counts(available: Provider) -> None:
    view = available.tell(ended(), ended(TIMEOUT))
    assert (view.requests, view.successes, view.failures, view.in_flight) == (0, 0, 0, 0)


# --- restarts -----------------------------------------------------------------------


def test_a_new_incarnation_starts_from_the_last_published_health(
    available: Provider, start: StartProvider
) -> None:
    threshold = BreakerSettings().failure_threshold
    before = available.tell(*[ended(TIMEOUT)] * threshold)
    available.ref.stop(block=True, timeout=WAIT)
    view = start().wait_for(lambda v: v.last_check != before.last_check)
    assert view.breaker.opened_at == before.breaker.opened_at
    assert view.breaker.consecutive_failures == threshold
    assert view.last_error == before.last_error

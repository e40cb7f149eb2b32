"""The probe's HTTP exchange against a simulated upstream: one deadline, a bounded body."""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Iterator

import pytest

from actors.outcomes import ErrorKind, UpstreamFailure
from actors.probe import ProbeReply, ProbeResult, probe, start_probe
from actors.wire import HttpCall
from cortex.simulated import Fault, SimulatedOpenAI

KEY = "sk-probe-key-0000000001"
WAIT = 5.0


@pytest.fixture
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("up", keys=(KEY,), models=("m",), chunk_delay=0.0) as server:
        yield server


def models_call(upstream: SimulatedOpenAI) -> HttpCall:
    return HttpCall("GET", f"{upstream.base_url}/models", {"Authorization": f"Bearer {KEY}"})


def test_an_answer_comes_back_with_its_status_headers_and_body(upstream: SimulatedOpenAI) -> None:
    result = asyncio.run(probe(models_call(upstream), timeout=WAIT))
    assert isinstance(result, ProbeReply)
    assert result.status == 200
    assert result.headers["Content-Type"].startswith("application/json")
    assert b'"id":"m"' in result.body.replace(b" ", b"")


def test_an_error_status_is_an_answer_for_the_adapter_to_classify(
    upstream: SimulatedOpenAI,
) -> None:
    upstream.set_fault(Fault.SERVER_ERROR, probes=True)
    result = asyncio.run(probe(models_call(upstream), timeout=WAIT))
    assert isinstance(result, ProbeReply)
    assert result.status == 500


def test_an_answer_longer_than_the_bound_fails_the_probe(upstream: SimulatedOpenAI) -> None:
    result = asyncio.run(probe(models_call(upstream), timeout=WAIT, max_body=16))
    assert result == UpstreamFailure(
        ErrorKind.UPSTREAM_ERROR, "health probe answer is larger than 16 bytes"
    )


def test_one_deadline_covers_a_body_that_never_ends(upstream: SimulatedOpenAI) -> None:
    upstream.drip_interval = 0.02
    upstream.set_fault(Fault.DRIP_FEED, probes=True)
    began = time.monotonic()
    result = asyncio.run(probe(models_call(upstream), timeout=0.4))
    assert time.monotonic() - began >= 0.4
    assert isinstance(result, UpstreamFailure)
    assert result.kind is ErrorKind.TIMEOUT


def test_a_started_probe_reports_once_from_a_daemon_thread(upstream: SimulatedOpenAI) -> None:
    results: queue.Queue[ProbeResult] = queue.Queue()
    thread = start_probe(models_call(upstream), timeout=WAIT, done=results.put)
    assert thread.daemon
    assert isinstance(results.get(timeout=WAIT), ProbeReply)
    thread.join(WAIT)
    assert results.empty()


def test_a_probe_that_cannot_even_build_its_request_still_reports() -> None:
    results: queue.Queue[ProbeResult] = queue.Queue()
    start_probe(HttpCall("GET", "not a url"), timeout=WAIT, done=results.put)
    assert results.get(timeout=WAIT) == UpstreamFailure(
        ErrorKind.CONNECT_ERROR, "InvalidUrlClientError"
    )

"""One health summary: ``/api/health`` and the library's ``health_status`` say the same."""

from __future__ import annotations

import time
from collections import Counter

import pykka
import pytest
import requests

import cortex
from cortex.config.settings import load_settings
from cortex.errors import AllUpstreamsFailed
from cortex.observability.health import system_health
from cortex.simulated import Fault, SimulatedOpenAI

KEY = "sk-health-summary-key-001"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "unhealthy"),
        (["available"], "healthy"),
        (["available", "available"], "healthy"),
        (["available", "unavailable"], "degraded"),
        (["degraded"], "degraded"),
        (["degraded", "degraded"], "degraded"),
        (["degraded", "rate_limited"], "degraded"),
        (["unavailable"], "unhealthy"),
        (["rate_limited", "invalid_key"], "unhealthy"),
    ],
)
def test_system_health_by_worker_statuses(statuses, expected):
    assert system_health(Counter(statuses), len(statuses)) == expected


@pytest.fixture
def upstream():
    with SimulatedOpenAI("health", keys=(KEY,), chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def gateway(upstream):
    settings = load_settings(
        environ={
            "OPENAI_API_KEYS": KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "CORTEX_PORT": "0",
            "CORTEX_RETRY_PASSES": "1",
        }
    )
    with cortex.start(settings, serve_http=True) as running:
        yield running
    pykka.ActorRegistry.stop_all(timeout=10)


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def over_http(gateway) -> dict:
    return requests.get(f"http://127.0.0.1:{gateway.port}/api/health", timeout=10).json()


def test_the_library_and_the_endpoint_agree_when_every_worker_is_available(gateway):
    wait_until(lambda: gateway.health_status()["last_health_check"] is not None)

    library = gateway.health_status()

    assert library == over_http(gateway)
    assert library["system_health"] == "healthy"
    assert library["workers_by_provider"] == {"openai": 1}


def test_with_only_degraded_workers_both_say_degraded(gateway, upstream):
    wait_until(lambda: gateway.health_status()["available_workers"] == 1)
    upstream.set_fault(Fault.SERVER_ERROR)
    with pytest.raises(AllUpstreamsFailed):
        list(gateway.chat([{"role": "user", "content": "fails"}]))
    upstream.clear_faults()
    wait_until(lambda: gateway.health_status()["workers_by_status"] == {"degraded": 1})

    library = gateway.health_status()

    assert library["system_health"] == "degraded"
    assert library == over_http(gateway)

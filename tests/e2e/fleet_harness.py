"""Helpers for fleet tests: daemons sharing one real redis-server, and bounded waits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import sseclient
from daemon_harness import providers_json

from cortex.simulated import SimulatedOpenAI

T = TypeVar("T")
CONVERGE = 10.0
"""Seconds a fleet-wide change may take to show before a test fails (the promise is 1 s)."""
BUDGET_MS = "250"
"""The tests' Redis budget: roomier than the default, for a machine shared by test runs."""


def fleet_env(
    redis_url: str, prefix: str, primary: SimulatedOpenAI, **extra: str
) -> dict[str, str]:
    """The environment of one instance of a test fleet."""
    return {
        "CORTEX_PROVIDERS": providers_json(primary),
        "CORTEX_REDIS_URL": redis_url,
        "CORTEX_REDIS_PREFIX": prefix,
        "CORTEX_REDIS_BUDGET_MS": BUDGET_MS,
        **extra,
    }


def eventually(read: Callable[[], T], good: Callable[[T], bool], timeout: float = CONVERGE) -> T:
    """``read()`` once ``good`` holds for it, polling; the last value fails the test if never."""
    deadline = time.monotonic() + timeout
    value = read()
    while not good(value):
        assert time.monotonic() < deadline, f"never converged; last seen: {value!r}"
        time.sleep(0.05)
        value = read()
    return value


def dashboard_state(daemon: Any) -> dict[str, Any]:
    """The first ``state`` event of the daemon's dashboard stream (bounded by the timeout)."""
    with requests.get(f"{daemon.url}/dashboard/events", stream=True, timeout=(5, 10)) as answer:
        for event in sseclient.SSEClient(answer.iter_content(chunk_size=None)).events():
            if event.event == "state":
                return dict(json.loads(event.data))
    raise AssertionError("the stream ended without a state event")


def fleet_ids(daemon: Any) -> set[str]:
    """The ids ``GET /api/fleet`` on ``daemon`` lists."""
    return {entry["id"] for entry in daemon.get("/api/fleet").json()["instances"]}

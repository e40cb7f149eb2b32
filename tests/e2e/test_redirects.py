"""A provider's redirect is never followed: not by a chat attempt, not by a health probe.

An HTTP client strips ``Authorization`` on a redirect to another origin but sends
``x-api-key`` (Anthropic) and ``x-goog-api-key`` (Gemini) on, so a followed 307 would hand
the key to whoever it names. Each test points the redirect at a second listener, a real
upstream of the same type that would answer a followed request, and checks that it
receives nothing while Cortex reports an upstream error naming the target's origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from admin_harness import wait_until

from cortex.simulated import Fault, SimulatedAnthropic, SimulatedGemini, SimulatedServer

ANTHROPIC_KEY = "ant_prefixless_key_0123456789"
GEMINI_KEY = "goog_prefixless_key_0123456789"
CASES = {
    "anthropic": (SimulatedAnthropic, ANTHROPIC_KEY, "claude-haiku-4-5"),
    "gemini": (SimulatedGemini, GEMINI_KEY, "gemini-2.5-flash"),
}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(params=sorted(CASES))
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, SimulatedServer, SimulatedServer]]:
    """A redirecting upstream and the listener it redirects to, both of one provider type."""
    factory, key, model = CASES[request.param]
    with (
        factory("redirector", keys=(key,), models=(model,), chunk_delay=0.0) as redirector,
        factory("trap", keys=(key,), models=(model,), chunk_delay=0.0) as trap,
    ):
        redirector.redirect_to = trap.url
        yield request.param, redirector, trap


def _environment(ptype: str, upstream: SimulatedServer) -> dict[str, str]:
    _, key, model = CASES[ptype]
    worker = {"type": ptype, "base_url": upstream.url, "api_keys": [key], "models": [model]}
    return {"CORTEX_PROVIDERS": json.dumps({"redirecting": worker}), "CORTEX_RETRY_PASSES": "0"}


def test_a_chat_attempt_does_not_follow_a_redirect_and_names_its_target(
    cortex_daemon: Any, pair: tuple[str, SimulatedServer, SimulatedServer]
) -> None:
    ptype, redirector, trap = pair
    redirector.set_fault(Fault.REDIRECT)
    daemon = cortex_daemon(_environment(ptype, redirector))

    response = daemon.post("/v1/chat/completions", json={"messages": HELLO})

    assert response.status_code == 502, response.text
    (attempt,) = response.json()["error"]["attempts"]
    assert attempt["reason"] == "upstream_error"
    assert f"a redirect to {trap.url};" in attempt["message"]
    assert [r.method for r in redirector.requests if r.method == "POST"] == ["POST"]
    assert trap.requests == []


def test_a_health_probe_does_not_follow_a_redirect_and_names_its_target(
    cortex_daemon: Any, pair: tuple[str, SimulatedServer, SimulatedServer]
) -> None:
    ptype, redirector, trap = pair
    redirector.set_fault(Fault.REDIRECT, probes=True)
    daemon = cortex_daemon(_environment(ptype, redirector))

    def probed() -> dict[str, Any] | None:
        (worker,) = daemon.get("/api/workers").json()["workers"]
        return worker if worker["last_error"] else None

    worker = wait_until(probed)

    assert worker["status"] == "unavailable"
    assert f"a redirect to {trap.url};" in worker["last_error"]
    assert redirector.requests
    assert trap.requests == []

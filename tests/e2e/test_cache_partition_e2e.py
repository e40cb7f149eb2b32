"""The response cache keeps each gateway key's answers apart, unless told to share them.

Without partitions, key B would get key A's answer, and ``X-Cortex-Cache: hit`` would tell
B that A had asked the same question.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cache_harness import chat_requests, deterministic, start_daemon
from daemon_harness import PRIMARY_KEYS, CortexProcess

from cortex.simulated import SimulatedOpenAI

ALICE = "gateway-key-alice-0000000001"
BOB = "gateway-key-bob-000000000002"


@pytest.fixture
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as server:
        yield server


def ask(daemon: CortexProcess, key: str, prompt: str, **extra: Any) -> str:
    """Ask as the holder of gateway key ``key``; return what ``X-Cortex-Cache`` said."""
    response = daemon.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={**deterministic(prompt), **extra},
    )
    assert response.status_code == 200, response.text
    return response.headers["X-Cortex-Cache"]


@pytest.mark.parametrize("stream", [False, True])
def test_one_gateway_key_never_gets_another_keys_cached_answer(
    tmp_path_factory: pytest.TempPathFactory, upstream: SimulatedOpenAI, stream: bool
) -> None:
    daemon = start_daemon(tmp_path_factory, upstream, CORTEX_API_KEYS=f"{ALICE},{BOB}")
    try:
        seen = [
            ask(daemon, key, "Who wrote Hamlet?", stream=stream) for key in (ALICE, BOB, ALICE, BOB)
        ]
    finally:
        daemon.stop()

    assert seen == ["miss", "miss", "hit", "hit"]
    assert len(chat_requests(upstream, "Who wrote Hamlet?")) == 2


def test_a_shared_cache_serves_every_gateway_key_from_one_answer(
    tmp_path_factory: pytest.TempPathFactory, upstream: SimulatedOpenAI
) -> None:
    daemon = start_daemon(
        tmp_path_factory, upstream, CORTEX_API_KEYS=f"{ALICE},{BOB}", CORTEX_CACHE_SHARED="1"
    )
    try:
        seen = [ask(daemon, key, "Who wrote Hamlet?") for key in (ALICE, BOB)]
    finally:
        daemon.stop()

    assert seen == ["miss", "hit"]
    assert len(chat_requests(upstream, "Who wrote Hamlet?")) == 1

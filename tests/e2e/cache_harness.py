"""Helpers for the response cache's daemon tests: daemons, questions and bounded waits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
from daemon_harness import CortexProcess, providers_json

from cortex.simulated import SimulatedOpenAI

WAIT = 10.0


def start_daemon(
    tmp_path_factory: pytest.TempPathFactory, upstream: SimulatedOpenAI, **env: str
) -> CortexProcess:
    """A daemon in front of ``upstream`` alone, with extra environment ``env``."""
    log = tmp_path_factory.mktemp("cache") / "cortex.log"
    return CortexProcess({"CORTEX_PROVIDERS": providers_json(upstream), **env}, log).wait_ready()


def openai_client(daemon: CortexProcess) -> openai.OpenAI:
    """The official SDK pointed at ``daemon``, with no retries of its own."""
    return openai.OpenAI(base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20)


def messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def deterministic(prompt: str) -> dict[str, object]:
    """A cacheable body (temperature 0) asking ``prompt``."""
    return {"messages": messages(prompt), "temperature": 0}


def chat_requests(server: SimulatedOpenAI, prompt: str) -> list[Any]:
    """The chat requests ``server`` received for ``prompt``."""
    return [
        r
        for r in server.requests
        if r.path.endswith("/chat/completions") and prompt in json.dumps(r.body)
    ]


def cache_stats(
    daemon: CortexProcess, until: Callable[[dict[str, Any]], bool] = lambda _: True
) -> dict[str, Any]:
    """The cache's stats, once ``until`` holds (stores and in-flight answers settle later)."""
    deadline = time.monotonic() + WAIT
    while True:
        stats: dict[str, Any] = daemon.get("/api/stats").json()["cache"]
        if until(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.01)


def settled(daemon: CortexProcess) -> dict[str, Any]:
    """The cache's stats once no answer is in flight: every finished answer is stored."""
    return cache_stats(daemon, until=lambda stats: stats["in_flight"] == 0)

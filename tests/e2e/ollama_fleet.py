"""Three simulated Ollama servers behind one daemon, and waits on what the daemon sees of them."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from daemon_harness import CortexProcess

from cortex.simulated import SimulatedOllama

_T = TypeVar("_T")
ADMIN_TOKEN = "admin-token-for-ollama-tests-0001"
WAIT = 10.0


@contextlib.contextmanager
def three_instances() -> Iterator[tuple[SimulatedOllama, SimulatedOllama, SimulatedOllama]]:
    """Three simulated instances with ``llama3.1:8b`` on disk; tests set the rest."""
    with (
        SimulatedOllama("one", models=("llama3.1:8b",), chunk_delay=0.0) as one,
        SimulatedOllama("two", models=("llama3.1:8b",), chunk_delay=0.0) as two,
        SimulatedOllama("three", models=("llama3.1:8b",), chunk_delay=0.0) as three,
    ):
        yield one, two, three


def fleet_env(servers: Iterable[SimulatedOllama], **extra: dict[str, Any]) -> dict[str, str]:
    """The environment of a daemon with one worker per server (``ollama-1`` ...).

    ``extra`` adds fields to a worker's entry, by worker name.
    """
    entries = {
        f"ollama-{index}": {
            "type": "ollama",
            "base_url": server.base_url,
            "models": ["llama3.1:8b"],
            "priority": index,
            "timeout": 5,
            **extra.get(f"ollama-{index}", {}),
        }
        for index, server in enumerate(servers, start=1)
    }
    return {
        "CORTEX_PROVIDERS": json.dumps(entries),
        "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
        "HEALTH_CHECK_INTERVAL": "30",
    }


def inventories(daemon: CortexProcess) -> dict[str, Any]:
    """Each worker's ``inventory`` as ``/api/workers`` shows it."""
    workers = daemon.get("/api/workers").json()["workers"]
    return {w["name"]: w["inventory"] for w in workers}


def wait_for(
    daemon: CortexProcess, holds: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """Poll ``/api/workers`` until ``holds`` is true of the inventories (bounded)."""
    return wait_until(lambda: inventories(daemon), holds, what)


def wait_until(read: Callable[[], _T], holds: Callable[[_T], bool], what: str) -> _T:
    """Poll ``read()`` until ``holds`` is true of it; fail after :data:`WAIT` seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        seen = read()
        if holds(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never held; last seen: {seen}")
        time.sleep(0.05)


def on_disk(inventory: dict[str, Any] | None) -> list[str]:
    """The names of an inventory's models on disk."""
    return [m["name"] for m in (inventory or {}).get("on_disk", [])]


def loaded(inventory: dict[str, Any] | None) -> list[str]:
    """The names of an inventory's loaded models."""
    return [m["name"] for m in (inventory or {}).get("loaded", [])]


def all_probed(seen: dict[str, Any]) -> bool:
    """Every worker has published an inventory."""
    return all(inventory is not None for inventory in seen.values())


def chat(daemon: CortexProcess, model: str) -> Any:
    """One non-streamed chat request for ``model``."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return daemon.post("/v1/chat/completions", json=body)

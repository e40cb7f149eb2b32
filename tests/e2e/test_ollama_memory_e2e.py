"""Ollama memory budgets through the daemon: unload the least recently used, refuse the huge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ollama_fleet import all_probed, chat, fleet_env, loaded, three_instances, wait_for

from cortex.simulated import SimulatedOllama

MIB = 1024 * 1024
MODELS = ("mistral:7b", "qwen2.5:7b", "gemma2:9b")


@pytest.fixture
def fleet() -> Iterator[tuple[SimulatedOllama, SimulatedOllama, SimulatedOllama]]:
    """The first instance holds three 3000 MiB models, two loaded (6000 of 8192 MiB)."""
    with three_instances() as (one, two, three):
        for server in (one, two, three):
            server.store.sizes.update({m: 3000 * MIB for m in MODELS})
            server.store.sizes["huge:70b"] = 9000 * MIB
        one.store.set_models(["llama3.1:8b", *MODELS, "huge:70b"], loaded=MODELS[:2])
        yield one, two, three


def upstream_calls(server: SimulatedOllama) -> list[str]:
    """The paths of the requests that would load or unload a model."""
    return [r.path for r in server.requests if r.path in ("/api/chat", "/api/generate")]


def test_the_least_recently_used_model_is_unloaded_before_one_that_does_not_fit(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    one = fleet[0]
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    # mistral was loaded first, but the gateway uses it now: qwen is the least recent.
    assert chat(daemon, "mistral:7b").status_code == 200
    one.reset()
    response = chat(daemon, "gemma2:9b")
    assert response.status_code == 200, response.text
    assert response.headers["X-Cortex-Worker"] == "ollama-1"
    assert one.store.unloads == ["qwen2.5:7b"]
    assert upstream_calls(one) == ["/api/generate", "/api/chat"]
    assert set(one.store.loaded) == {"mistral:7b", "gemma2:9b"}
    assert one.store.memory() <= 8192 * MIB
    # The worker read its models again: the new one shows as loaded without a timer.
    wait_for(
        daemon,
        lambda seen: set(loaded(seen["ollama-1"])) == {"mistral:7b", "gemma2:9b"},
        "the inventory shows the unload and the load",
    )


def test_an_instance_with_room_is_preferred_to_one_that_must_unload(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    one, two, _ = fleet
    two.store.set_models(["llama3.1:8b", "gemma2:9b"])
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "gemma2:9b")
    assert response.status_code == 200, response.text
    # ollama-1 comes first by priority, but would have had to unload a model.
    assert response.headers["X-Cortex-Worker"] == "ollama-2"
    assert one.store.unloads == []
    assert upstream_calls(one) == []


def test_a_model_larger_than_the_budget_is_refused_by_name_without_an_upstream_call(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "huge:70b")
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "'huge:70b'" in message
    assert "9000 MB" in message
    assert "8192 MB" in message
    for server in fleet:
        assert upstream_calls(server) == []
        assert server.store.unloads == []


def test_a_worker_of_its_own_budget_serves_what_the_default_budget_refuses(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    one, two, _ = fleet
    two.store.set_models(["llama3.1:8b", "huge:70b"])
    daemon = cortex_daemon(fleet_env(fleet, **{"ollama-2": {"max_memory_mb": 16384}}))
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "huge:70b")
    assert response.status_code == 200, response.text
    assert response.headers["X-Cortex-Worker"] == "ollama-2"
    assert upstream_calls(one) == []

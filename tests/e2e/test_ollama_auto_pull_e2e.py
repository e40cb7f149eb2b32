"""Auto-pull through the daemon: a model no instance has is pulled where there is room."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ollama_fleet import (
    all_probed,
    chat,
    fleet_env,
    on_disk,
    three_instances,
    wait_for,
    wait_until,
)

from cortex.simulated import SimulatedOllama

MIB = 1024 * 1024


@pytest.fixture
def fleet() -> Iterator[tuple[SimulatedOllama, SimulatedOllama, SimulatedOllama]]:
    """Three instances; the second has the most free memory (nothing loaded)."""
    with three_instances() as (one, two, three):
        one.store.set_models(["llama3.1:8b"], loaded=["llama3.1:8b"])
        three.store.set_models(["llama3.1:8b", "qwen2.5:7b"], loaded=["qwen2.5:7b"])
        yield one, two, three


def pulls(server: SimulatedOllama) -> list[str]:
    return [r.path for r in server.requests if r.path == "/api/pull"]


def test_without_auto_pull_a_missing_model_is_a_404_and_nothing_is_pulled(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "phi3:mini")
    assert response.status_code == 404
    assert "phi3:mini" in response.json()["error"]["message"]
    assert [pulls(server) for server in fleet] == [[], [], []]


def test_a_missing_model_is_pulled_where_there_is_room_and_answered_meanwhile(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    one, two, three = fleet
    two.store.pulls_paused = True
    daemon = cortex_daemon({**fleet_env(fleet), "OLLAMA_AUTO_PULL": "1"})
    wait_for(daemon, all_probed, "every instance probed")
    first = chat(daemon, "phi3:mini")
    assert first.status_code == 200, first.text
    # Answered by a worker's default model while the pull runs, and said so.
    assert first.json()["model"] == "llama3.1:8b"
    assert first.headers["X-Cortex-Model-Substituted"] == "phi3:mini"
    wait_until(lambda: pulls(two), lambda seen: seen == ["/api/pull"], "the pull on ollama-2")
    assert pulls(one) == pulls(three) == []
    # A second request while it runs starts no second pull.
    assert chat(daemon, "phi3:mini").status_code == 200
    assert pulls(two) == ["/api/pull"]
    two.store.pulls_paused = False
    wait_for(daemon, lambda seen: "phi3:mini" in on_disk(seen["ollama-2"]), "phi3 pulled")
    routed = chat(daemon, "phi3:mini")
    assert routed.status_code == 200, routed.text
    assert routed.headers["X-Cortex-Worker"] == "ollama-2"
    assert routed.json()["model"] == "phi3:mini"
    assert "X-Cortex-Model-Substituted" not in routed.headers


def test_a_request_pinned_to_an_instance_without_the_model_waits_for_its_pull(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    one, two, three = fleet
    daemon = cortex_daemon({**fleet_env(fleet), "OLLAMA_AUTO_PULL": "1"})
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "ollama-3/phi3:mini")
    assert response.status_code == 200, response.text
    assert response.headers["X-Cortex-Worker"] == "ollama-3"
    assert response.json()["model"] == "phi3:mini"
    assert pulls(three) == ["/api/pull"]
    assert three.store.has("phi3:mini")
    assert pulls(one) == pulls(two) == []

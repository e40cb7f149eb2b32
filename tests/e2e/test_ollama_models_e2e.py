"""Ollama model management through the daemon: three simulated servers, different models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sseclient
from ollama_fleet import (
    ADMIN_TOKEN,
    all_probed,
    chat,
    fleet_env,
    loaded,
    on_disk,
    wait_for,
    wait_until,
)

from cortex.simulated import SimulatedOllama


@pytest.fixture
def fleet() -> Iterator[tuple[SimulatedOllama, SimulatedOllama, SimulatedOllama]]:
    """Three instances: phi3 only on the second, qwen loaded on the third."""
    with (
        SimulatedOllama("one", models=("llama3.1:8b",), chunk_delay=0.0) as one,
        SimulatedOllama("two", models=("llama3.1:8b", "phi3:mini"), chunk_delay=0.0) as two,
        SimulatedOllama("three", models=("llama3.1:8b",), chunk_delay=0.0) as three,
    ):
        three.store.set_models(["llama3.1:8b", "qwen2.5:7b"], loaded=["llama3.1:8b"])
        yield one, two, three


def test_workers_show_each_instances_models_on_disk_and_loaded(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    daemon = cortex_daemon(fleet_env(fleet))
    seen = wait_for(daemon, all_probed, "every instance probed")
    assert on_disk(seen["ollama-2"]) == ["llama3.1:8b", "phi3:mini"]
    assert loaded(seen["ollama-3"]) == ["llama3.1:8b"]
    assert loaded(seen["ollama-1"]) == []
    (qwen,) = [m for m in seen["ollama-3"]["on_disk"] if m["name"] == "qwen2.5:7b"]
    assert qwen["size"] == fleet[2].store.size("qwen2.5:7b")
    assert (qwen["family"], qwen["parameter_size"]) == ("qwen", "7B")


def test_a_model_on_one_of_three_instances_goes_there_without_asking_the_others(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    for server in fleet:
        server.reset()
    response = chat(daemon, "phi3:mini")
    assert response.status_code == 200, response.text
    assert response.headers["X-Cortex-Worker"] == "ollama-2"
    assert response.json()["model"] == "phi3:mini"
    # The others were never asked (no 404 round trip): no chat reached them.
    for server in (fleet[0], fleet[2]):
        assert [r.path for r in server.requests if r.path == "/api/chat"] == []


def test_an_instance_with_the_model_loaded_is_preferred_to_one_with_it_on_disk(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    # ollama-1 comes first by priority, but only ollama-3 has the model in memory.
    response = chat(daemon, "llama3.1:8b")
    assert response.status_code == 200, response.text
    assert response.headers["X-Cortex-Worker"] == "ollama-3"


def test_a_model_no_instance_has_is_a_404_naming_it(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "mixtral:8x7b")
    assert response.status_code == 404
    assert "mixtral:8x7b" in response.json()["error"]["message"]
    assert all(r.path != "/api/chat" for server in fleet for r in server.requests)


def test_a_missing_model_falls_back_to_a_similar_one_when_the_worker_allows_it(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    fleet[0].store.set_models(["llama3.1:latest"])
    daemon = cortex_daemon(fleet_env(fleet, **{"ollama-1": {"similar_models": True}}))
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "llama3.1:70b")
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "llama3.1:latest"
    assert response.headers["X-Cortex-Model-Substituted"] == "llama3.1:70b"
    assert response.headers["X-Cortex-Worker"] == "ollama-1"
    streamed = daemon.post(
        "/v1/chat/completions",
        json={
            "model": "llama3.1:70b",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert streamed.headers["X-Cortex-Model-Substituted"] == "llama3.1:70b"
    assert '"model":"llama3.1:latest"' in streamed.text.replace(" ", "")
    (line, *_) = [
        e for e in daemon.events("request") if e.get("model_substituted") == "llama3.1:70b"
    ]
    assert line["worker"] == "ollama-1"


def test_a_missing_model_is_a_404_naming_it_when_no_worker_allows_a_stand_in(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    fleet[0].store.set_models(["llama3.1:latest"])
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")
    response = chat(daemon, "llama3.1:70b")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert "llama3.1:70b" in response.json()["error"]["message"]
    assert "X-Cortex-Model-Substituted" not in response.headers


def test_warm_models_are_loaded_at_start_and_loaded_again_when_dropped(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    env = fleet_env(fleet, **{"ollama-3": {"warm": ["qwen2.5:7b", "not-pulled:1b"]}})
    daemon = cortex_daemon({**env, "HEALTH_CHECK_INTERVAL": "0.2"})
    wait_for(daemon, lambda seen: "qwen2.5:7b" in loaded(seen["ollama-3"]), "qwen2.5 loaded")
    (warm, *_) = [r for r in fleet[2].requests if r.path == "/api/generate"]
    assert warm.body == {"model": "qwen2.5:7b", "keep_alive": -1, "stream": False}
    # The server drops it (a restart, memory pressure): the next probe loads it again.
    fleet[2].store.set_models(["llama3.1:8b", "qwen2.5:7b"], loaded=[])
    loads = wait_until(
        lambda: [r.body["model"] for r in fleet[2].requests if r.path == "/api/generate"],
        lambda models: models.count("qwen2.5:7b") >= 2,
        "a second warm-up",
    )
    assert "not-pulled:1b" not in loads
    assert fleet[2].store.loaded == ("qwen2.5:7b",)
    assert daemon.events("model_warmed")


def test_the_dashboard_shows_each_instances_models_and_which_are_loaded(
    fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any
) -> None:
    daemon = cortex_daemon(fleet_env(fleet))
    wait_for(daemon, all_probed, "every instance probed")

    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with requests.get(
        f"{daemon.url}/dashboard/events", headers=auth, stream=True, timeout=(5, 10)
    ) as answer:
        events = sseclient.SSEClient(answer.iter_content(chunk_size=None)).events()
        state = next(json.loads(e.data) for e in events if e.event == "state")
    models = {w["name"]: w["models"] for w in state["workers"]}

    assert {"name": "llama3.1:8b", "loaded": True} in models["ollama-3"]
    assert [m["name"] for m in models["ollama-2"]] == ["llama3.1:8b", "phi3:mini"]
    assert not any(m["loaded"] for m in models["ollama-1"])
    page = daemon.get("/dashboard", headers=auth).text
    assert "<th>models</th>" in page
    assert "(loaded)" in page

"""Pulling and deleting Ollama models through the daemon's admin API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from daemon_harness import run_cortex
from ollama_fleet import ADMIN_TOKEN, all_probed, chat, fleet_env, on_disk, wait_for

from cortex.simulated import SimulatedOllama

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def fleet() -> Iterator[tuple[SimulatedOllama, SimulatedOllama, SimulatedOllama]]:
    with (
        SimulatedOllama("one", models=("llama3.1:8b",), chunk_delay=0.0) as one,
        SimulatedOllama("two", models=("llama3.1:8b",), chunk_delay=0.0) as two,
        SimulatedOllama("three", models=("qwen2.5:7b",), chunk_delay=0.0) as three,
    ):
        yield one, two, three


@pytest.fixture
def daemon(fleet: tuple[SimulatedOllama, ...], cortex_daemon: Any) -> Any:
    started = cortex_daemon(fleet_env(fleet))
    wait_for(started, all_probed, "every instance probed")
    return started


def pull(daemon: Any, worker: str, model: str, **kwargs: Any) -> requests.Response:
    return requests.post(
        f"{daemon.url}/admin/ollama/{worker}/pull",
        json={"model": model},
        timeout=20,
        **{"headers": ADMIN, **kwargs},
    )


def test_a_pull_streams_progress_to_success_and_the_model_is_routable_at_once(
    fleet: tuple[SimulatedOllama, ...], daemon: Any
) -> None:
    assert chat(daemon, "phi3:mini").status_code == 404
    response = pull(daemon, "ollama-2", "phi3:mini", stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in response.iter_lines() if line]
    assert events[0] == {"status": "pulling manifest"}
    downloads = [e for e in events if "total" in e]
    assert downloads[-1]["completed"] == downloads[-1]["total"] == fleet[1].store.size("phi3:mini")
    assert events[-1] == {"status": "success"}
    # No restart, no wait: the stream ended once the worker's models were read again.
    answer = chat(daemon, "phi3:mini")
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Cortex-Worker"] == "ollama-2"
    assert "phi3:mini" in on_disk(wait_for(daemon, all_probed, "probed")["ollama-2"])


def test_a_pull_the_registry_refuses_streams_its_error(
    fleet: tuple[SimulatedOllama, ...], daemon: Any
) -> None:
    fleet[0].store.registry = frozenset({"phi3:mini"})
    response = pull(daemon, "ollama-1", "nosuch:1b")
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[-1] == {"error": "pull model manifest: file does not exist"}
    assert chat(daemon, "nosuch:1b").status_code == 404


def test_delete_removes_the_model_and_routing_stops_at_once(
    fleet: tuple[SimulatedOllama, ...], daemon: Any
) -> None:
    response = requests.delete(
        f"{daemon.url}/admin/ollama/ollama-3/models/qwen2.5:7b", headers=ADMIN, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"worker": "ollama-3", "deleted": "qwen2.5:7b", "refreshed": True}
    assert fleet[2].store.on_disk == ()
    assert chat(daemon, "qwen2.5:7b").status_code == 404
    again = requests.delete(
        f"{daemon.url}/admin/ollama/ollama-3/models/qwen2.5:7b", headers=ADMIN, timeout=10
    )
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/admin/ollama/ollama-1/pull"), ("DELETE", "/admin/ollama/ollama-1/models/m")],
)
def test_both_need_the_admin_token(daemon: Any, method: str, path: str) -> None:
    response = requests.request(method, daemon.url + path, json={"model": "m"}, timeout=10)
    assert response.status_code == 401


def test_an_unknown_worker_is_404_and_a_bad_body_is_400(daemon: Any) -> None:
    assert pull(daemon, "nobody", "phi3").json()["error"]["code"] == "unknown_worker"
    bad = requests.post(
        f"{daemon.url}/admin/ollama/ollama-1/pull", json={"name": 3}, headers=ADMIN, timeout=10
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_model")


def test_the_cli_pulls_with_plain_progress_lines_and_deletes(
    fleet: tuple[SimulatedOllama, ...], daemon: Any
) -> None:
    env = {"CORTEX_URL": daemon.url, "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}
    pulled = run_cortex("ollama", "pull", "ollama-1", "gemma2:2b", env=env)
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    assert lines[0] == "pulling manifest"
    assert any(line.endswith("GB") and "100%" in line for line in lines)
    assert lines[-1] == "pulled gemma2:2b onto ollama-1"
    assert "\r" not in pulled.stdout
    assert chat(daemon, "gemma2:2b").headers["X-Cortex-Worker"] == "ollama-1"
    deleted = run_cortex("ollama", "delete", "ollama-1", "gemma2:2b", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "deleted gemma2:2b from ollama-1"
    assert "gemma2:2b" not in fleet[0].store.on_disk
    missing = run_cortex("ollama", "delete", "ollama-1", "gemma2:2b", env=env)
    assert missing.returncode == 1
    assert "model_not_found" in missing.stderr

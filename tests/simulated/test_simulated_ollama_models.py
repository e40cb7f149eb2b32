"""SimulatedOllama's model store (ps, pull, delete, load-only generate), checked with the SDK."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from cortex.simulated import SimulatedOllama

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[SimulatedOllama]:
    with SimulatedOllama("store", models=("llama3.1:8b",), chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def client(server: SimulatedOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=server.base_url, timeout=5) as client:
        yield client


def test_ps_lists_the_loaded_models_with_sizes(
    server: SimulatedOllama, client: ollama.Client
) -> None:
    server.store.set_models(["llama3.1:8b", "qwen2.5:0.5b"], loaded=["qwen2.5:0.5b"])
    loaded = client.ps().models
    assert [m.name for m in loaded] == ["qwen2.5:0.5b"]
    assert loaded[0].size == loaded[0].size_vram == server.store.size("qwen2.5:0.5b")
    assert loaded[0].expires_at is not None


def test_a_chat_loads_its_model(server: SimulatedOllama, client: ollama.Client) -> None:
    assert client.ps().models == []
    client.chat(model="llama3.1:8b", messages=HELLO, stream=False)
    assert [m.name for m in client.ps().models] == ["llama3.1:8b"]


def test_tags_report_family_and_size_from_the_name(client: ollama.Client) -> None:
    (model,) = client.list().models
    assert model.details is not None
    assert (model.details.family, model.details.parameter_size) == ("llama", "8B")
    assert model.size is not None
    assert model.size > 4_000_000_000


def test_pull_streams_progress_then_success_and_lists_the_model(
    server: SimulatedOllama, client: ollama.Client
) -> None:
    progress = list(client.pull("phi3:mini", stream=True))
    assert progress[0].status == "pulling manifest"
    layers = [p for p in progress if p.digest]
    assert [p.completed for p in layers] == sorted(p.completed or 0 for p in layers)
    assert layers[-1].completed == layers[-1].total == server.store.size("phi3:mini")
    assert [p.status for p in progress[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    assert "phi3:mini" in [m.model for m in client.list().models]


def test_pull_without_streaming_answers_success_once(client: ollama.Client) -> None:
    assert client.pull("gemma2:2b").status == "success"
    assert "gemma2:2b" in [m.model for m in client.list().models]


def test_pull_of_a_name_the_registry_lacks_ends_in_an_error(
    server: SimulatedOllama, client: ollama.Client
) -> None:
    server.store.registry = frozenset({"phi3:mini"})
    with pytest.raises(ollama.ResponseError, match="file does not exist"):
        list(client.pull("nosuchmodel:1b", stream=True))
    assert [m.model for m in client.list().models] == ["llama3.1:8b"]


def test_delete_removes_a_model_and_a_second_delete_is_404(client: ollama.Client) -> None:
    assert client.delete("llama3.1:8b").status == "success"
    assert client.list().models == []
    with pytest.raises(ollama.ResponseError) as caught:
        client.delete("llama3.1:8b")
    assert caught.value.status_code == 404


def test_a_name_without_tag_is_its_latest(server: SimulatedOllama, client: ollama.Client) -> None:
    server.store.set_models(["mistral:latest"])
    assert client.chat(model="mistral", messages=HELLO, stream=False).done is True


def test_generate_without_prompt_only_loads_the_model(client: ollama.Client) -> None:
    answer = client.generate(model="llama3.1:8b", keep_alive="30m")
    assert (answer.done, answer.done_reason, answer.response) == (True, "load", "")
    assert [m.name for m in client.ps().models] == ["llama3.1:8b"]

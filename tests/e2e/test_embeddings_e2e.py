"""``POST /v1/embeddings`` through a real daemon, with the official openai SDK as the client.

For each provider type with embeddings (OpenAI, Gemini, Cohere, Ollama) one daemon runs in
front of two simulated upstreams of that type that serve an embedding model (``primary``
first, ``backup`` second) and a chat-only Anthropic worker placed before both, which must
never be asked for embeddings. Each test checks what the SDK got and what the upstreams
received in their own format. Inputs are unique per test, so the response cache (on by
default) never answers a test from another's request unless the test means it to.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
import requests
from daemon_harness import CortexProcess

from cortex.simulated import (
    Fault,
    RecordedRequest,
    SimulatedAnthropic,
    SimulatedCohere,
    SimulatedGemini,
    SimulatedOllama,
    SimulatedOpenAI,
    SimulatedServer,
)
from cortex.simulated.embedding import vector

SETTLE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class EmbeddingCase:
    """One provider type with embeddings: its fake, key shape, model and upstream path."""

    type: str
    factory: Callable[..., SimulatedServer]
    key_prefix: str
    model: str
    path: str

    def keys(self, role: str) -> tuple[str, ...]:
        """Two keys for ``role``'s upstream; none for Ollama."""
        if not self.key_prefix:
            return ()
        return tuple(f"{self.key_prefix}{role}-embed-key-{n}-000000{n}" for n in (1, 2))


CASES = {
    case.type: case
    for case in (
        EmbeddingCase("openai", SimulatedOpenAI, "sk-", "text-embedding-3-small", "/v1/embeddings"),
        EmbeddingCase(
            "gemini",
            SimulatedGemini,
            "AIza",
            "gemini-embedding-001",
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        ),
        EmbeddingCase("cohere", SimulatedCohere, "co-", "embed-v4.0", "/v2/embed"),
        EmbeddingCase("ollama", SimulatedOllama, "", "nomic-embed-text", "/api/embed"),
    )
}


@dataclass(slots=True)
class Stage:
    """One type's daemon, its upstreams and a client."""

    case: EmbeddingCase
    primary: SimulatedServer
    backup: SimulatedServer
    chat_only: SimulatedAnthropic
    daemon: CortexProcess
    client: openai.OpenAI

    def posts(self, server: SimulatedServer) -> list[RecordedRequest]:
        """The non-probe requests ``server`` received."""
        return [r for r in server.requests if r.method == "POST"]

    def settle(self) -> None:
        """No faults, empty logs, nothing in flight."""
        for server in (self.primary, self.backup, self.chat_only):
            server.reset()
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            workers = self.daemon.get("/api/workers").json()["workers"]
            if all(w["in_flight"] == 0 for w in workers):
                return
            time.sleep(0.02)
        pytest.fail("attempts still in flight after the test")


def _entry(case: EmbeddingCase, server: SimulatedServer, role: str, priority: int) -> Any:
    entry: dict[str, Any] = {
        "type": case.type,
        "base_url": server.base_url,
        "embedding_models": [case.model],
        "priority": priority,
        "timeout": 5,
    }
    if case.key_prefix:
        entry["api_keys"] = list(case.keys(role))
    else:
        entry["models"] = ["llama3.1:8b"]
    return entry


@pytest.fixture(scope="module", params=sorted(CASES))
def stage_daemon(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    """One daemon per provider type, shared by that type's tests."""
    case = CASES[request.param]
    log_dir = tmp_path_factory.mktemp(f"embeddings-{case.type}")
    servers = [
        case.factory(role, keys=case.keys(role), chunk_delay=0.0) for role in ("primary", "backup")
    ]
    chat_only = SimulatedAnthropic(
        "chat-only", keys=("sk-ant-chat-only-key-0000001",), chunk_delay=0.0
    )
    with servers[0] as primary, servers[1] as backup, chat_only:
        providers = {
            "chat-only": {
                "type": "anthropic",
                "base_url": chat_only.base_url,
                "api_keys": list(chat_only.keys),
                "priority": 0,
            },
            "primary": _entry(case, primary, "primary", 1),
            "backup": _entry(case, backup, "backup", 2),
        }
        env = {
            "HEALTH_CHECK_INTERVAL": "300",
            "CORTEX_REQUEST_TIMEOUT": "20",
            "CORTEX_PROVIDERS": json.dumps(providers),
            "CORTEX_ROUTES": json.dumps(
                {"vectors": [f"backup/{case.model}", f"primary/{case.model}"]}
            ),
        }
        daemon = CortexProcess(env, log_dir / "cortex.log")
        try:
            daemon.wait_ready()
            with openai.OpenAI(
                base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20
            ) as client:
                yield Stage(case, primary, backup, chat_only, daemon, client)
        finally:
            daemon.stop()


@pytest.fixture
def stage(stage_daemon: Stage) -> Iterator[Stage]:
    """The type's daemon, settled before and after each test."""
    stage_daemon.settle()
    yield stage_daemon
    stage_daemon.settle()


def texts(tag: str, count: int = 2) -> list[str]:
    """Inputs unique to one test."""
    return [f"{tag} text number {n}" for n in range(count)]


def close(got: list[float], want: list[float]) -> bool:
    """Equal within float32 precision (what base64 carries)."""
    return len(got) == len(want) and all(
        math.isclose(a, b, abs_tol=1e-6) for a, b in zip(got, want, strict=True)
    )


def test_a_list_of_texts_comes_back_as_floats_in_order_with_dimensions(stage: Stage) -> None:
    inputs = texts("floats")
    raw = stage.client.embeddings.with_raw_response.create(
        model=stage.case.model, input=inputs, encoding_format="float", dimensions=3
    )
    result = raw.parse()
    assert [item.embedding for item in result.data] == [vector(text, 3) for text in inputs]
    assert [item.index for item in result.data] == [0, 1]
    assert result.model == stage.case.model
    assert raw.headers["X-Cortex-Worker"] == "primary"
    (sent,) = stage.posts(stage.primary)
    assert sent.path == stage.case.path
    assert sent.body is not None
    if stage.case.type == "gemini":
        assert [r["outputDimensionality"] for r in sent.body["requests"]] == [3, 3]
        assert sent.body["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
    elif stage.case.type == "cohere":
        assert (sent.body["texts"], sent.body["output_dimension"]) == (inputs, 3)
        assert sent.body["input_type"] == "search_document"
    else:
        assert (sent.body["input"], sent.body["dimensions"]) == (inputs, 3)


def test_the_sdk_default_base64_is_packed_by_the_gateway(stage: Stage) -> None:
    (text,) = texts("base64", 1)
    result = stage.client.embeddings.create(model=stage.case.model, input=text)
    assert close(result.data[0].embedding, vector(text))
    (sent,) = stage.posts(stage.primary)
    if stage.case.type == "openai":
        assert sent.body is not None
        assert sent.body["encoding_format"] == "float"


def test_usage_counts_the_upstreams_tokens_where_it_reports_them(stage: Stage) -> None:
    result = stage.client.embeddings.create(
        model=stage.case.model, input=["one two three", "four five"], encoding_format="float"
    )
    expected = 0 if stage.case.type == "gemini" else 5
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (expected, expected)


def test_auto_picks_an_embeddings_worker_and_never_the_chat_only_one(stage: Stage) -> None:
    raw = stage.client.embeddings.with_raw_response.create(
        model="auto", input=texts("auto"), encoding_format="float"
    )
    assert raw.headers["X-Cortex-Worker"] == "primary"
    assert raw.parse().model == stage.case.model
    assert stage.posts(stage.chat_only) == []


def test_a_worker_slash_model_pin_goes_to_that_worker(stage: Stage) -> None:
    raw = stage.client.embeddings.with_raw_response.create(
        model=f"backup/{stage.case.model}", input=texts("pin"), encoding_format="float"
    )
    assert raw.headers["X-Cortex-Worker"] == "backup"
    assert stage.posts(stage.primary) == []


def test_a_route_may_point_at_embedding_models(stage: Stage) -> None:
    raw = stage.client.embeddings.with_raw_response.create(
        model="vectors", input=texts("route"), encoding_format="float"
    )
    assert raw.headers["X-Cortex-Worker"] == "backup"


def test_a_failing_embeddings_worker_fails_over_to_the_next(stage: Stage) -> None:
    stage.primary.set_fault(Fault.SERVER_ERROR)
    inputs = texts("failover")
    raw = stage.client.embeddings.with_raw_response.create(
        model=stage.case.model, input=inputs, encoding_format="float"
    )
    assert raw.headers["X-Cortex-Worker"] == "backup"
    assert [item.embedding for item in raw.parse().data] == [vector(t) for t in inputs]
    assert len(stage.posts(stage.primary)) >= 1
    assert len(stage.posts(stage.backup)) == 1
    [logged] = [
        e
        for e in stage.daemon.events("request")
        if e.get("path") == "/v1/embeddings" and e.get("failures")
    ][-1:]
    assert logged["worker"] == "backup"
    assert logged["failures"][0]["worker"] == "primary"


def test_a_rate_limited_key_rotates_to_the_workers_next_key(stage: Stage) -> None:
    if not stage.case.key_prefix:
        pytest.skip("Ollama takes no keys")
    stage.primary.set_fault(Fault.RATE_LIMIT, times=1, retry_after=1.0)
    raw = stage.client.embeddings.with_raw_response.create(
        model=stage.case.model, input=texts("rotate"), encoding_format="float"
    )
    assert raw.headers["X-Cortex-Worker"] == "primary"
    first, second = stage.posts(stage.primary)
    assert first.api_key != second.api_key
    assert {first.api_key, second.api_key} <= set(stage.case.keys("primary"))
    assert stage.posts(stage.backup) == []


def test_a_model_no_worker_serves_is_a_404_in_openais_shape(stage: Stage) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        stage.client.embeddings.create(model="no-such-embedding-model", input="hello")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "model_not_found"
    assert "no-such-embedding-model" in caught.value.body["message"]


def test_a_pin_to_a_worker_without_embeddings_is_a_400(stage: Stage) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stage.client.embeddings.create(model="chat-only/claude-haiku-4-5", input="hello")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "unsupported_endpoint"
    assert stage.posts(stage.chat_only) == []


def test_a_chat_model_is_not_an_embedding_model(stage: Stage) -> None:
    with pytest.raises(openai.NotFoundError):
        stage.client.embeddings.create(model="claude-haiku-4-5", input="hello")
    assert stage.posts(stage.chat_only) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": [1, 2, 3]}, "input"),
        ({"input": [[1, 2], [3]]}, "input"),
        ({"input": ""}, "input[0]"),
        ({"input": []}, "input"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "truncate": True}, "truncate"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    stage: Stage, body: dict[str, Any], field: str
) -> None:
    response = requests.post(
        stage.daemon.url + "/v1/embeddings", json={"model": stage.case.model, **body}, timeout=10
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert f"'{field}'" in error["message"]
    assert stage.posts(stage.primary) == []


def test_a_repeated_request_is_answered_from_the_cache(stage: Stage) -> None:
    inputs = texts("cache")
    first = stage.client.embeddings.with_raw_response.create(
        model=stage.case.model, input=inputs, encoding_format="float"
    )
    second = stage.client.embeddings.with_raw_response.create(model=stage.case.model, input=inputs)
    assert (first.headers["X-Cortex-Cache"], second.headers["X-Cortex-Cache"]) == ("miss", "hit")
    assert [
        close(a.embedding, b.embedding)
        for a, b in zip(first.parse().data, second.parse().data, strict=True)
    ] == [True, True]
    assert len(stage.posts(stage.primary)) == 1
    changed = stage.client.embeddings.with_raw_response.create(
        model=stage.case.model, input=inputs, dimensions=2
    )
    assert changed.headers["X-Cortex-Cache"] == "miss"


def test_embeddings_are_counted_in_metrics_by_endpoint(stage: Stage) -> None:
    stage.client.embeddings.create(model=stage.case.model, input=texts("metrics"))
    exposition = stage.daemon.get("/metrics").text
    assert (
        'cortex_requests_total{endpoint="/v1/embeddings",outcome="ok",worker="primary"}'
        in exposition
    )
    assert (
        f'cortex_answers_total{{model="{stage.case.model}",outcome="completed",worker="primary"}}'
        in exposition
    )


def test_cohere_inputs_beyond_96_go_in_batches(stage: Stage) -> None:
    if stage.case.type != "cohere":
        pytest.skip("only Cohere limits texts per call")
    inputs = texts("batches", 100)
    result = stage.client.embeddings.create(
        model=stage.case.model, input=inputs, encoding_format="float"
    )
    assert [item.embedding for item in result.data] == [vector(t) for t in inputs]
    assert [len(r.body["texts"]) for r in stage.posts(stage.primary) if r.body] == [96, 4]


def test_api_workers_lists_embedding_models(stage: Stage) -> None:
    workers = {w["name"]: w for w in stage.daemon.get("/api/workers").json()["workers"]}
    assert workers["primary"]["embedding_models"] == [stage.case.model]
    assert workers["chat-only"]["embedding_models"] == []
    listed = {m["id"] for m in stage.daemon.get("/v1/models").json()["data"]}
    assert {stage.case.model, f"primary/{stage.case.model}"} <= listed


def test_embedding_models_are_discovered_from_the_upstream_listing(cortex_daemon: Any) -> None:
    """An Ollama worker configured with no model finds its embedding model in ``/api/tags``."""
    listed = ("llama3.1:8b", "nomic-embed-text")
    with SimulatedOllama("found", models=listed, embedding_models=(), chunk_delay=0.0) as found:
        daemon = cortex_daemon({"OLLAMA_BASE_URL": found.base_url, "HEALTH_CHECK_INTERVAL": "300"})
        deadline = time.monotonic() + SETTLE_TIMEOUT
        workers: dict[str, Any] = {}
        while time.monotonic() < deadline:
            workers = {w["name"]: w for w in daemon.get("/api/workers").json()["workers"]}
            if workers["ollama"]["embedding_models"]:
                break
            time.sleep(0.02)
        assert workers["ollama"]["embedding_models"] == ["nomic-embed-text"]
        assert workers["ollama"]["models"] == ["llama3.1:8b"]
        with openai.OpenAI(
            base_url=daemon.url + "/v1", api_key="x", max_retries=0, timeout=20
        ) as client:
            result = client.embeddings.create(
                model="auto", input="found it", encoding_format="float"
            )
            chat = client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "hi"}]
            )
    assert result.model == "nomic-embed-text"
    assert result.data[0].embedding == vector("found it")
    assert chat.model == "llama3.1:8b"


def test_a_worker_added_at_run_time_serves_its_embedding_models(cortex_daemon: Any) -> None:
    """``POST /admin/workers`` takes ``embedding_models`` like ``models``."""
    with (
        SimulatedOllama("first", chunk_delay=0.0) as first,
        SimulatedOllama("added", chunk_delay=0.0) as added,
    ):
        first_entry = {"type": "ollama", "base_url": first.base_url, "models": ["llama3.1:8b"]}
        daemon = cortex_daemon(
            {
                "CORTEX_PROVIDERS": json.dumps({"first": first_entry}),
                "CORTEX_ADMIN_TOKEN": "admin-token-embeddings-1",
                "HEALTH_CHECK_INTERVAL": "300",
            }
        )
        entry = {
            "name": "added",
            "type": "ollama",
            "base_url": added.base_url,
            "embedding_models": ["all-minilm"],
        }
        admin = {"Authorization": "Bearer admin-token-embeddings-1"}
        response = daemon.post("/admin/workers", json=entry, headers=admin)
        answer = requests.post(
            daemon.url + "/v1/embeddings",
            json={"model": "all-minilm", "input": "added", "encoding_format": "float"},
            timeout=20,
        )
    assert response.status_code == 201
    assert response.json()["embedding_models"] == ["all-minilm"]
    assert answer.status_code == 200
    assert answer.headers["X-Cortex-Worker"] == "added"
    assert answer.json()["data"][0]["embedding"] == vector("added")


def test_without_any_embeddings_worker_auto_is_a_404_that_says_what_to_configure(
    cortex_daemon: Any,
) -> None:
    with SimulatedOllama("chat", chunk_delay=0.0) as chat:
        entry = {"type": "ollama", "base_url": chat.base_url, "models": ["llama3.1:8b"]}
        daemon = cortex_daemon({"CORTEX_PROVIDERS": json.dumps({"chat": entry})})
        response = requests.post(daemon.url + "/v1/embeddings", json={"input": "x"}, timeout=20)
        posts = [r for r in chat.requests if r.method == "POST"]
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert "embedding_models" in response.json()["error"]["message"]
    assert posts == []

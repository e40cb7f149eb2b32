"""Each wire's embeddings translation, byte for byte, without a socket."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cortex.chat import EmbeddingRequest
from cortex.providers.base import Target
from cortex.providers.embeddings import (
    COHERE_BATCH,
    EmbeddedPart,
    embedding_wire,
    embedding_wire_for,
    embeddings_of,
)

TARGET = Target("http://upstream.test/base", "embed-model", "secret-key")
TWO = EmbeddingRequest(("hello", "world"), dimensions=3, user="u-1")


def body(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("provider_type", "url", "headers", "payload"),
    [
        (
            "openai",
            "http://upstream.test/base/embeddings",
            {"Authorization": "Bearer secret-key"},
            {
                "model": "embed-model",
                "input": ["hello", "world"],
                "encoding_format": "float",
                "dimensions": 3,
                "user": "u-1",
            },
        ),
        (
            "azure_openai",
            "http://upstream.test/base/openai/deployments/embed-model/embeddings?api-version=2024-10-21",
            {"api-key": "secret-key"},
            {
                "model": "embed-model",
                "input": ["hello", "world"],
                "encoding_format": "float",
                "dimensions": 3,
                "user": "u-1",
            },
        ),
        (
            "gemini",
            "http://upstream.test/base/v1beta/models/embed-model:batchEmbedContents",
            {"x-goog-api-key": "secret-key"},
            {
                "requests": [
                    {
                        "model": "models/embed-model",
                        "content": {"parts": [{"text": text}]},
                        "taskType": "RETRIEVAL_DOCUMENT",
                        "outputDimensionality": 3,
                    }
                    for text in ("hello", "world")
                ]
            },
        ),
        (
            "cohere",
            "http://upstream.test/base/v2/embed",
            {"Authorization": "Bearer secret-key"},
            {
                "model": "embed-model",
                "texts": ["hello", "world"],
                "input_type": "search_document",
                "embedding_types": ["float"],
                "output_dimension": 3,
            },
        ),
        (
            "ollama",
            "http://upstream.test/base/api/embed",
            {"Authorization": "Bearer secret-key"},
            {"model": "embed-model", "input": ["hello", "world"], "dimensions": 3},
        ),
    ],
)
def test_each_wire_builds_its_native_call(
    provider_type: str, url: str, headers: dict[str, str], payload: dict[str, Any]
) -> None:
    (call,) = embedding_wire(provider_type).calls(TARGET, TWO)
    assert (call.method, call.url, dict(call.headers), call.json) == ("POST", url, headers, payload)


@pytest.mark.parametrize("provider_type", ["openai", "gemini", "cohere", "ollama"])
def test_no_dimensions_asks_for_the_models_own_length(provider_type: str) -> None:
    (call,) = embedding_wire(provider_type).calls(TARGET, EmbeddingRequest(("a",)))
    text = json.dumps(call.json)
    assert not any(name in text for name in ("dimensions", "Dimensionality", "output_dimension"))


def test_a_gemini_base_url_that_names_its_version_keeps_it() -> None:
    target = Target("http://g.test/v1", "models/gemini-embedding-001", None)
    (call,) = embedding_wire("gemini").calls(target, EmbeddingRequest(("a",)))
    assert call.url == "http://g.test/v1/models/gemini-embedding-001:batchEmbedContents"
    assert call.headers == {}


def test_cohere_sends_at_most_96_texts_per_call() -> None:
    texts = tuple(f"t{n}" for n in range(COHERE_BATCH * 2 + 1))
    calls = embedding_wire("cohere").calls(TARGET, EmbeddingRequest(texts))
    assert [len(call.json["texts"]) for call in calls if call.json] == [96, 96, 1]
    assert [t for call in calls if call.json for t in call.json["texts"]] == list(texts)


@pytest.mark.parametrize(
    ("provider_type", "answer", "part"),
    [
        (
            "openai",
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
                    {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                ],
                "usage": {"prompt_tokens": 5, "total_tokens": 5},
            },
            EmbeddedPart(((0.1, 0.2), (0.3, 0.4)), 5),
        ),
        (
            "gemini",
            {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]},
            EmbeddedPart(((0.1, 0.2), (0.3, 0.4)), 0),
        ),
        (
            "cohere",
            {
                "id": "e1",
                "response_type": "embeddings_by_type",
                "embeddings": {"float": [[0.1, 0.2], [0.3, 0.4]]},
                "texts": ["hello", "world"],
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2.0}},
            },
            EmbeddedPart(((0.1, 0.2), (0.3, 0.4)), 2),
        ),
        (
            "ollama",
            {"model": "m", "embeddings": [[0.1, 0.2], [0.3, 1]], "prompt_eval_count": 8},
            EmbeddedPart(((0.1, 0.2), (0.3, 1.0)), 8),
        ),
    ],
)
def test_each_wire_reads_its_answer(
    provider_type: str, answer: dict[str, Any], part: EmbeddedPart
) -> None:
    assert embedding_wire(provider_type).parse(body(answer)) == part


@pytest.mark.parametrize(
    ("provider_type", "answer"),
    [
        ("openai", {"data": [{"index": 0, "embedding": "AAAA"}]}),
        ("openai", {"data": [{"index": 0, "embedding": []}]}),
        ("gemini", {"embedding": {"values": [0.1]}}),
        ("gemini", {"embeddings": [{"values": [0.1, True]}]}),
        ("cohere", {"embeddings": {"int8": [[1, 2]]}}),
        ("ollama", {"embedding": [0.1, 0.2]}),
        ("ollama", {"embeddings": [[0.1, "x"]]}),
    ],
)
def test_an_answer_that_is_not_vectors_is_refused(
    provider_type: str, answer: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"not|without"):
        embedding_wire(provider_type).parse(body(answer))


def test_a_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        embedding_wire("ollama").parse(b"<html>")


def test_vectors_must_match_the_inputs_one_to_one() -> None:
    wire = embedding_wire("ollama")
    one = body({"embeddings": [[0.1]], "prompt_eval_count": 1})
    with pytest.raises(ValueError, match="1 vectors for 2 inputs"):
        embeddings_of(wire, [one], EmbeddingRequest(("a", "b")), "w", "m")
    whole = embeddings_of(wire, [one, one], EmbeddingRequest(("a", "b")), "w", "m")
    assert (whole.vectors, whole.prompt_tokens, whole.payload_bytes) == (((0.1,), (0.1,)), 2, 8)


@pytest.mark.parametrize(
    ("provider_type", "dropped"),
    [("openai", ()), ("gemini", ("user",)), ("cohere", ("user",)), ("ollama", ("user",))],
)
def test_only_openai_carries_the_user_field(provider_type: str, dropped: tuple[str, ...]) -> None:
    wire = embedding_wire(provider_type)
    assert wire.dropped(TWO) == dropped
    assert wire.dropped(EmbeddingRequest(("a",))) == ()


@pytest.mark.parametrize(
    ("provider_type", "has"),
    [("openai", True), ("groq", True), ("ollama", True), ("anthropic", False)],
)
def test_anthropic_alone_has_no_embeddings_wire(provider_type: str, has: bool) -> None:
    assert (embedding_wire_for(provider_type) is not None) is has
    if not has:
        with pytest.raises(ValueError, match="no embeddings endpoint"):
            embedding_wire(provider_type)

"""The embeddings endpoint's pure parts: body validation, base64 packing and the cache key."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from actors.planning import Route, RoutingStrategy
from cortex.cache.terms import CacheControls, embedding_terms
from cortex.chat import EmbeddingRequest, Embeddings
from cortex.errors import BadRequest
from cortex.http.embedding_schema import MAX_INPUTS, parse_embeddings
from cortex.http.embeddings import embeddings_json, packed


@pytest.mark.parametrize(
    ("body", "inputs", "encoding", "dimensions"),
    [
        ({"input": "one"}, ("one",), "float", None),
        ({"input": ["a", "b"], "encoding_format": "base64"}, ("a", "b"), "base64", None),
        ({"input": "x", "dimensions": 256, "encoding_format": None}, ("x",), "float", 256),
    ],
)
def test_valid_bodies_are_read(
    body: dict[str, Any], inputs: tuple[str, ...], encoding: str, dimensions: int | None
) -> None:
    call = parse_embeddings(body)
    assert (call.request.inputs, call.encoding, call.request.dimensions) == (
        inputs,
        encoding,
        dimensions,
    )


def test_model_provider_user_and_strategy_are_read() -> None:
    call = parse_embeddings(
        {"input": "x", "model": "m", "provider": "w", "user": "u", "strategy": "round_robin"}
    )
    assert (call.request.model, call.request.pin, call.request.user) == ("m", "w", "u")
    assert call.strategy is RoutingStrategy.ROUND_ROBIN


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "'input'"),
        ({"input": 3}, "'input'"),
        ({"input": [1, 2]}, "token ids"),
        ({"input": [[1], [2]]}, "token ids"),
        ({"input": ["ok", None]}, "'input[1]'"),
        ({"input": ["ok", ""]}, "'input[1]'"),
        ({"input": ["x"] * (MAX_INPUTS + 1)}, f"at most {MAX_INPUTS}"),
        ({"input": "x", "encoding_format": "int8"}, "'encoding_format'"),
        ({"input": "x", "dimensions": True}, "'dimensions'"),
        ({"input": "x", "dimensions": -1}, "'dimensions'"),
        ({"input": "x", "model": 5}, "'model'"),
        ({"input": "x", "strategy": "fastest-please"}, "'strategy'"),
        ({"input": "x", "input_type": "search_query"}, "'input_type'"),
    ],
)
def test_bad_bodies_are_400s_naming_the_problem(body: dict[str, Any], named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_embeddings(body)
    assert named in caught.value.message


def test_base64_is_little_endian_float32() -> None:
    vector = (0.25, -0.5, 1.0)
    raw = base64.b64decode(packed(vector))
    assert raw == struct.pack("<3f", *vector)
    assert raw[:4] == bytes.fromhex("0000803e")


def test_the_answer_renders_in_openais_shape_either_way() -> None:
    answer = Embeddings("w", "m", ((0.5, 1.0), (0.0, -1.0)), 7)
    floats = embeddings_json(answer, "float")
    assert floats == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, 1.0]},
            {"object": "embedding", "index": 1, "embedding": [0.0, -1.0]},
        ],
        "model": "m",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    encoded = embeddings_json(answer, "base64")["data"]
    assert isinstance(encoded, list)
    assert encoded[1]["embedding"] == packed((0.0, -1.0))


def key(request: EmbeddingRequest, **kwargs: Any) -> str:
    routes = kwargs.pop("routes", {})
    strategy = kwargs.pop("strategy", None)
    return embedding_terms(request, strategy, CacheControls(), routes=routes, **kwargs).key


BASE = EmbeddingRequest(("a", "b"), model="m")


@pytest.mark.parametrize(
    "changed",
    [
        EmbeddingRequest(("b", "a"), model="m"),
        EmbeddingRequest(("a", "b"), model="other"),
        EmbeddingRequest(("a", "b"), model="m", dimensions=3),
        EmbeddingRequest(("a", "b"), model="m", pin="w"),
    ],
)
def test_inputs_model_dimensions_and_pin_change_the_key(changed: EmbeddingRequest) -> None:
    assert key(changed) != key(BASE)


def test_user_does_not_change_the_key_and_partitions_do() -> None:
    assert key(EmbeddingRequest(("a", "b"), model="m", user="u")) == key(BASE)
    assert key(BASE, partition="k1") != key(BASE, partition="k2")


def test_a_route_is_keyed_by_its_targets() -> None:
    routed = EmbeddingRequest(("a",), model="vectors")
    one = {"vectors": Route("vectors", (("w1", "e"),))}
    two = {"vectors": Route("vectors", (("w2", "e"),))}
    assert key(routed, routes=one) != key(routed, routes=two)


def test_auto_is_keyed_by_the_strategy() -> None:
    auto = EmbeddingRequest(("a",))
    assert key(auto, strategy=RoutingStrategy.PRIORITY) != key(
        auto, strategy=RoutingStrategy.RANDOM
    )

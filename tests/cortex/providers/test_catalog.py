"""The catalog maps provider types to adapters; every adapter keeps the shared contract."""

from __future__ import annotations

import json
import random

import pytest

from actors.outcomes import ErrorKind
from cortex.chat import StreamFailed
from cortex.providers.anthropic import AnthropicAdapter
from cortex.providers.base import Adapter
from cortex.providers.catalog import adapter_for, provider_types, wire_formats
from cortex.providers.cohere import CohereAdapter
from cortex.providers.gemini import GeminiAdapter
from cortex.providers.ollama import OllamaAdapter
from cortex.providers.openai import OpenAIAdapter
from cortex.providers.profiles import PROFILES

KEYS = [
    "sk-proj-LEAKEDLEAKED1234",
    "gsk_LEAKEDLEAKEDLEAKED",
    "xai-LEAKEDLEAKEDLEAKED",
    "AIzaSyLEAKEDLEAKEDLEAKEDLEAKED00",
]
GARBAGE = [
    b"",
    b"\x00\xff\xfe\xc3",
    b"<html><body>502 Bad Gateway</body></html>",
    b"null",
    b"[]",
    b"[1, 2]",
    b'{"error": null}',
    b'{"error": 7}',
    b'{"error": {"message": {"nested": true}, "code": [], "type": 3, "details": "x"}}',
    b'{"message": 42, "type": "error"}',
    b"[" * 100_000,
    b'"just a string"',
]


@pytest.mark.parametrize(
    ("provider_type", "adapter_type"),
    [
        ("openai", OpenAIAdapter),
        ("groq", OpenAIAdapter),
        ("xai", OpenAIAdapter),
        ("ollama", OllamaAdapter),
        ("anthropic", AnthropicAdapter),
        ("gemini", GeminiAdapter),
        ("cohere", CohereAdapter),
    ],
)
def test_each_provider_type_gets_its_wire_format(provider_type: str, adapter_type: type) -> None:
    assert isinstance(adapter_for(provider_type), adapter_type)


def test_provider_types_lists_every_profile_sorted() -> None:
    original = {"anthropic", "cohere", "gemini", "groq", "ollama", "openai", "xai"}
    assert provider_types() == tuple(sorted(PROFILES))
    assert original <= set(provider_types())


def test_every_profile_names_a_wire_format_the_catalog_speaks() -> None:
    assert {profile.wire for profile in PROFILES.values()} <= set(wire_formats())


def test_case_and_surrounding_spaces_are_ignored() -> None:
    assert isinstance(adapter_for(" Groq "), OpenAIAdapter)


def test_an_unknown_type_raises_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown provider type 'mistrall' \(known: anthropic,"):
        adapter_for("mistrall")


@pytest.fixture(params=provider_types())
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return adapter_for(request.param)


@pytest.mark.parametrize("seed", range(20))
def test_a_decoder_never_raises_on_random_bytes(adapter: Adapter, seed: int) -> None:
    rng = random.Random(seed)
    decoder = adapter.decoder()
    events = []
    for _ in range(20):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        events += decoder.feed(rng.choice([noise, b"data: " + noise + b"\n\n", noise + b"\n"]))
    events += decoder.close()
    failures = [event for event in events if isinstance(event, StreamFailed)]
    assert all(f.failure.kind is ErrorKind.UPSTREAM_ERROR for f in failures)


@pytest.mark.parametrize("body", GARBAGE)
def test_a_decoder_reports_garbage_as_one_upstream_error(adapter: Adapter, body: bytes) -> None:
    decoder = adapter.decoder()
    events = decoder.feed(b"data: " + body + b"\n\n" + body + b"\n") + decoder.close()
    kinds = [e.failure.kind for e in events if isinstance(e, StreamFailed)]
    assert kinds in ([], [ErrorKind.UPSTREAM_ERROR])


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 529, 599])
@pytest.mark.parametrize("body", GARBAGE)
def test_classify_never_raises_and_always_explains(
    adapter: Adapter, status: int, body: bytes
) -> None:
    failure = adapter.classify(status, {"retry-after": "soon"}, body)
    assert failure.status == status
    assert failure.message
    assert failure.retry_after is None


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b"\xff", b'{"data": 1, "models": 2}'])
def test_parse_models_rejects_invalid_listings_with_value_error(
    adapter: Adapter, body: bytes
) -> None:
    with pytest.raises(ValueError, match=r"JSON|expected|listing"):
        adapter.parse_models(body)


def echoing_bodies(secret: str) -> list[bytes]:
    """Error bodies of every format, each echoing a key in its message."""
    text = f"Incorrect API key provided: {secret}. Header was Bearer {secret}"
    return [
        json.dumps({"error": {"message": text, "type": "invalid_request_error"}}).encode(),
        json.dumps(
            {"type": "error", "error": {"type": "authentication_error", "message": text}}
        ).encode(),
        json.dumps(
            {"error": {"code": 400, "message": text, "status": "INVALID_ARGUMENT"}}
        ).encode(),
        json.dumps({"message": text}).encode(),
        json.dumps({"error": text}).encode(),
        text.encode(),
    ]


@pytest.mark.parametrize("secret", KEYS)
def test_no_key_echoed_by_an_upstream_reaches_a_failure_message(
    adapter: Adapter, secret: str
) -> None:
    for body in echoing_bodies(secret):
        assert secret not in adapter.classify(401, {}, body).message


@pytest.mark.parametrize("secret", KEYS)
def test_no_key_echoed_inside_a_stream_reaches_a_failure_message(
    adapter: Adapter, secret: str
) -> None:
    for body in echoing_bodies(secret):
        decoder = adapter.decoder()
        events = (
            decoder.feed(b"event: error\ndata: " + body + b"\n\n" + body + b"\n") + decoder.close()
        )
        for event in events:
            assert not isinstance(event, StreamFailed) or secret not in event.failure.message

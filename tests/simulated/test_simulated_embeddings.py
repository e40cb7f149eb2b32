"""The simulated embeddings endpoints, each checked with its provider's official SDK."""

from __future__ import annotations

import math

import cohere
import httpx
import ollama
import openai
import pytest
from google import genai
from google.genai import types

from cortex.simulated import (
    Fault,
    SimulatedCohere,
    SimulatedGemini,
    SimulatedOllama,
    SimulatedOpenAI,
)
from cortex.simulated.embedding import vector

TEXTS = ["why is the sky blue", "why is the grass green"]


def close(got: list[float], want: list[float]) -> bool:
    """Equal within float32 precision (base64 carries float32)."""
    return len(got) == len(want) and all(
        math.isclose(a, b, abs_tol=1e-6) for a, b in zip(got, want, strict=True)
    )


def test_openai_sdk_reads_float_vectors(openai_module: SimulatedOpenAI) -> None:
    with openai.OpenAI(
        base_url=openai_module.base_url, api_key="sk-sim-key-1", max_retries=0, timeout=5
    ) as client:
        result = client.embeddings.create(
            model="text-embedding-3-small", input=TEXTS, encoding_format="float", dimensions=3
        )
    assert [item.embedding for item in result.data] == [vector(text, 3) for text in TEXTS]
    assert result.usage.prompt_tokens == 10


def test_openai_sdk_decodes_its_default_base64(openai_server: SimulatedOpenAI) -> None:
    with openai.OpenAI(
        base_url=openai_server.base_url, api_key="sk-sim-key-1", max_retries=0, timeout=5
    ) as client:
        result = client.embeddings.create(model="text-embedding-3-large", input="hello")
    (request,) = openai_server.requests
    assert isinstance(request.body, dict)
    assert request.body["encoding_format"] == "base64"
    assert close(result.data[0].embedding, vector("hello"))


def test_openai_sdk_sees_a_scripted_rate_limit(openai_server: SimulatedOpenAI) -> None:
    openai_server.set_fault(Fault.RATE_LIMIT, times=1)
    with (
        openai.OpenAI(
            base_url=openai_server.base_url, api_key="sk-sim-key-1", max_retries=0, timeout=5
        ) as client,
        pytest.raises(openai.RateLimitError),
    ):
        client.embeddings.create(model="text-embedding-3-small", input="hello")


def test_openai_sdk_gets_a_404_for_a_chat_model(openai_module: SimulatedOpenAI) -> None:
    with (
        openai.OpenAI(
            base_url=openai_module.base_url, api_key="sk-sim-key-1", max_retries=0, timeout=5
        ) as client,
        pytest.raises(openai.NotFoundError),
    ):
        client.embeddings.create(model="gpt-4o-mini", input="hello")


def test_google_genai_embed_content_uses_the_batch_method(gemini_server: SimulatedGemini) -> None:
    options = types.HttpOptions(base_url=gemini_server.base_url, timeout=5000)
    with genai.Client(api_key="AIza-sim-key-1", http_options=options) as client:
        result = client.models.embed_content(
            model="gemini-embedding-001",
            contents=TEXTS,
            config=types.EmbedContentConfig(
                output_dimensionality=4, task_type="RETRIEVAL_DOCUMENT"
            ),
        )
    assert result.embeddings is not None
    assert [e.values for e in result.embeddings] == [vector(text, 4) for text in TEXTS]
    (request,) = gemini_server.requests
    assert request.path.endswith("/models/gemini-embedding-001:batchEmbedContents")


def test_cohere_client_v2_embed_reads_float_vectors(cohere_module: SimulatedCohere) -> None:
    with cohere.ClientV2(
        api_key="co-sim-key-1", base_url=cohere_module.base_url, timeout=5
    ) as client:
        result = client.embed(
            model="embed-v4.0",
            texts=TEXTS,
            input_type="search_document",
            embedding_types=["float"],
            request_options={"max_retries": 0},
        )
    assert result.embeddings.float_ == [vector(text) for text in TEXTS]
    assert result.meta is not None
    assert result.meta.billed_units is not None
    assert result.meta.billed_units.input_tokens == 10


def test_cohere_refuses_an_embed_without_input_type(
    cohere_module: SimulatedCohere, http: httpx.Client
) -> None:
    """The SDK makes ``input_type`` a required argument; the API refuses a body without it."""
    response = http.post(
        f"{cohere_module.base_url}/v2/embed",
        json={"model": "embed-v4.0", "texts": TEXTS},
        headers={"Authorization": "Bearer co-sim-key-1"},
    )
    assert response.status_code == 400
    assert "input_type" in response.json()["message"]


def test_ollama_embed_reads_vectors_and_token_count(ollama_module: SimulatedOllama) -> None:
    with ollama.Client(host=ollama_module.base_url, timeout=5) as client:
        result = client.embed(model="nomic-embed-text", input=TEXTS, dimensions=2)
    assert [list(values) for values in result.embeddings] == [vector(text, 2) for text in TEXTS]
    assert result.prompt_eval_count == 10

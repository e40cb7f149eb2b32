"""Embeddings on each wire: pure translations from OpenAI's ``/v1/embeddings`` and back.

One class per wire builds the upstream calls for an :class:`~cortex.chat.EmbeddingRequest`
and reads each answer's vectors and token count (WIRE_FORMATS_TOOLS.md section 7):

    wire       endpoint                                   dimensions            usage
    openai     POST {base}/embeddings (Azure: deployment)  dimensions            usage.prompt_tokens
    gemini     POST {root}/models/{m}:batchEmbedContents   outputDimensionality  none (0)
    cohere     POST {base}/v2/embed, 96 texts per call     output_dimension      billed input_tokens
    ollama     POST {base}/api/embed                       dimensions            prompt_eval_count

Gemini and Cohere ask what the text is for (``taskType``, the required ``input_type``);
OpenAI's format has no such field, so the gateway says "a document to retrieve"
(``RETRIEVAL_DOCUMENT``, ``search_document``), the common use of an embeddings endpoint.
Anthropic has no embeddings endpoint, so its type has no wire here. Errors are classified
by the type's chat adapter: each provider answers both endpoints in one error shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from actors.wire import HttpCall
from cortex.chat import EmbeddingRequest, Embeddings
from cortex.providers.base import Target
from cortex.providers.gemini import GeminiAdapter
from cortex.providers.openai import OpenAIEndpoints, bearer_headers
from cortex.providers.payload import JsonObject, count, obj, parse_object, seq
from cortex.providers.profiles import profile_for

COHERE_BATCH = 96
"""Most texts Cohere embeds in one call."""
GEMINI_TASK = "RETRIEVAL_DOCUMENT"
COHERE_INPUT_TYPE = "search_document"
Vector = tuple[float, ...]


@dataclass(frozen=True, slots=True)
class EmbeddedPart:
    """What one upstream answer holds: its vectors in order and its input tokens."""

    vectors: tuple[Vector, ...]
    prompt_tokens: int = 0


class EmbeddingWire(Protocol):
    """One wire's embeddings translation. Implementations are stateless and pure."""

    def calls(self, target: Target, request: EmbeddingRequest) -> tuple[HttpCall, ...]:
        """The upstream calls for ``request``, made in order; their answers concatenate."""
        ...

    def parse(self, body: bytes) -> EmbeddedPart:
        """Read one successful answer.

        Raises:
            ValueError: the body is not an embeddings answer of this wire.
        """
        ...

    def dropped(self, request: EmbeddingRequest) -> tuple[str, ...]:
        """The request fields this wire leaves out."""
        ...


def vectors(items: Sequence[Any], where: str) -> tuple[Vector, ...]:
    """Read a list of vectors of finite numbers.

    Raises:
        ValueError: an item is not a non-empty list of finite numbers.
    """
    read: list[Vector] = []
    for index, item in enumerate(items):
        if not isinstance(item, list) or not item:
            raise ValueError(f"{where}[{index}] is not a list of numbers")
        values = tuple(_number(value, f"{where}[{index}]") for value in item)
        read.append(values)
    return tuple(read)


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where} holds something that is not a finite number")
    return float(value)


def _index(item: JsonObject) -> int:
    index = item.get("index")
    return index if isinstance(index, int) else 0


def _user_dropped(request: EmbeddingRequest) -> tuple[str, ...]:
    return ("user",) if request.user is not None else ()


@dataclass(frozen=True, slots=True)
class OpenAIEmbeddings:
    """OpenAI's own format (and every OpenAI-compatible type): the request passes through."""

    endpoints: OpenAIEndpoints

    def calls(self, target: Target, request: EmbeddingRequest) -> tuple[HttpCall, ...]:
        """One ``POST {base}/embeddings`` asking for floats."""
        body: dict[str, object] = {
            "model": target.model,
            "input": list(request.inputs),
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
        url = self.endpoints.url(target.base_url, self.endpoints.embeddings_path, target.model)
        return (HttpCall("POST", url, self.endpoints.headers(target.api_key), body),)

    def parse(self, body: bytes) -> EmbeddedPart:
        """Read ``data[].embedding`` in ``index`` order and ``usage.prompt_tokens``."""
        payload = parse_object(body)
        data = [item for item in seq(payload, "data") if isinstance(item, dict)]
        data.sort(key=_index)
        found = vectors([item.get("embedding") for item in data], "data[].embedding")
        return EmbeddedPart(found, count(obj(payload, "usage"), "prompt_tokens") or 0)

    def dropped(self, request: EmbeddingRequest) -> tuple[str, ...]:  # noqa: ARG002 - protocol
        """Nothing: OpenAI's format is the gateway's own."""
        return ()


@dataclass(frozen=True, slots=True)
class GeminiEmbeddings:
    """Gemini's ``batchEmbedContents``: one request entry per input, each naming the model."""

    def calls(self, target: Target, request: EmbeddingRequest) -> tuple[HttpCall, ...]:
        """One batch call; every entry repeats the model, as the SDK sends it."""
        model = target.model.removeprefix("models/")
        entries: list[JsonObject] = []
        for text in request.inputs:
            entry: JsonObject = {
                "model": f"models/{model}",
                "content": {"parts": [{"text": text}]},
                "taskType": GEMINI_TASK,
            }
            if request.dimensions is not None:
                entry["outputDimensionality"] = request.dimensions
            entries.append(entry)
        root = GeminiAdapter().root(target.base_url)
        url = f"{root}/models/{quote(model, safe='')}:batchEmbedContents"
        headers = {"x-goog-api-key": target.api_key} if target.api_key else {}
        return (HttpCall("POST", url, headers, {"requests": entries}),)

    def parse(self, body: bytes) -> EmbeddedPart:
        """Read ``embeddings[].values``; Gemini reports no token usage."""
        listed = _list(parse_object(body).get("embeddings"), "embeddings")
        items = [item.get("values") if isinstance(item, dict) else None for item in listed]
        return EmbeddedPart(vectors(items, "embeddings[].values"))

    def dropped(self, request: EmbeddingRequest) -> tuple[str, ...]:
        """``user``: Gemini has no field for it."""
        return _user_dropped(request)


def _list(value: object, where: str) -> list[Any]:
    """``value`` when it is a list.

    Raises:
        ValueError: it is not (the adapter contract reports every malformed body this way).
    """
    if isinstance(value, list):
        return value
    raise ValueError(f"embeddings answer without a {where!r} list")


@dataclass(frozen=True, slots=True)
class CohereEmbeddings:
    """Cohere's ``/v2/embed``: float vectors, 96 texts per call."""

    def calls(self, target: Target, request: EmbeddingRequest) -> tuple[HttpCall, ...]:
        """One call per batch of at most :data:`COHERE_BATCH` texts."""
        url = f"{target.base_url.rstrip('/')}/v2/embed"
        headers = bearer_headers(target.api_key)
        calls = []
        for start in range(0, len(request.inputs), COHERE_BATCH):
            body: JsonObject = {
                "model": target.model,
                "texts": list(request.inputs[start : start + COHERE_BATCH]),
                "input_type": COHERE_INPUT_TYPE,
                "embedding_types": ["float"],
            }
            if request.dimensions is not None:
                body["output_dimension"] = request.dimensions
            calls.append(HttpCall("POST", url, headers, body))
        return tuple(calls)

    def parse(self, body: bytes) -> EmbeddedPart:
        """Read ``embeddings.float`` and ``meta.billed_units.input_tokens``."""
        payload = parse_object(body)
        found = _list(obj(payload, "embeddings").get("float"), "embeddings.float")
        tokens = count(obj(obj(payload, "meta"), "billed_units"), "input_tokens") or 0
        return EmbeddedPart(vectors(found, "embeddings.float"), tokens)

    def dropped(self, request: EmbeddingRequest) -> tuple[str, ...]:
        """``user``: Cohere has no field for it."""
        return _user_dropped(request)


@dataclass(frozen=True, slots=True)
class OllamaEmbeddings:
    """Ollama's native ``/api/embed``."""

    def calls(self, target: Target, request: EmbeddingRequest) -> tuple[HttpCall, ...]:
        """One ``POST {base}/api/embed``."""
        body: JsonObject = {"model": target.model, "input": list(request.inputs)}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        url = f"{target.base_url.rstrip('/')}/api/embed"
        return (HttpCall("POST", url, bearer_headers(target.api_key), body),)

    def parse(self, body: bytes) -> EmbeddedPart:
        """Read ``embeddings`` and ``prompt_eval_count``."""
        payload = parse_object(body)
        found = _list(payload.get("embeddings"), "embeddings")
        return EmbeddedPart(vectors(found, "embeddings"), count(payload, "prompt_eval_count") or 0)

    def dropped(self, request: EmbeddingRequest) -> tuple[str, ...]:
        """``user``: Ollama has no field for it."""
        return _user_dropped(request)


def embeddings_of(
    wire: EmbeddingWire,
    bodies: Sequence[bytes],
    request: EmbeddingRequest,
    worker: str,
    model: str,
) -> Embeddings:
    """The embeddings of ``request`` from the answers to its calls, in order.

    Raises:
        ValueError: an answer is unreadable, or the vectors do not match the inputs one
            to one (an answer that lost an input must not shift the others).
    """
    parts = [wire.parse(body) for body in bodies]
    found = tuple(vector for part in parts for vector in part.vectors)
    if len(found) != len(request.inputs):
        raise ValueError(f"{len(found)} vectors for {len(request.inputs)} inputs")
    tokens = sum(part.prompt_tokens for part in parts)
    return Embeddings(worker, model, found, tokens, dropped=wire.dropped(request))


def embedding_wire(provider_type: str) -> EmbeddingWire:
    """The embeddings translation of a provider type that has one.

    Raises:
        ValueError: the type is unknown or its API has no embeddings endpoint.
    """
    wire = embedding_wire_for(provider_type)
    if wire is None:
        raise ValueError(f"type {provider_type!r} has no embeddings endpoint")
    return wire


def embedding_wire_for(provider_type: str) -> EmbeddingWire | None:
    """The embeddings translation of a provider type; None when its API has no embeddings.

    Raises:
        ValueError: the type is unknown.
    """
    profile = profile_for(provider_type)
    match profile.wire:
        case "openai":
            return OpenAIEmbeddings(profile.endpoints or OpenAIEndpoints())
        case "gemini":
            return GeminiEmbeddings()
        case "cohere":
            return CohereEmbeddings()
        case "ollama":
            return OllamaEmbeddings()
        case _:
            return None


__all__ = [
    "COHERE_BATCH",
    "EmbeddedPart",
    "EmbeddingWire",
    "embedding_wire",
    "embedding_wire_for",
    "embeddings_of",
]

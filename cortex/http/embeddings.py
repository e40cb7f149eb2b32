"""``POST /v1/embeddings``: OpenAI's embeddings endpoint in front of every embeddings worker.

The handler parses the body (:mod:`cortex.http.embedding_schema`), settles a pin, and hands
the call to the response cache, which goes upstream through the dispatcher on a miss. The
answer is rendered in OpenAI's shape; ``encoding_format: "base64"`` (what the openai SDK
asks for by default) packs each vector as little-endian float32 bytes, which no provider
but OpenAI sends, so the gateway always asks upstream for floats and packs them itself.
"""

from __future__ import annotations

import base64
import struct

from aiohttp import web

from cortex.cache.terms import CLIENT_PARTITION, embedding_terms, read_controls
from cortex.chat import Embeddings
from cortex.config.runtime import RUNTIME
from cortex.http import render
from cortex.http.embedding_schema import EmbeddingCall, parse_embeddings
from cortex.http.routes import SERVICES
from cortex.http.schemas import parse_json_object, pin_provider, with_headers
from cortex.providers.capabilities import dropped_headers


def packed(vector: tuple[float, ...]) -> str:
    """A vector as OpenAI's base64: little-endian float32 bytes, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embeddings_json(answer: Embeddings, encoding: str) -> dict[str, object]:
    """The answer as OpenAI's embeddings list, each vector as floats or base64."""
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": packed(vector) if encoding == "base64" else list(vector),
            }
            for index, vector in enumerate(answer.vectors)
        ],
        "model": answer.model,
        "usage": {"prompt_tokens": answer.prompt_tokens, "total_tokens": answer.prompt_tokens},
    }


async def embeddings(request: web.Request) -> web.Response:
    """``POST /v1/embeddings``: OpenAI-compatible embeddings."""
    services = request.app[SERVICES]
    runtime = request.app.get(RUNTIME)
    settings = runtime.settings if runtime is not None else None
    routes = settings.routes if settings is not None else {}
    body = parse_json_object(await request.read())
    call: EmbeddingCall = with_headers(parse_embeddings(body), request.headers)
    call = pin_provider(call, services.board, routes)
    terms = embedding_terms(
        call.request,
        call.strategy or (settings.strategy if settings is not None else None),
        read_controls(request.headers, body),
        routes=routes,
        partition=None if services.cache.settings.shared else request.get(CLIENT_PARTITION),
    )
    answer, cache_headers = await services.cache.embed(call, terms)
    headers = {
        "X-Cortex-Worker": answer.worker,
        **dropped_headers(answer.dropped),
        **cache_headers,
    }
    return web.json_response(
        embeddings_json(answer, call.encoding), headers=headers, dumps=render.dumps
    )


__all__ = ["embeddings", "embeddings_json", "packed"]

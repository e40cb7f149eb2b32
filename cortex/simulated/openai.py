"""A simulated OpenAI Chat Completions API (also the shape of Groq, xAI and Ollama ``/v1``).

Serves ``POST /v1/chat/completions`` (JSON or SSE ``data:`` chunks ending in
``data: [DONE]``) and ``GET /v1/models[/{model}]`` with Bearer auth and the
``{"error": {"message", "type", "param", "code"}}`` envelope, as described in
WIRE_FORMATS.md section 1. Point ``openai.OpenAI(base_url=server.base_url)`` at it.

The compatible providers that differ in where they live and how they take the key are
one :class:`Dialect` away: another path prefix (DeepSeek has no ``/v1``), the key in
another header, a required query, or Azure OpenAI's deployments
(``/openai/deployments/{deployment}/chat/completions?api-version=...``, ``api-key``).
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from cortex.simulated.content import ChatCall, Completion, read_messages
from cortex.simulated.faults import ErrorKind
from cortex.simulated.openai_reading import count_image_parts, openai_format, openai_offer
from cortex.simulated.server import SimulatedServer
from cortex.simulated.wire import (
    ErrorReply,
    ReplyError,
    StreamFrames,
    bearer_key,
    sse_frame,
)

__all__ = ["AZURE", "Dialect", "SimulatedOpenAI"]

_DOCS = "https://platform.openai.com/docs/guides/error-codes/api-errors"
_ERRORS: dict[ErrorKind, tuple[int, str, str | None, str]] = {
    # kind: (status, type, code, message)
    ErrorKind.RATE_LIMIT: (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached in organization org-simulated on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in {retry_after}s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more.",
    ),
    ErrorKind.QUOTA: (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details. "
        f"For more information on this error, read the docs: {_DOCS}.",
    ),
    ErrorKind.UNAUTHORIZED: (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: {key}. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    ErrorKind.SERVER_ERROR: (
        500,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    ErrorKind.OVERLOADED: (
        503,
        "server_error",
        None,
        "The engine is currently overloaded, please try again later.",
    ),
    ErrorKind.BAD_REQUEST: (400, "invalid_request_error", None, "{detail}"),
    ErrorKind.MODEL_NOT_FOUND: (
        404,
        "invalid_request_error",
        "model_not_found",
        "The model `{detail}` does not exist or you do not have access to it.",
    ),
    ErrorKind.CONTEXT_LENGTH: (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length is {detail} tokens. However, your messages "
        "resulted in more tokens. Please reduce the length of the messages.",
    ),
}
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
    "field (with blank username) if you're accessing the API from your browser and are "
    "prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """Where a compatible API lives and how it takes its key.

    Attributes:
        prefix: path of the API's root (``/v1``; ``""`` for DeepSeek).
        auth_header: header holding the bare key instead of ``Authorization: Bearer``.
        query: query parameters every request must carry (others get a 400).
        deployments: Azure's layout: chat at ``{prefix}/openai/deployments/{model}/...``,
            models at ``{prefix}/openai/models``.
    """

    prefix: str = "/v1"
    auth_header: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    deployments: bool = False


AZURE = Dialect(prefix="", auth_header="api-key", deployments=True)
"""Azure OpenAI's layout; give it ``query={"api-version": ...}`` to require a version."""


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 message does: ``sk-ab****wxyz``."""
    return f"{key[:5]}{'*' * 4}{key[-4:]}" if len(key) > 9 else "*" * len(key)


class SimulatedOpenAI(SimulatedServer):
    """A fake OpenAI-compatible provider; ``base_url`` ends in ``/v1``.

    Args:
        name: provider name, shown in the default reply and in ``owned_by``.
        keys: valid Bearer keys.
        models: accepted model ids.
        reply: fixed reply text, or ``None`` for the greeting that echoes the prompt.
        chunk_delay: seconds slept after each streamed content chunk.
        port: TCP port, 0 for an ephemeral one.

    Set ``context_window`` to refuse longer prompts with ``context_length_exceeded``, and
    ``dialect`` before starting to serve another compatible API's layout.
    """

    default_name: ClassVar[str] = "openai"
    default_keys: ClassVar[tuple[str, ...]] = ("sk-sim-key-1", "sk-sim-key-2")
    default_models: ClassVar[tuple[str, ...]] = ("gpt-4o-mini", "gpt-4o")
    default_embedding_models: ClassVar[tuple[str, ...]] = (
        "text-embedding-3-small",
        "text-embedding-3-large",
    )
    error_message_path: ClassVar[tuple[str, ...]] = ("error", "message")
    context_window: int | None = None  # longest prompt accepted, in tokens
    dialect: Dialect = Dialect()  # set before start: the routes are built from it

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the dialect's prefix), the SDK's ``base_url``."""
        return f"{self.url}{self.dialect.prefix}"

    def _routes(self) -> list[web.RouteDef]:
        root = self.dialect.prefix
        if self.dialect.deployments:
            return [
                web.post(f"{root}/openai/deployments/{{model}}/chat/completions", self._chat),
                web.post(f"{root}/openai/deployments/{{model}}/embeddings", self._embeddings),
                web.get(f"{root}/openai/models", self._list_models),
            ]
        return [
            web.post(f"{root}/chat/completions", self._chat),
            web.post(f"{root}/embeddings", self._embeddings),
            web.get(f"{root}/models", self._list_models),
            web.get(f"{root}/models/{{model}}", self._get_model),
        ]

    def _api_key(self, request: web.Request) -> str | None:
        if self.dialect.auth_header is not None:
            return request.headers.get(self.dialect.auth_header) or None
        return bearer_key(request)

    def _preflight(self, request: web.Request) -> None:
        for name, value in self.dialect.query.items():
            if request.query.get(name) != value:
                raise ReplyError(ErrorKind.BAD_REQUEST, f"missing or wrong query {name}={value}")

    def _error(self, error: ReplyError) -> ErrorReply:
        if error.kind is ErrorKind.INVALID_KEY and not error.detail:
            status, type_, code, message = 401, "invalid_request_error", None, _NO_KEY
        else:
            kind = ErrorKind.UNAUTHORIZED if error.kind is ErrorKind.INVALID_KEY else error.kind
            status, type_, code, template = _ERRORS[kind]
            message = template.format(
                detail=error.detail or "Invalid request.",
                key=mask_key(error.detail),
                retry_after=f"{error.retry_after or 1:g}",
            )
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        return ErrorReply(status, body, {"x-request-id": self._next_id("req_")})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        # A deployment in the path names the model, whatever the body says (Azure).
        model = request.match_info.get("model", body.get("model"))
        messages = body.get("messages")
        if not isinstance(model, str) or not model:
            raise ReplyError(ErrorKind.BAD_REQUEST, "you must provide a model parameter")
        if not isinstance(messages, list) or not messages:
            raise ReplyError(
                ErrorKind.BAD_REQUEST, "Invalid 'messages': empty array. Expected at least 1."
            )
        prompt, prompt_tokens = read_messages(messages)
        if self.context_window is not None and prompt_tokens > self.context_window:
            raise ReplyError(ErrorKind.CONTEXT_LENGTH, str(self.context_window))
        options = body.get("stream_options")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        schema, json_mode = openai_format(body.get("response_format"))
        call = ChatCall(
            model=model,
            prompt=prompt,
            prompt_tokens=prompt_tokens,
            stream=bool(body.get("stream")),
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
            offer=openai_offer(body),
            json_schema=schema,
            json_mode=json_mode,
            images=count_image_parts(messages),
            choices=body["n"] if isinstance(body.get("n"), int) and body["n"] > 1 else 1,
        )
        return await self._serve_chat(request, call)

    def _model_card(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": self.name}

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        """``POST /embeddings``: floats, or little-endian float32 base64 when asked."""
        body = self._json_body(request)
        model = request.match_info.get("model") or body.get("model")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise ReplyError(ErrorKind.BAD_REQUEST, "encoding_format must be float or base64")

        def render(vectors: list[list[float]], tokens: int) -> dict[str, Any]:
            data = [
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": _base64(values) if encoding == "base64" else values,
                }
                for index, values in enumerate(vectors)
            ]
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            return {"object": "list", "data": data, "model": model, "usage": usage}

        return await self._serve_embeddings(request, model, texts, body.get("dimensions"), render)

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        cards = [self._model_card(model) for model in self.models]
        return await self._serve_probe(request, {"object": "list", "data": cards})

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        self._check_model(model)
        return await self._serve_probe(request, self._model_card(model))

    @staticmethod
    def _usage(completion: Completion) -> dict[str, Any]:
        return {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.total_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    @staticmethod
    def _finish(completion: Completion) -> str:
        if completion.tool_calls:
            return "tool_calls"
        return "length" if completion.truncated else "stop"

    @staticmethod
    def _calls(completion: Completion) -> list[dict[str, Any]]:
        return [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in completion.tool_calls
        ]

    def _render(self, call: ChatCall, completion: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": completion.text, "refusal": None}
        if completion.tool_calls:
            message["content"] = None
            message["tool_calls"] = self._calls(completion)
        return {
            "id": self._next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": index,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self._finish(completion),
                }
                for index in range(call.choices)
            ],
            "usage": self._usage(completion),
            "system_fingerprint": "fp_simulated",
            "service_tier": "default",
        }

    def _frames(self, call: ChatCall, completion: Completion) -> StreamFrames:
        base = {
            "id": self._next_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": call.model,
            "system_fingerprint": "fp_simulated",
        }
        if call.include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> bytes:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse_frame({**base, "choices": [choice]})

        tail = [chunk({}, self._finish(completion), index) for index in range(call.choices)]
        if call.include_usage:
            tail.append(sse_frame({**base, "choices": [], "usage": self._usage(completion)}))
        return StreamFrames(
            head=[chunk({"role": "assistant", "content": ""})],
            pieces=[
                chunk({"content": piece}, index=index)
                for piece in completion.pieces
                for index in range(call.choices)
            ]
            + self._call_chunks(completion, chunk),
            tail=tail,
            sentinel=[sse_frame("[DONE]")],
        )

    def _call_chunks(
        self, completion: Completion, chunk: Callable[[dict[str, Any]], bytes]
    ) -> list[bytes]:
        """Each call as OpenAI streams it: id, type and name first, then argument pieces."""
        frames = []
        for index, made in enumerate(self._calls(completion)):
            opening = {**made, "index": index, "function": {**made["function"], "arguments": ""}}
            frames.append(chunk({"tool_calls": [opening]}))
            arguments = made["function"]["arguments"]
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                frames.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        return frames

    def _stream_error_frame(self, echo: str) -> bytes:
        message = "The server is overloaded or not ready yet." + echo
        error = {"message": message, "type": "server_error", "param": None, "code": None}
        return sse_frame({"error": error})


def _base64(values: list[float]) -> str:
    """OpenAI's base64 embedding: the floats as little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")

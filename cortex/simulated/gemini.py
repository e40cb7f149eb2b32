"""A simulated Google Gemini (Generative Language) API.

Serves ``POST /{v1,v1beta}/models/{model}:generateContent``, the streaming
``:streamGenerateContent?alt=sse`` (``data:`` events, no ``[DONE]``, the last
one carrying ``finishReason`` and full ``usageMetadata``), and
``GET /{v1,v1beta}/models[/{model}]``, with the Google RPC error envelope
``{"error": {"code", "message", "status", "details"}}``, as described in
WIRE_FORMATS.md section 3. The key is read from ``x-goog-api-key`` or
``?key=``. Both API versions are served because google-genai 3.4 defaults to
``v1`` while older clients use ``v1beta``. Point ``genai.Client(api_key=...,
http_options=types.HttpOptions(base_url=server.base_url))`` at it.

Offered functions are called with whole ``functionCall`` parts (one chunk when
streamed), the first carrying a ``thoughtSignature`` and ``finishReason`` ``STOP``;
like the real models, 2.x models leave the call id out and Gemini 3 models send one
(WIRE_FORMATS_TOOLS.md 2.3). With ``thinkingConfig.includeThoughts`` the answer opens
with a ``thought: true`` part.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar

from aiohttp import web

from cortex.simulated.content import ChatCall, Completion
from cortex.simulated.faults import ErrorKind
from cortex.simulated.gemini_request import GeminiCall, read_call
from cortex.simulated.server import SimulatedServer
from cortex.simulated.wire import ErrorReply, ReplyError, StreamFrames, sse_frame

__all__ = ["SimulatedGemini"]

_VERSION = "{version:v1|v1beta}"
_MODEL = "{model:[^/:]+}"
_HELP = "https://ai.google.dev/gemini-api/docs/rate-limits"
_ERRORS: dict[ErrorKind, tuple[int, str, str]] = {
    # kind: (code, status, message)
    ErrorKind.RATE_LIMIT: (
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
    ),
    ErrorKind.QUOTA: (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. "
        f"For more information on this error, head to: {_HELP}.",
    ),
    ErrorKind.UNAUTHORIZED: (403, "PERMISSION_DENIED", "The caller does not have permission"),
    ErrorKind.INVALID_KEY: (
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
    ),
    ErrorKind.SERVER_ERROR: (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    ErrorKind.OVERLOADED: (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    ErrorKind.BAD_REQUEST: (400, "INVALID_ARGUMENT", "{detail}"),
    ErrorKind.MODEL_NOT_FOUND: (
        404,
        "NOT_FOUND",
        "models/{detail} is not found, or is not supported for generateContent. "
        "Call ListModels to see the list of available models and their supported methods.",
    ),
}


def _details(error: ReplyError) -> list[dict[str, Any]]:
    """The ``details`` Google attaches: why a key failed, which quota, when to retry."""
    if error.kind is ErrorKind.INVALID_KEY:
        return [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    if error.kind is ErrorKind.RATE_LIMIT:
        quota = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    elif error.kind is ErrorKind.QUOTA:
        quota = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    else:
        return []
    violation = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_requests",
        "quotaId": quota,
    }
    details: list[dict[str, Any]] = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": _HELP}]},
    ]
    if error.kind is ErrorKind.RATE_LIMIT and error.retry_after is not None:
        delay = f"{error.retry_after:g}s"
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    return details


class SimulatedGemini(SimulatedServer):
    """A fake Gemini API; ``base_url`` is the server root (the SDK adds the version).

    Args:
        name: shown in the default reply.
        keys: valid API keys.
        models: accepted model ids, without the ``models/`` prefix.
        reply: fixed reply text, or ``None`` for the greeting that echoes the prompt.
        chunk_delay: seconds slept after each streamed content chunk.
        port: TCP port, 0 for an ephemeral one.
    """

    default_name: ClassVar[str] = "gemini"
    default_keys: ClassVar[tuple[str, ...]] = ("AIza-sim-key-1", "AIza-sim-key-2")
    default_models: ClassVar[tuple[str, ...]] = ("gemini-2.5-flash", "gemini-2.5-pro")
    default_embedding_models: ClassVar[tuple[str, ...]] = ("gemini-embedding-001",)
    error_message_path: ClassVar[tuple[str, ...]] = ("error", "message")

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"/{_VERSION}/models/{_MODEL}:generateContent", self._generate),
            web.post(f"/{_VERSION}/models/{_MODEL}:streamGenerateContent", self._generate),
            web.post(f"/{_VERSION}/models/{_MODEL}:batchEmbedContents", self._batch_embed),
            web.get(f"/{_VERSION}/models", self._list_models),
            web.get(f"/{_VERSION}/models/{_MODEL}", self._get_model),
        ]

    def _api_key(self, request: web.Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query.get("key")

    def _error(self, error: ReplyError) -> ErrorReply:
        code, status, template = _ERRORS[error.kind]
        message = template.format(detail=error.detail)
        return ErrorReply(
            code,
            {
                "error": {
                    "code": code,
                    "message": message,
                    "status": status,
                    "details": _details(error),
                }
            },
        )

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        call = read_call(
            self._json_body(request),
            model=request.match_info["model"],
            stream=request.path.endswith(":streamGenerateContent"),
        )
        return await self._serve_chat(request, call)

    async def _batch_embed(self, request: web.Request) -> web.StreamResponse:
        """``:batchEmbedContents``: every entry names the path's model and one text."""
        model = request.match_info["model"]
        entries = self._json_body(request).get("requests")
        if not isinstance(entries, list) or not entries:
            raise ReplyError(ErrorKind.BAD_REQUEST, "requests must be a non-empty list")
        texts: list[object] = []
        sizes: set[object] = set()
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("model") != f"models/{model}":
                raise ReplyError(ErrorKind.BAD_REQUEST, "each request must name the model")
            content = entry.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
                raise ReplyError(ErrorKind.BAD_REQUEST, "each request needs content.parts")
            texts.append("".join(str(part.get("text", "")) for part in parts))
            sizes.add(entry.get("outputDimensionality"))
        if len(sizes) > 1:
            raise ReplyError(ErrorKind.BAD_REQUEST, "mixed outputDimensionality")

        def render(vectors: list[list[float]], _tokens: int) -> dict[str, Any]:
            return {"embeddings": [{"values": values} for values in vectors]}

        return await self._serve_embeddings(request, model, texts, sizes.pop(), render)

    def _model_card(self, model: str) -> dict[str, Any]:
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model.replace("-", " ").title(),
            "description": f"Simulated {model} served by {self.name}.",
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        models = [self._model_card(model) for model in self.models]
        return await self._serve_probe(request, {"models": models})

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        self._check_model(model)
        return await self._serve_probe(request, self._model_card(model))

    def _response(
        self, call: ChatCall, parts: list[dict[str, Any]], usage: dict[str, int], finish: str | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": call.model,
            "responseId": self._next_id("resp-"),
        }

    def _thought(self, call: ChatCall) -> list[dict[str, Any]]:
        """The thought summary a model shows when asked to ``includeThoughts``."""
        if not (isinstance(call, GeminiCall) and call.thoughts):
            return []
        return [{"text": f"Thinking about: {call.prompt}", "thought": True}]

    def _calls(self, call: ChatCall, completion: Completion) -> list[dict[str, Any]]:
        """``functionCall`` parts, the first signed; ids only from Gemini 3 on, as upstream."""
        parts: list[dict[str, Any]] = []
        for made in completion.tool_calls:
            function: dict[str, Any] = {"name": made.name, "args": made.arguments}
            if _gives_ids(call.model):
                function = {"id": self._next_id("fc-"), **function}
            part: dict[str, Any] = {"functionCall": function}
            if not parts:
                part["thoughtSignature"] = signature_for(made.name)
            parts.append(part)
        return parts

    @staticmethod
    def _usage(completion: Completion, *, final: bool) -> dict[str, int]:
        if not final:
            return {
                "promptTokenCount": completion.prompt_tokens,
                "totalTokenCount": completion.prompt_tokens,
            }
        return {
            "promptTokenCount": completion.prompt_tokens,
            "candidatesTokenCount": completion.completion_tokens,
            "totalTokenCount": completion.total_tokens,
        }

    @staticmethod
    def _finish(completion: Completion) -> str:
        return "MAX_TOKENS" if completion.truncated else "STOP"

    def _render(self, call: ChatCall, completion: Completion) -> dict[str, Any]:
        usage = self._usage(completion, final=True)
        answer = self._calls(call, completion) or [{"text": completion.text}]
        return self._response(call, self._thought(call) + answer, usage, self._finish(completion))

    def _frames(self, call: ChatCall, completion: Completion) -> StreamFrames:
        partial = self._usage(completion, final=False)
        pieces = [[part] for part in self._thought(call)]
        calls = self._calls(call, completion)
        pieces += [calls] if calls else [[{"text": piece}] for piece in completion.pieces]
        usage = self._usage(completion, final=True)
        end = self._response(call, [{"text": ""}], usage, self._finish(completion))
        return StreamFrames(
            head=[],
            pieces=[sse_frame(self._response(call, parts, partial, None)) for parts in pieces],
            tail=[sse_frame(end)],
        )

    def _stream_error_frame(self, echo: str) -> bytes:
        code, status, message = _ERRORS[ErrorKind.OVERLOADED]
        return sse_frame({"error": {"code": code, "message": message + echo, "status": status}})


def signature_for(name: str) -> str:
    """The (base64) ``thoughtSignature`` the fake puts on its first call to ``name``."""
    return base64.b64encode(f"simulated thought signature: {name}".encode()).decode()


def _gives_ids(model: str) -> bool:
    """Gemini 3 always names its calls; 2.x leaves the id out."""
    major = re.match(r"gemini-(\d+)", model)
    return major is not None and int(major.group(1)) >= 3

"""A simulated Ollama server speaking the native API.

Serves ``POST /api/chat`` (NDJSON message chunks, then a ``"done": true``
object with ``done_reason``, token counts and nanosecond durations; one JSON
object when ``"stream": false``), ``GET /api/tags``, ``GET /api/version`` and
``GET /``, with ``{"error": "..."}`` bodies, as described in WIRE_FORMATS.md
section 5. Point ``ollama.Client(host=server.base_url)`` at it. Its model store
(:mod:`cortex.simulated.ollama_models`, :attr:`SimulatedOllama.store`) serves
``GET /api/ps``, ``POST /api/pull``, ``DELETE /api/delete`` and the load-only
``POST /api/generate`` (``keep_alive: 0`` unloads); tests set each instance's models
with ``store.set_models``.

It reads tools, tool results (``role: tool`` messages after the last user message),
``format`` (``"json"`` or a schema), ``images`` and ``think`` as WIRE_FORMATS_TOOLS.md
sections 1.5 to 6.5 describe them, and refuses what the real server's Go structs cannot
decode: images that are not bare base64, call arguments that are not an object. Calls
come back whole, with ids ``call_`` plus 8 characters and ``function.index``: in the one
body, or in a ``done: false`` line of their own before the final one. With ``think`` set,
``message.thinking`` comes first.

A local Ollama has no API keys and no rate limits; RATE_LIMIT, QUOTA and
UNAUTHORIZED render as the ollama.com cloud answers them.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from base64 import b64decode
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from cortex.simulated.content import ChatCall, Completion, read_messages
from cortex.simulated.faults import ErrorKind
from cortex.simulated.ollama_models import OllamaModels
from cortex.simulated.openai_reading import openai_offer
from cortex.simulated.server import SimulatedServer
from cortex.simulated.wire import (
    ErrorReply,
    ReplyError,
    StreamFrames,
    bearer_key,
    json_line,
)

__all__ = ["SimulatedOllama"]

VERSION = "0.12.6"
_NS_PER_TOKEN = 20_000_000  # simulated 50 tokens/s
_ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.RATE_LIMIT: (429, "too many requests, please retry after {retry_after}s"),
    ErrorKind.QUOTA: (429, "you have reached your usage limit, please upgrade your plan"),
    ErrorKind.UNAUTHORIZED: (401, "unauthorized"),
    ErrorKind.INVALID_KEY: (401, "unauthorized"),
    ErrorKind.SERVER_ERROR: (500, "llama runner process has terminated: exit status 2"),
    ErrorKind.OVERLOADED: (
        503,
        "server busy, please try again.  maximum pending requests exceeded",
    ),
    ErrorKind.BAD_REQUEST: (400, "{detail}"),
    ErrorKind.MODEL_NOT_FOUND: (404, 'model "{detail}" not found, try pulling it first'),
}


_THOUGHT = "Let me think about that."
_PIECE = re.compile(r"\s*\S+")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class OllamaCall(ChatCall):
    """A :class:`ChatCall` that also says whether the client asked the model to think."""

    think: bool = False


def _checked(messages: list[Any]) -> int:
    """Count the images, refusing what the server's Go structs cannot decode.

    Raises:
        ReplyError: BAD_REQUEST for an image that is not standard base64 (a ``data:``
            prefix, say) or call arguments that are not an object.
    """
    images = 0
    for message in (m for m in messages if isinstance(m, dict)):
        for image in message.get("images") or []:
            try:
                b64decode(image if isinstance(image, str) else "", validate=True)
            except (binascii.Error, ValueError):
                raise ReplyError(ErrorKind.BAD_REQUEST, "illegal base64 data") from None
            images += 1
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("arguments"), dict):
                raise ReplyError(
                    ErrorKind.BAD_REQUEST,
                    "json: cannot unmarshal string into Go struct field "
                    "ToolCallFunction.messages.tool_calls.function.arguments of type "
                    "api.ToolCallFunctionArguments",
                )
    return images


class SimulatedOllama(SimulatedServer):
    """A fake local Ollama; ``base_url`` is the server root (the SDK's ``host``).

    Args:
        name: shown in the default reply.
        models: pulled models, listed by ``/api/tags``.
        keys: Bearer keys to require, like ollama.com; empty (the default) means no auth.
        reply: fixed reply text, or ``None`` for the greeting that echoes the prompt.
        chunk_delay: seconds slept after each streamed content chunk.
        port: TCP port, 0 for an ephemeral one.
    """

    stream_content_type = "application/x-ndjson"

    default_name: ClassVar[str] = "ollama"
    default_keys: ClassVar[tuple[str, ...]] = ()
    default_models: ClassVar[tuple[str, ...]] = ("llama3.1:8b", "qwen2.5:7b")
    default_embedding_models: ClassVar[tuple[str, ...]] = ("nomic-embed-text", "all-minilm")
    error_message_path: ClassVar[tuple[str, ...]] = ("error",)

    @property
    def store(self) -> OllamaModels:
        """The instance's models on disk and loaded (created with the ``models`` given)."""
        store: OllamaModels | None = getattr(self, "_store", None)
        if store is None:
            store = self._store = OllamaModels(self._initial_models)
        return store

    _initial_models: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        """The models on disk (what ``/api/tags`` lists and chat accepts)."""
        return self.store.on_disk if hasattr(self, "_store") else self._initial_models

    @models.setter
    def models(self, models: tuple[str, ...]) -> None:
        if hasattr(self, "_store"):
            self._store.set_models(models)
        else:
            self._initial_models = tuple(models)

    def _check_model(self, model: str) -> None:
        if not self.store.has(model):
            raise ReplyError(ErrorKind.MODEL_NOT_FOUND, model)
        self.store.load(model)

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/chat", self._chat),
            web.post("/api/embed", self._embed),
            web.post("/api/generate", self._generate),
            web.get("/api/ps", self._ps),
            web.post("/api/pull", self._pull),
            web.delete("/api/delete", self._delete),
            web.get("/api/tags", self._tags),
            web.get("/api/version", self._version),
            web.get("/", self._root),
        ]

    def _api_key(self, request: web.Request) -> str | None:
        return bearer_key(request)

    def _error(self, error: ReplyError) -> ErrorReply:
        status, template = _ERRORS[error.kind]
        message = template.format(
            detail=error.detail or "invalid request", retry_after=f"{error.retry_after or 1:g}"
        )
        return ErrorReply(status, {"error": message})

    async def _embed(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/embed``: ``input`` a string or a list, vectors in ``embeddings``."""
        body = self._json_body(request)
        model, texts = body.get("model"), body.get("input")
        texts = [texts] if isinstance(texts, str) else texts

        def render(vectors: list[list[float]], tokens: int) -> dict[str, Any]:
            return {
                "model": model,
                "embeddings": vectors,
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": tokens,
            }

        return await self._serve_embeddings(request, model, texts, body.get("dimensions"), render)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        model, messages = body.get("model"), body.get("messages") or []
        if not isinstance(model, str) or not model:
            raise ReplyError(ErrorKind.BAD_REQUEST, "model is required")
        if not isinstance(messages, list):
            raise ReplyError(ErrorKind.BAD_REQUEST, "messages must be a list")
        prompt, prompt_tokens = read_messages(messages)
        options = body.get("options") or {}
        num_predict = options.get("num_predict") if isinstance(options, dict) else None
        format_ = body.get("format")
        call = OllamaCall(
            model=model,
            prompt=prompt,
            prompt_tokens=prompt_tokens,
            # Ollama streams unless told otherwise.
            stream=body.get("stream", True) is not False,
            max_tokens=num_predict if isinstance(num_predict, int) and num_predict > 0 else None,
            offer=openai_offer(body),
            json_schema=format_ if isinstance(format_, dict) else None,
            json_mode=format_ == "json",
            images=_checked(messages),
            think=body.get("think") not in (None, False),
        )
        return await self._serve_chat(request, call)

    async def _tags(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_probe(request, self.store.tags())

    async def _ps(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_probe(request, self.store.ps())

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        return await self.store.pull(request, self._json_body(request))

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        return self.store.delete(self._json_body(request))

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/generate`` without a prompt: load the model (``load``), or unload it."""
        body = self._json_body(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ReplyError(ErrorKind.BAD_REQUEST, "model is required")
        if body.get("prompt"):
            raise ReplyError(ErrorKind.BAD_REQUEST, "this simulator only loads models")
        done = {"model": model, "created_at": _now(), "response": "", "done": True}
        if body.get("keep_alive") in (0, "0", "0s"):
            self.store.unload(model)
            return web.json_response({**done, "done_reason": "unload"})
        self._check_model(model)
        return web.json_response({**done, "done_reason": "load"})

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_probe(request, {"version": VERSION})

    async def _root(self, _request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    def _chunk(
        self, call: ChatCall, content: str, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A ``done: false`` line; ``extra`` adds ``thinking`` or ``tool_calls`` to its message."""
        return {
            "model": call.model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content, **(extra or {})},
            "done": False,
        }

    def _tool_calls(self, completion: Completion) -> list[dict[str, Any]]:
        """The calls as Ollama writes them: a made-up id, and the arguments as an object."""
        return [
            {
                "id": self._call_id(),
                "function": {"index": index, "name": made.name, "arguments": made.arguments},
            }
            for index, made in enumerate(completion.tool_calls)
        ]

    def _call_id(self) -> str:
        """``call_`` and 8 characters of ``[a-z0-9]``, like the server's; unique per server."""
        digest = hashlib.sha256(f"{self.name}:{next(self._ids)}".encode()).hexdigest()
        return f"call_{digest[:8]}"

    @staticmethod
    def _thinking(call: ChatCall) -> str:
        return _THOUGHT if isinstance(call, OllamaCall) and call.think else ""

    def _render(self, call: ChatCall, completion: Completion) -> dict[str, Any]:
        body = self._final(call, completion, completion.text)
        if self._thinking(call):
            body["message"]["thinking"] = self._thinking(call)
        if completion.tool_calls:
            body["message"]["tool_calls"] = self._tool_calls(completion)
        return body

    def _final(self, call: ChatCall, completion: Completion, content: str) -> dict[str, Any]:
        prompt_ns = completion.prompt_tokens * _NS_PER_TOKEN // 10
        eval_ns = completion.completion_tokens * _NS_PER_TOKEN
        return {
            **self._chunk(call, content),
            "done": True,
            "done_reason": "length" if completion.truncated else "stop",
            "total_duration": 1_000_000 + prompt_ns + eval_ns,
            "load_duration": 1_000_000,
            "prompt_eval_count": completion.prompt_tokens,
            "prompt_eval_duration": prompt_ns,
            "eval_count": completion.completion_tokens,
            "eval_duration": eval_ns,
        }

    def _frames(self, call: ChatCall, completion: Completion) -> StreamFrames:
        thoughts = [
            self._chunk(call, "", {"thinking": p}) for p in _PIECE.findall(self._thinking(call))
        ]
        pieces = [*thoughts, *(self._chunk(call, piece) for piece in completion.pieces)]
        if completion.tool_calls:
            pieces.append(self._chunk(call, "", {"tool_calls": self._tool_calls(completion)}))
        return StreamFrames(
            head=[],
            pieces=[json_line(piece) for piece in pieces],
            tail=[json_line(self._final(call, completion, ""))],
        )

    def _stream_error_frame(self, echo: str) -> bytes:
        return json_line({"error": "an error was encountered while running the model: EOF" + echo})

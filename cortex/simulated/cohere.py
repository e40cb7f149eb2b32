"""A simulated Cohere Chat v2 API.

Serves ``POST /v2/chat`` (JSON, or SSE whose ``event:`` equals the data's
``type``: ``message-start``, ``content-start``, ``content-delta``,
``content-end``, ``message-end``) and ``GET /v1/models``, with Bearer auth and
``{"message": "..."}`` error bodies, as described in WIRE_FORMATS.md section 4.
Offered tools, it calls one the way Cohere does (WIRE_FORMATS_TOOLS.md section 2.4): a
``tool_plan`` and ``tool_calls`` with JSON-text arguments and ``finish_reason``
``TOOL_CALL``; streamed, ``tool-plan-delta`` events, then ``tool-call-start``,
``tool-call-delta`` (argument fragments) and ``tool-call-end``. With ``thinking`` enabled
a text answer starts with a thinking item (index 0; the text is then index 1).
:mod:`cortex.simulated.cohere_request` reads and checks the request.
A mid-stream error is a ``message-end`` whose ``finish_reason`` is ``ERROR``,
which the SDK hands over as an ordinary event. Point
``cohere.ClientV2(api_key=..., base_url=server.base_url)`` at it.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from aiohttp import web

from cortex.simulated.cohere_request import CohereCall, read_call
from cortex.simulated.content import ChatCall, Completion, SimulatedToolCall
from cortex.simulated.faults import ErrorKind
from cortex.simulated.server import SimulatedServer
from cortex.simulated.wire import ErrorReply, ReplyError, StreamFrames, bearer_key, typed_event

_INPUT_TYPES = frozenset(
    {"search_document", "search_query", "classification", "clustering", "image"}
)
_MAX_TEXTS = 96

__all__ = ["SimulatedCohere"]

_PIECE = re.compile(r"\s*\S+")
# Arguments stream in fragments ending after each ``:`` or ``,``, like Cohere's example.
_ARGUMENT_PIECE = re.compile(r"[^:,]*[:,]|[^:,]+")

THINKING = "The user wants an answer; I will keep it short."
"""What the simulated model thinks before it answers, when the request enables thinking."""


_ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.RATE_LIMIT: (
        429,
        "You are using a Trial key, which is limited to 20 API calls / minute. You can "
        "continue to use the Trial key for free or upgrade to a Production key with higher "
        "rate limits at 'https://dashboard.cohere.com/api-keys'.",
    ),
    ErrorKind.QUOTA: (
        402,
        "Please add or update your payment method at "
        "https://dashboard.cohere.com/billing?tab=payment to continue",
    ),
    ErrorKind.UNAUTHORIZED: (401, "invalid api token"),
    ErrorKind.INVALID_KEY: (401, "invalid api token"),
    ErrorKind.SERVER_ERROR: (
        500,
        "internal server error, this has been reported to our developers",
    ),
    ErrorKind.OVERLOADED: (503, "service unavailable, please try again later"),
    ErrorKind.BAD_REQUEST: (400, "{detail}"),
    ErrorKind.MODEL_NOT_FOUND: (
        404,
        "model '{detail}' not found, make sure the correct model ID was used and that you "
        "have access to the model.",
    ),
}


class SimulatedCohere(SimulatedServer):
    """A fake Cohere API; ``base_url`` is the server root.

    Args:
        name: shown in the default reply.
        keys: valid Bearer keys.
        models: accepted model ids.
        reply: fixed reply text, or ``None`` for the greeting that echoes the prompt.
        chunk_delay: seconds slept after each streamed content chunk.
        port: TCP port, 0 for an ephemeral one.
    """

    default_name: ClassVar[str] = "cohere"
    call_id_prefix: ClassVar[str] = ""  # Cohere ids are the function name and a suffix
    default_keys: ClassVar[tuple[str, ...]] = ("co-sim-key-1", "co-sim-key-2")
    default_models: ClassVar[tuple[str, ...]] = ("command-a-03-2025", "command-r7b-12-2024")
    default_embedding_models: ClassVar[tuple[str, ...]] = ("embed-v4.0",)
    error_message_path: ClassVar[tuple[str, ...]] = ("message",)

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v2/chat", self._chat),
            web.post("/v2/embed", self._embed),
            web.get("/v1/models", self._list_models),
        ]

    def _api_key(self, request: web.Request) -> str | None:
        return bearer_key(request)

    def _error(self, error: ReplyError) -> ErrorReply:
        status, template = _ERRORS[error.kind]
        return ErrorReply(status, {"message": template.format(detail=error.detail)})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_chat(request, read_call(self._json_body(request)))

    async def _embed(self, request: web.Request) -> web.StreamResponse:
        """``POST /v2/embed``: float vectors for at most 96 texts; ``input_type`` required."""
        body = self._json_body(request)
        texts = body.get("texts")
        if body.get("input_type") not in _INPUT_TYPES:
            raise ReplyError(ErrorKind.BAD_REQUEST, "invalid request: input_type is required")
        if isinstance(texts, list) and len(texts) > _MAX_TEXTS:
            raise ReplyError(ErrorKind.BAD_REQUEST, f"invalid request: at most {_MAX_TEXTS} texts")
        if body.get("embedding_types", ["float"]) != ["float"]:
            raise ReplyError(ErrorKind.BAD_REQUEST, "this simulation embeds as float only")

        def render(vectors: list[list[float]], tokens: int) -> dict[str, Any]:
            return {
                "id": self._next_id("embed-"),
                "response_type": "embeddings_by_type",
                "embeddings": {"float": vectors},
                "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            }

        model = body.get("model")
        return await self._serve_embeddings(
            request, model, texts, body.get("output_dimension"), render
        )

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        models = [
            {
                "name": model,
                "endpoints": ["chat", "generate"],
                "finetuned": False,
                "context_length": 256_000,
                "tokenizer_url": None,
                "default_endpoints": ["chat"],
                "is_deprecated": False,
            }
            for model in self.models
        ]
        return await self._serve_probe(request, {"models": models, "next_page_token": None})

    @staticmethod
    def _usage(completion: Completion) -> dict[str, Any]:
        counts = {
            "input_tokens": completion.prompt_tokens,
            "output_tokens": completion.completion_tokens,
        }
        return {"billed_units": counts, "tokens": counts, "cached_tokens": 0}

    @staticmethod
    def _finish(completion: Completion) -> str:
        if completion.tool_calls:
            return "TOOL_CALL"
        return "MAX_TOKENS" if completion.truncated else "COMPLETE"

    def _render(self, call: ChatCall, completion: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant"}
        if completion.tool_calls:
            message["tool_plan"] = _plan(completion)
            message["tool_calls"] = [_call_json(made) for made in completion.tool_calls]
        else:
            thinking = [{"type": "thinking", "thinking": THINKING}] if _thinks(call) else []
            message["content"] = [*thinking, {"type": "text", "text": completion.text}]
        return {
            "id": self._next_id(""),
            "finish_reason": self._finish(completion),
            "message": message,
            "usage": self._usage(completion),
        }

    def _frames(self, call: ChatCall, completion: Completion) -> StreamFrames:
        start = {
            "role": "assistant",
            "content": [],
            "tool_plan": "",
            "tool_calls": [],
            "citations": [],
        }
        end = {
            "finish_reason": self._finish(completion),
            "usage": self._usage(completion),
            "error": None,
        }
        head = [
            typed_event(
                {"id": self._next_id(""), "type": "message-start", "delta": {"message": start}}
            )
        ]
        if completion.tool_calls:
            pieces = _call_events(completion)
        else:
            head.extend(_text_head(_thinks(call)))
            pieces = [
                _content("content-delta", int(_thinks(call)), {"text": piece})
                for piece in completion.pieces
            ]
        tail = [] if completion.tool_calls else [_content("content-end", int(_thinks(call)))]
        tail.append(typed_event({"type": "message-end", "delta": end}))
        return StreamFrames(head=head, pieces=pieces, tail=tail)

    def _stream_error_frame(self, echo: str) -> bytes:
        _, message = _ERRORS[ErrorKind.SERVER_ERROR]
        return typed_event(
            {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message + echo}}
        )


def _thinks(call: ChatCall) -> bool:
    return isinstance(call, CohereCall) and call.thinking


def _content(kind: str, index: int, content: dict[str, Any] | None = None) -> bytes:
    """A ``content-*`` event; its ``delta`` only when there is content."""
    data: dict[str, Any] = {"type": kind, "index": index}
    if content is not None:
        data["delta"] = {"message": {"content": content}}
    return typed_event(data)


def _text_head(thinking: bool) -> list[bytes]:
    """The events before the text's pieces: a whole thinking item first, if asked for."""
    events = []
    if thinking:
        events = [
            _content("content-start", 0, {"type": "thinking", "thinking": ""}),
            _content("content-delta", 0, {"thinking": THINKING}),
            _content("content-end", 0),
        ]
    return [*events, _content("content-start", int(thinking), {"type": "text", "text": ""})]


def _plan(completion: Completion) -> str:
    """The plan the model states before its calls."""
    return "I will call " + ", ".join(made.name for made in completion.tool_calls) + "."


def _call_json(made: SimulatedToolCall) -> dict[str, Any]:
    function = {"name": made.name, "arguments": json.dumps(made.arguments)}
    return {"id": made.id, "type": "function", "function": function}


def _call_events(completion: Completion) -> list[bytes]:
    """The plan in word pieces, then each call: start (id, name), argument pieces, end."""
    events = [
        typed_event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}})
        for piece in _PIECE.findall(_plan(completion))
    ]
    for index, made in enumerate(completion.tool_calls):
        start = {**_call_json(made), "function": {"name": made.name, "arguments": ""}}
        message: dict[str, Any] = {"tool_calls": start}
        events.append(
            typed_event({"type": "tool-call-start", "index": index, "delta": {"message": message}})
        )
        for fragment in _ARGUMENT_PIECE.findall(json.dumps(made.arguments)):
            message = {"tool_calls": {"function": {"arguments": fragment}}}
            events.append(
                typed_event(
                    {"type": "tool-call-delta", "index": index, "delta": {"message": message}}
                )
            )
        events.append(typed_event({"type": "tool-call-end", "index": index}))
    return events

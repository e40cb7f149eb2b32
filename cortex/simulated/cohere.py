"""A simulated Cohere Chat v2 API.

Serves ``POST /v2/chat`` (JSON, or SSE whose ``event:`` equals the data's
``type``: ``message-start``, ``content-start``, ``content-delta``,
``content-end``, ``message-end``) and ``GET /v1/models``, with Bearer auth and
``{"message": "..."}`` error bodies, as described in WIRE_FORMATS.md section 4.
A mid-stream error is a ``message-end`` whose ``finish_reason`` is ``ERROR``,
which the SDK hands over as an ordinary event. Point
``cohere.ClientV2(api_key=..., base_url=server.base_url)`` at it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from cortex.simulated.content import ChatCall, Completion, read_messages
from cortex.simulated.faults import ErrorKind
from cortex.simulated.server import SimulatedServer
from cortex.simulated.wire import ErrorReply, ReplyError, StreamFrames, bearer_key, typed_event

__all__ = ["SimulatedCohere"]

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
    default_keys: ClassVar[tuple[str, ...]] = ("co-sim-key-1", "co-sim-key-2")
    default_models: ClassVar[tuple[str, ...]] = ("command-a-03-2025", "command-r7b-12-2024")
    error_message_path: ClassVar[tuple[str, ...]] = ("message",)

    def _routes(self) -> list[web.RouteDef]:
        return [web.post("/v2/chat", self._chat), web.get("/v1/models", self._list_models)]

    def _api_key(self, request: web.Request) -> str | None:
        return bearer_key(request)

    def _error(self, error: ReplyError) -> ErrorReply:
        status, template = _ERRORS[error.kind]
        return ErrorReply(status, {"message": template.format(detail=error.detail)})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise ReplyError(ErrorKind.BAD_REQUEST, "invalid request: model must be specified")
        if not isinstance(messages, list) or not messages:
            raise ReplyError(ErrorKind.BAD_REQUEST, "invalid request: messages cannot be empty")
        prompt, prompt_tokens = read_messages(messages)
        max_tokens = body.get("max_tokens")
        call = ChatCall(
            model=model,
            prompt=prompt,
            prompt_tokens=prompt_tokens,
            stream=bool(body.get("stream")),
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        )
        return await self._serve_chat(request, call)

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
        return "MAX_TOKENS" if completion.truncated else "COMPLETE"

    def _render(self, _call: ChatCall, completion: Completion) -> dict[str, Any]:
        return {
            "id": self._next_id(""),
            "finish_reason": self._finish(completion),
            "message": {
                "role": "assistant",
                "content": [{"type": "text", "text": completion.text}],
            },
            "usage": self._usage(completion),
        }

    def _frames(self, _call: ChatCall, completion: Completion) -> StreamFrames:
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
        text_start = {"message": {"content": {"type": "text", "text": ""}}}
        return StreamFrames(
            head=[
                typed_event(
                    {"id": self._next_id(""), "type": "message-start", "delta": {"message": start}}
                ),
                typed_event({"type": "content-start", "index": 0, "delta": text_start}),
            ],
            pieces=[
                typed_event(
                    {
                        "type": "content-delta",
                        "index": 0,
                        "delta": {"message": {"content": {"text": piece}}},
                    }
                )
                for piece in completion.pieces
            ],
            tail=[
                typed_event({"type": "content-end", "index": 0}),
                typed_event({"type": "message-end", "delta": end}),
            ],
        )

    def _stream_error_frame(self, echo: str) -> bytes:
        _, message = _ERRORS[ErrorKind.SERVER_ERROR]
        return typed_event(
            {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message + echo}}
        )

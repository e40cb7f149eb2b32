"""A simulated Anthropic Messages API.

Serves ``POST /v1/messages`` (JSON, or SSE with named events ``message_start``,
``content_block_start``, ``ping``, ``content_block_delta``,
``content_block_stop``, ``message_delta``, ``message_stop``) and
``GET /v1/models[/{model}]``, with the ``{"type": "error", "error": {...},
"request_id"}`` envelope and 529 ``overloaded_error``, as described in
WIRE_FORMATS.md section 2. The key is read from ``x-api-key`` or, as SDK 2.12
sends it, ``Authorization: Bearer``; ``anthropic-version`` is required.
Tools, structured output, images and thinking are read and rendered in
:mod:`cortex.simulated.anthropic_tools`.
Point ``anthropic.Anthropic(base_url=server.base_url)`` at it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from cortex.simulated.anthropic_tools import block_frames, read_call, whole_blocks
from cortex.simulated.content import ChatCall, Completion
from cortex.simulated.faults import ErrorKind
from cortex.simulated.server import SimulatedServer
from cortex.simulated.wire import ErrorReply, ReplyError, StreamFrames, bearer_key, typed_event

__all__ = ["SimulatedAnthropic"]

_ERRORS: dict[ErrorKind, tuple[int, str, str]] = {
    # kind: (status, error.type, message)
    ErrorKind.RATE_LIMIT: (
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests "
        "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. "
        "You can see the response headers for current usage. Please reduce the prompt "
        "length or the maximum tokens requested, or try again later.",
    ),
    ErrorKind.QUOTA: (
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
    ),
    ErrorKind.UNAUTHORIZED: (401, "authentication_error", "invalid x-api-key"),
    ErrorKind.INVALID_KEY: (401, "authentication_error", "invalid x-api-key"),
    ErrorKind.SERVER_ERROR: (500, "api_error", "Internal server error"),
    ErrorKind.OVERLOADED: (529, "overloaded_error", "Overloaded"),
    ErrorKind.BAD_REQUEST: (400, "invalid_request_error", "{detail}"),
    ErrorKind.MODEL_NOT_FOUND: (404, "not_found_error", "model: {detail}"),
}


class SimulatedAnthropic(SimulatedServer):
    """A fake Anthropic API; ``base_url`` is the server root (the SDK adds ``/v1``).

    Args:
        name: shown in the default reply.
        keys: valid API keys.
        models: accepted model ids.
        reply: fixed reply text, or ``None`` for the greeting that echoes the prompt.
        chunk_delay: seconds slept after each streamed content chunk.
        port: TCP port, 0 for an ephemeral one.
    """

    default_name: ClassVar[str] = "anthropic"
    call_id_prefix: ClassVar[str] = "toolu_"
    default_keys: ClassVar[tuple[str, ...]] = ("sk-ant-sim-key-1", "sk-ant-sim-key-2")
    default_models: ClassVar[tuple[str, ...]] = ("claude-sonnet-4-6", "claude-haiku-4-5")
    error_message_path: ClassVar[tuple[str, ...]] = ("error", "message")

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self._messages),
            web.get("/v1/models", self._list_models),
            web.get("/v1/models/{model}", self._get_model),
        ]

    def _api_key(self, request: web.Request) -> str | None:
        return request.headers.get("x-api-key") or bearer_key(request)

    def _preflight(self, request: web.Request) -> None:
        if "anthropic-version" not in request.headers:
            raise ReplyError(ErrorKind.BAD_REQUEST, "anthropic-version: header is required")

    def _error(self, error: ReplyError) -> ErrorReply:
        status, type_, template = _ERRORS[error.kind]
        request_id = self._next_id("req_")
        body = {
            "type": "error",
            "error": {"type": type_, "message": template.format(detail=error.detail)},
            "request_id": request_id,
        }
        return ErrorReply(status, body, {"request-id": request_id})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        model, max_tokens = body.get("model"), body.get("max_tokens")
        if not isinstance(model, str) or not model:
            raise ReplyError(ErrorKind.BAD_REQUEST, "model: Field required")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ReplyError(ErrorKind.BAD_REQUEST, "max_tokens: Field required")
        return await self._serve_chat(request, read_call(body, model, max_tokens))

    @staticmethod
    def _model_card(model: str) -> dict[str, Any]:
        return {
            "type": "model",
            "id": model,
            "display_name": model.replace("-", " ").title(),
            "created_at": "2025-09-29T00:00:00Z",
            "lifecycle": "active",
        }

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        cards = [self._model_card(model) for model in self.models]
        page = {
            "data": cards,
            "has_more": False,
            "first_id": cards[0]["id"] if cards else None,
            "last_id": cards[-1]["id"] if cards else None,
        }
        return await self._serve_probe(request, page)

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        self._check_model(model)
        return await self._serve_probe(request, self._model_card(model))

    def _message(self, call: ChatCall, text: str | None, completion: Completion) -> dict[str, Any]:
        """The Message object; ``text=None`` gives the empty shell of ``message_start``."""
        finished = text is not None
        return {
            "id": self._next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": whole_blocks(call, completion) if finished else [],
            "stop_reason": _stop_reason(completion) if finished else None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": completion.prompt_tokens,
                "output_tokens": completion.completion_tokens if finished else 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _render(self, call: ChatCall, completion: Completion) -> dict[str, Any]:
        return self._message(call, completion.text, completion)

    def _frames(self, call: ChatCall, completion: Completion) -> StreamFrames:
        message_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(completion), "stop_sequence": None},
            "usage": {"output_tokens": completion.completion_tokens},
        }
        start = {"type": "message_start", "message": self._message(call, None, completion)}
        head, pieces, closing = block_frames(call, completion)
        return StreamFrames(
            head=[typed_event(start), *head, typed_event({"type": "ping"})],
            pieces=pieces,
            tail=[*closing, typed_event(message_delta)],
            sentinel=[typed_event({"type": "message_stop"})],
        )

    def _stream_error_frame(self, echo: str) -> bytes:
        error = {"type": "overloaded_error", "message": "Overloaded" + echo}
        return typed_event({"type": "error", "error": error})


def _stop_reason(completion: Completion) -> str:
    if completion.tool_calls:
        return "tool_use"
    return "max_tokens" if completion.truncated else "end_turn"

"""The Anthropic Messages API: ``POST {base}/v1/messages`` with named SSE events.

The worker's ``base_url`` is the host (``https://api.anthropic.com``). There is no system
role, so system (and developer) messages are lifted into the top-level ``system`` field,
and ``max_tokens`` is mandatory, so a default is always sent. The stream's input token
count arrives in ``message_start`` and the cumulative output count in ``message_delta``;
the decoder combines them into one :class:`Usage` at ``message_stop``. Errors, in an HTTP
body or as an ``error`` event mid-stream, carry an ``error.type`` that decides the kind.
Tools, images, structured output and thinking are translated in
:mod:`cortex.providers.anthropic_tools`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from actors.outcomes import ErrorKind, UpstreamFailure, kind_for_status
from actors.wire import HttpCall
from cortex.chat import ChatRequest, Finished, Message, StreamEvent, Usage
from cortex.providers.anthropic_blocks import ContentBlocks
from cortex.providers.anthropic_tools import (
    WHY_DROPPED,
    messages_json,
    output_fields,
    refuses_images,
    shaping,
    tool_fields,
)
from cortex.providers.base import Target
from cortex.providers.capabilities import Carries, Fit, fit
from cortex.providers.payload import (
    JsonObject,
    count,
    error_object,
    failed,
    http_failure,
    names,
    obj,
    parse_object,
    string,
)
from cortex.providers.sse import RawSseFrames
from cortex.providers.stream import JsonStreamDecoder

log = structlog.get_logger("cortex.providers")

API_VERSION = "2023-06-01"
_KIND_BY_TYPE = {
    "invalid_request_error": ErrorKind.BAD_REQUEST,
    "authentication_error": ErrorKind.INVALID_KEY,
    "permission_error": ErrorKind.INVALID_KEY,
    "billing_error": ErrorKind.QUOTA_EXHAUSTED,
    "not_found_error": ErrorKind.BAD_REQUEST,
    "request_too_large": ErrorKind.BAD_REQUEST,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "api_error": ErrorKind.UPSTREAM_ERROR,
    "timeout_error": ErrorKind.TIMEOUT,
    "overloaded_error": ErrorKind.OVERLOADED,
}
_SYSTEM_ROLES = frozenset({"system", "developer"})


def split_system(messages: Sequence[Message]) -> tuple[list[str], list[Message]]:
    """Separate system and developer texts from the rest of the conversation.

    For APIs that take the system prompt as a top-level field (Anthropic, Gemini).
    """
    system = [m.content for m in messages if m.role in _SYSTEM_ROLES]
    return system, [m for m in messages if m.role not in _SYSTEM_ROLES]


def drop_blank(messages: Sequence[Message], provider: str) -> list[Message]:
    """Leave out messages with nothing in them, which Anthropic and Gemini reject with a 400.

    An empty turn carries nothing the model could read, so dropping it (with a debug log)
    serves the request where forwarding it would fail it. A turn that calls tools, holds
    images or answers a call is never empty, whatever its text.
    """
    kept = [m for m in messages if m.content.strip() or m.parts or m.tool_calls or m.role == "tool"]
    if len(kept) < len(messages):
        log.debug(
            "request_field_dropped",
            provider=provider,
            field="messages",
            count=len(messages) - len(kept),
            reason="messages without text are rejected upstream",
        )
    return kept


def _kind(error: Mapping[str, Any], status: int | None) -> ErrorKind:
    """Kind from ``error.type``, then the status; credit and spend limits are quota."""
    message = (string(error, "message") or "").lower()
    if "credit balance" in message:
        return ErrorKind.QUOTA_EXHAUSTED
    if string(obj(error, "details"), "error_code") == "enforced_spend_limit_reached":
        return ErrorKind.QUOTA_EXHAUSTED
    known = _KIND_BY_TYPE.get(string(error, "type") or "")
    if known is not None:
        return known
    return kind_for_status(status) if status is not None else ErrorKind.UPSTREAM_ERROR


def _usage(prompt: int | None, completion: int | None) -> Usage | None:
    return None if prompt is None and completion is None else Usage(prompt or 0, completion or 0)


def _prompt_tokens(usage: Mapping[str, Any]) -> int | None:
    """Input tokens including cache reads and writes, as OpenAI's prompt_tokens counts them."""
    parts = [count(usage, key) for key in ("input_tokens", "cache_creation_input_tokens")]
    parts.append(count(usage, "cache_read_input_tokens"))
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def _index(payload: JsonObject) -> int:
    index = payload.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else -1


class _EventHandler:
    """Turns Messages stream events into events; one per stream.

    The end signal is ``message_delta`` with a ``stop_reason``, or ``message_stop``: a
    ``message_stop`` without a reason before it still ends the answer (as ``stop``).
    """

    def __init__(self) -> None:
        self._prompt: int | None = None
        self._completion: int | None = None
        self._finished = False
        self._blocks = ContentBlocks()

    def on_payload(self, event: str, payload: JsonObject) -> list[StreamEvent]:
        kind = string(payload, "type") or event
        if kind.startswith("content_block_"):
            return self._block(kind, payload)
        if kind in ("message_start", "message_delta"):
            source = obj(payload, "usage") or obj(obj(payload, "message"), "usage")
            self._prompt = _prompt_tokens(source) or self._prompt
            self._completion = count(source, "output_tokens") or self._completion
            reason = string(obj(payload, "delta"), "stop_reason")
            if not reason:
                return []
            self._finished = True
            return [Finished(self._blocks.finish(reason))]
        if kind == "message_stop":
            ending = [] if self._finished else [Finished(self._blocks.finish(None))]
            self._finished = True
            return [*ending, *self.on_end()]
        if kind == "error":
            error = obj(payload, "error")
            message = string(error, "message")
            code = string(error, "type")
            return [failed(_kind(error, None), message, fallback="stream error", code=code)]
        return []  # ping and future event types

    def _block(self, kind: str, payload: JsonObject) -> list[StreamEvent]:
        index = _index(payload)
        if kind == "content_block_delta":
            return self._blocks.delta(index, obj(payload, "delta"))
        if kind == "content_block_start":
            return self._blocks.start(index, obj(payload, "content_block"))
        return self._blocks.stop(index) if kind == "content_block_stop" else []

    def on_end(self) -> list[StreamEvent]:
        usage = _usage(self._prompt, self._completion)
        self._prompt = self._completion = None
        return [usage] if usage else []


CARRIES = Carries(parallel_switch=True, options=frozenset({"user", "top_k"}))
"""What this wire translates of the chat surface."""
WIRE = "anthropic"
"""The :class:`~cortex.chat.NativeBody` wire this adapter sends unchanged."""


class AnthropicAdapter:
    """The Messages wire format (type ``anthropic``).

    Args:
        default_max_tokens: sent when the request names no ``max_tokens``, because the
            API rejects a request without one.
        version: the ``anthropic-version`` header.
    """

    def __init__(self, *, default_max_tokens: int = 1024, version: str = API_VERSION) -> None:
        self._default_max_tokens = default_max_tokens
        self._version = version

    def _headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self._version}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def fit(self, request: ChatRequest) -> Fit:
        """What of ``request`` the Anthropic wire cannot honour or leaves out.

        Images of a type Anthropic refuses are unmet, so another worker may take them;
        thinking and sampling drops are named as :func:`shaping` decides them. A body
        that came in Anthropic's format is sent as it came, so nothing is unmet or dropped.
        """
        if request.native_for(WIRE) is not None:
            return Fit()
        fitted = fit(CARRIES, request, dropped=shaping(request).dropped)
        if refuses_images(request) and "image_url" not in fitted.unmet:
            return Fit((*fitted.unmet, "image_url"), fitted.dropped)
        return fitted

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build ``POST {base}/v1/messages``.

        A request that came in Anthropic's format is sent as the client wrote it, with
        only ``model`` (the worker's) and ``stream`` set: no double translation.

        Raises:
            ValueError: tool-call arguments that are not a JSON object, or an image
                Anthropic cannot take.
        """
        url = f"{target.base_url.rstrip('/')}/v1/messages"
        native = request.native_for(WIRE)
        if native is not None:
            as_sent = {**native.body, "model": target.model, "stream": stream}
            return HttpCall("POST", url, self._headers(target.api_key), as_sent)
        shape = shaping(request)
        for field in shape.dropped:
            reason = WHY_DROPPED[field]
            log.debug("request_field_dropped", provider="anthropic", field=field, reason=reason)
        system, conversation = split_system(drop_blank(request.messages, "anthropic"))
        body: dict[str, object] = {"model": target.model}
        if system:
            body["system"] = "\n\n".join(system)
        body["messages"] = messages_json(conversation)
        max_tokens = request.max_tokens or self._default_max_tokens
        if shape.thinking is not None and max_tokens <= shape.thinking:
            max_tokens += shape.thinking  # thinking counts toward max_tokens: keep the answer's
        body["max_tokens"] = max_tokens
        body["stream"] = stream
        body.update(shape.sampling)
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        body.update(tool_fields(request))
        body.update(output_fields(request))
        if shape.thinking is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": shape.thinking}
        user = request.options.get("user")
        if user is not None:
            body["metadata"] = {"user_id": user}
        return HttpCall("POST", url, self._headers(target.api_key), body)

    def decoder(self) -> JsonStreamDecoder:
        """A decoder for one stream of named SSE events."""
        return JsonStreamDecoder(RawSseFrames(), _EventHandler())

    def parse_completion(self, body: bytes) -> list[StreamEvent]:
        """Parse a ``message`` object: thinking, text and calls in order, finish, usage.

        Raises:
            ValueError: not JSON, no ``content`` list, or no ``stop_reason``.
        """
        payload = parse_object(body)
        content, usage = payload.get("content"), obj(payload, "usage")
        if isinstance(content, list):
            reason = string(payload, "stop_reason")
            if reason is None:
                raise ValueError("message without a stop_reason: the answer may be cut short")
            tokens = _usage(_prompt_tokens(usage), count(usage, "output_tokens"))
            blocks = ContentBlocks()
            events = [
                event
                for index, block in enumerate(content)
                if isinstance(block, dict)
                for event in blocks.whole(index, block)
            ]
            return [*events, Finished(blocks.finish(reason)), *([tokens] if tokens else [])]
        raise ValueError("message without a content list")

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFailure:
        """Classify by ``error.type`` (529 ``overloaded_error`` included), else by status."""
        error = obj(error_object(body), "error")
        return http_failure(
            status,
            headers,
            body,
            kind=_kind(error, status),
            message=error.get("message"),
            code=string(error, "type"),
        )

    def models_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build ``GET {base}/v1/models`` (needs the same headers as chat)."""
        return HttpCall("GET", f"{base_url.rstrip('/')}/v1/models", self._headers(api_key))

    def parse_models(self, body: bytes) -> tuple[str, ...]:
        """Read ``data[].id``.

        Raises:
            ValueError: not JSON, or no ``data`` list.
        """
        return names(body, "data", "id")

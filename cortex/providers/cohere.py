"""Cohere Chat v2: ``POST {base}/v2/chat``, SSE events named like their ``type``.

The worker's ``base_url`` is the host (``https://api.cohere.com``). Messages keep the
OpenAI roles; ``top_p`` is called ``p`` and ``stop`` is ``stop_sequences``. Text arrives
in ``content-delta`` events, and ``message-end`` carries the finish reason and usage. A
generation that fails mid-way is not an error event: it is a ``message-end`` whose
``finish_reason`` is ``ERROR`` (or ``TIMEOUT``), so the decoder turns those into
:class:`StreamFailed`. Error bodies are just ``{"message": "..."}``, so the status decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from actors.outcomes import ErrorKind, UpstreamFailure, kind_for_status
from actors.wire import HttpCall
from cortex.chat import ChatRequest, Finished, StreamEvent, TextDelta, Usage
from cortex.providers.base import Target
from cortex.providers.capabilities import Carries, Fit, fit
from cortex.providers.openai import bearer_headers
from cortex.providers.payload import (
    JsonObject,
    error_object,
    failed,
    http_failure,
    joined_text,
    names,
    obj,
    parse_object,
    string,
    usage_from,
)
from cortex.providers.sse import SseParser
from cortex.providers.stream import JsonStreamDecoder, whole_body

_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
    "ERROR_LIMIT": "length",
}
# Finish reasons that mean the generation failed rather than ended.
_FAILED = {"ERROR": ErrorKind.UPSTREAM_ERROR, "TIMEOUT": ErrorKind.TIMEOUT}
# Trial keys have a monthly call cap; hitting it is quota, not a per-minute limit.
_MONTHLY = re.compile(r"/ ?month|per month|monthly", re.IGNORECASE)


def _usage(usage: Mapping[str, Any]) -> Usage | None:
    """Actual token counts (``tokens``), else the billed ones (``billed_units``)."""
    return usage_from(obj(usage, "tokens"), "input_tokens", "output_tokens") or usage_from(
        obj(usage, "billed_units"), "input_tokens", "output_tokens"
    )


def _ending(finish_reason: str | None, error: object, usage: Usage | None) -> list[StreamEvent]:
    """The events for the end of a generation, in a stream or a whole answer.

    A ``message-end`` is the stream's end signal by itself, so one without a reason ends
    the answer as ``COMPLETE``.
    """
    reason = finish_reason or "COMPLETE"
    if reason in _FAILED:
        message = error if isinstance(error, str) and error else f"generation ended with {reason}"
        return [failed(_FAILED[reason], message, fallback=reason, code=reason)]
    events: list[StreamEvent] = [Finished(_FINISH.get(reason, "stop"))]
    return [*events, usage] if usage else events


class _EventHandler:
    """Stateless: ``message-end`` carries both the finish reason and the usage."""

    def on_payload(self, event: str, payload: JsonObject) -> list[StreamEvent]:
        kind = string(payload, "type") or event
        delta = obj(payload, "delta")
        if kind == "content-delta":
            text = string(obj(obj(delta, "message"), "content"), "text")
            return [TextDelta(text)] if text else []
        if kind == "message-end":
            usage = _usage(obj(delta, "usage"))
            return _ending(string(delta, "finish_reason"), delta.get("error"), usage)
        return []  # message-start, content-start/end, tool and citation events

    def on_end(self) -> list[StreamEvent]:
        return []


CARRIES = Carries(options=frozenset({"seed", "presence_penalty", "frequency_penalty", "top_k"}))
"""What this wire translates of the chat surface."""


class CohereAdapter:
    """The Chat v2 wire format (type ``cohere``). Takes no arguments."""

    def fit(self, request: ChatRequest) -> Fit:
        """What of ``request`` the Cohere wire cannot honour or leaves out."""
        return fit(CARRIES, request)

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build ``POST {base}/v2/chat``."""
        body: dict[str, object] = {
            "model": target.model,
            "messages": [
                {"role": "system" if m.role == "developer" else m.role, "content": m.content}
                for m in request.messages
            ],
            "stream": stream,
        }
        optional = {
            "temperature": request.temperature,
            "p": request.top_p,
            "max_tokens": request.max_tokens,
            "stop_sequences": list(request.stop) or None,
        }
        body.update((key, value) for key, value in optional.items() if value is not None)
        url = f"{target.base_url.rstrip('/')}/v2/chat"
        return HttpCall("POST", url, bearer_headers(target.api_key), body)

    def decoder(self) -> JsonStreamDecoder:
        """A decoder for one v2 SSE stream."""
        return JsonStreamDecoder(SseParser(), _EventHandler())

    def parse_completion(self, body: bytes) -> list[StreamEvent]:
        """Parse a v2 chat response.

        Raises:
            ValueError: not JSON, no ``message.content`` list, no ``finish_reason``, or a
                failed generation.
        """
        payload = parse_object(body)
        content = obj(payload, "message").get("content")
        if isinstance(content, list):
            reason = string(payload, "finish_reason")
            if reason is None:
                raise ValueError("chat response without a finish_reason: answer may be cut short")
            ending = _ending(reason, None, _usage(obj(payload, "usage")))
            return whole_body([TextDelta(joined_text(content)), *ending])
        raise ValueError("chat response without message.content")

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFailure:
        """Classify by status: 402 billing, 498 blocked content, 499 cancelled (retryable)."""
        message = error_object(body).get("message")
        text = message if isinstance(message, str) else body.decode("utf-8", errors="replace")
        kind = kind_for_status(status)
        if status == 498:
            kind = ErrorKind.BAD_REQUEST
        elif status == 429 and _MONTHLY.search(text):
            kind = ErrorKind.QUOTA_EXHAUSTED
        return http_failure(status, headers, body, kind=kind, message=message)

    def models_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build ``GET {base}/v1/models``."""
        return HttpCall("GET", f"{base_url.rstrip('/')}/v1/models", bearer_headers(api_key))

    def parse_models(self, body: bytes) -> tuple[str, ...]:
        """Read ``models[].name``.

        Raises:
            ValueError: not JSON, or no ``models`` list.
        """
        return names(body, "models", "name")

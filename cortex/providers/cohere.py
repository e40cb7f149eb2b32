"""Cohere Chat v2: ``POST {base}/v2/chat``, SSE events named like their ``type``.

The worker's ``base_url`` is the host (``https://api.cohere.com``). Messages keep the
OpenAI roles and tool shapes (:mod:`cortex.providers.cohere_tools` builds the body).
Text and thinking arrive in ``content-delta`` events, the plan the model makes before it
calls tools in ``tool-plan-delta`` (both become reasoning), calls in ``tool-call-start``
(id and name) and ``tool-call-delta`` (argument fragments) events, and ``message-end``
carries the finish reason and usage. A
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
from cortex.chat import (
    ChatRequest,
    Finished,
    Malformed,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from cortex.providers.base import Target
from cortex.providers.capabilities import Carries, Fit, fit
from cortex.providers.cohere_tools import OPTION_FIELDS, cohere_message, request_fields
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
    seq,
    string,
    usage_from,
)
from cortex.providers.sse import RawSseFrames
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


def _ending(
    finish_reason: str | None, error: object, usage: Usage | None, *, called: bool
) -> list[StreamEvent]:
    """The events for the end of a generation, in a stream or a whole answer.

    A ``message-end`` is the stream's end signal by itself, so one without a reason ends
    the answer as ``COMPLETE``. An answer that made calls and stopped normally finished
    with ``tool_calls``, whatever Cohere named the stop.
    """
    reason = finish_reason or "COMPLETE"
    if reason in _FAILED:
        message = error if isinstance(error, str) and error else f"generation ended with {reason}"
        return [failed(_FAILED[reason], message, fallback=reason, code=reason)]
    finish = _FINISH.get(reason, "stop")
    events: list[StreamEvent] = [Finished("tool_calls" if called and finish == "stop" else finish)]
    return [*events, usage] if usage else events


def _content_events(content: Mapping[str, Any]) -> list[StreamEvent]:
    """The text or thinking of one content item (whole, or a stream's start or delta)."""
    events: list[StreamEvent] = []
    thinking, text = string(content, "thinking"), string(content, "text")
    if thinking:
        events.append(ReasoningDelta(thinking))
    if text:
        events.append(TextDelta(text))
    return events


def _one_call(message: Mapping[str, Any]) -> JsonObject:
    """The call of a ``tool-call-*`` event: one object there, not the whole answer's list."""
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        return calls[0] if calls and isinstance(calls[0], dict) else {}
    return calls if isinstance(calls, dict) else {}


def _call_delta(index: int, call: Mapping[str, Any], *, first: bool) -> ToolCallDelta:
    """A fragment of call ``index``; the first carries its id and name."""
    function = obj(call, "function")
    arguments = string(function, "arguments") or ""
    if not first:
        return ToolCallDelta(index, arguments=arguments)
    return ToolCallDelta(index, string(call, "id"), string(function, "name"), arguments)


class _EventHandler:
    """Numbers the tool calls of one stream from 0, and remembers whether any was made."""

    def __init__(self) -> None:
        self._calls: dict[int, int] = {}  # Cohere's index of a call -> ours
        self._count = 0  # calls begun so far
        self._last: int | None = None  # our index of the call begun last

    def on_payload(self, event: str, payload: JsonObject) -> list[StreamEvent]:
        kind = string(payload, "type") or event
        message = obj(obj(payload, "delta"), "message")
        if kind in ("content-delta", "content-start"):
            return _content_events(obj(message, "content"))
        if kind == "tool-plan-delta":
            plan = string(message, "tool_plan")
            return [ReasoningDelta(plan)] if plan else []
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._call_event(kind, payload.get("index"), _one_call(message))
        if kind == "message-end":
            delta = obj(payload, "delta")
            usage = _usage(obj(delta, "usage"))
            reason = string(delta, "finish_reason")
            return _ending(reason, delta.get("error"), usage, called=self._last is not None)
        return []  # message-start, content-end, tool-call-end, citations, debug

    def _call_event(self, kind: str, key: object, call: JsonObject) -> list[StreamEvent]:
        """A call begins (id, name) or goes on (an arguments fragment)."""
        known = self._calls.get(key) if isinstance(key, int) else None
        if kind == "tool-call-start":
            if known is None:
                known, self._count = self._count, self._count + 1
            if isinstance(key, int):
                self._calls[key] = known
            self._last = known
            return [_call_delta(self._last, call, first=True)]
        index = known if known is not None else self._last
        if index is None:
            return [Malformed(f"tool-call-delta before any tool-call-start: {call}")]
        delta = _call_delta(index, call, first=False)
        return [delta] if delta.arguments else []

    def on_end(self) -> list[StreamEvent]:
        return []


def _message_events(message: Mapping[str, Any]) -> list[StreamEvent]:
    """A whole answer's reasoning (thinking, tool plan), text, then its calls.

    Raises:
        ValueError: the message has neither a ``content`` list nor ``tool_calls``.
    """
    content, calls = message.get("content"), seq(message, "tool_calls")
    if not isinstance(content, list) and not calls:
        raise ValueError("chat response without message.content or message.tool_calls")
    items = [item for item in seq(message, "content") if isinstance(item, dict)]
    plan = string(message, "tool_plan") or ""
    reasoning = plan + "".join(string(item, "thinking") or "" for item in items)
    events: list[StreamEvent] = [ReasoningDelta(reasoning)] if reasoning else []
    text = joined_text(items)
    if text:
        events.append(TextDelta(text))
    made = [call for call in calls if isinstance(call, dict)]
    events.extend(_call_delta(index, call, first=True) for index, call in enumerate(made))
    return events


CARRIES = Carries(options=frozenset(OPTION_FIELDS))
"""What this wire translates of the chat surface (its structured output never with tools)."""


class CohereAdapter:
    """The Chat v2 wire format (type ``cohere``). Takes no arguments."""

    def fit(self, request: ChatRequest) -> Fit:
        """What of ``request`` the Cohere wire cannot honour or leaves out.

        Cohere refuses ``response_format`` in a request that has ``tools`` (even with
        ``tool_choice: "none"``), so asking for both leaves structured output unmet.
        """
        found = fit(CARRIES, request)
        if request.response_format is None or not request.tools:
            return found
        return Fit((*found.unmet, "response_format"), found.dropped)

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build ``POST {base}/v2/chat``.

        Raises:
            ValueError: a tool call's arguments are not a JSON object, or ``tool_choice``
                names a function that is not among the tools.
        """
        body: dict[str, object] = {
            "model": target.model,
            "messages": [cohere_message(m) for m in request.messages],
            "stream": stream,
        }
        body.update(request_fields(request))
        url = f"{target.base_url.rstrip('/')}/v2/chat"
        return HttpCall("POST", url, bearer_headers(target.api_key), body)

    def decoder(self) -> JsonStreamDecoder:
        """A decoder for one v2 SSE stream."""
        return JsonStreamDecoder(RawSseFrames(), _EventHandler())

    def parse_completion(self, body: bytes) -> list[StreamEvent]:
        """Parse a v2 chat response.

        Raises:
            ValueError: not JSON, neither ``message.content`` nor ``message.tool_calls``,
                no ``finish_reason``, or a failed generation.
        """
        payload = parse_object(body)
        events = _message_events(obj(payload, "message"))
        reason = string(payload, "finish_reason")
        if reason is None:
            raise ValueError("chat response without a finish_reason: answer may be cut short")
        called = any(isinstance(event, ToolCallDelta) for event in events)
        ending = _ending(reason, None, _usage(obj(payload, "usage")), called=called)
        return whole_body([*events, *ending])

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

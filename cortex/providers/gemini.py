"""Google Gemini: ``generateContent`` and ``streamGenerateContent?alt=sse``.

The worker's ``base_url`` is the host (``https://generativelanguage.googleapis.com``); the
adapter adds the API version (``v1beta`` unless told otherwise, and not twice when the
base already ends in one). Roles are ``user`` and ``model``; system messages become
``systemInstruction``. A streamed chunk has the same shape as a whole answer, so one
translation serves both. The stream has no end marker of its own: its end signal is the
``finishReason`` of the last chunk (or a ``blockReason`` for a refused prompt), and the
complete ``usageMetadata`` rides on that chunk, so usage is reported when the stream ends.
Calls arrive as whole ``functionCall`` parts, each one complete
``ToolCallDelta``; ``finishReason`` ``STOP`` after calls means ``tool_calls``, and the
reasons that report a failed call (``MALFORMED_FUNCTION_CALL`` ...) are upstream failures.
Thought parts are reasoning. The request side lives in :mod:`cortex.providers.gemini_tools`.
Errors use Google's RPC envelope, whose ``status`` names the problem; a bad key is a 400
``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``, and one 429 ``RESOURCE_EXHAUSTED``
covers both per-minute limits and exhausted daily or billing quota.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import structlog

from actors.outcomes import ErrorKind, UpstreamFailure, kind_for_status
from actors.wire import HttpCall
from cortex.chat import (
    ChatRequest,
    Finished,
    Message,
    ReasoningDelta,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from cortex.providers.base import Target
from cortex.providers.capabilities import Carries, Fit, fit
from cortex.providers.gemini_tools import (
    OPTIONS,
    client_call_id,
    contents,
    generation_config,
    made_up_id,
    tools_json,
)
from cortex.providers.payload import (
    JsonObject,
    count,
    error_object,
    first,
    http_failure,
    names,
    obj,
    parse_object,
    safe_message,
    seq,
    string,
)
from cortex.providers.sse import RawSseFrames
from cortex.providers.stream import JsonStreamDecoder, whole_body

log = structlog.get_logger("cortex.providers")
_VERSIONED = re.compile(r"/v\d+(?:alpha|beta)?\d*$")
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"} | dict.fromkeys(_FILTERED, "content_filter")
_KIND_BY_STATUS = {
    "RESOURCE_EXHAUSTED": ErrorKind.RATE_LIMITED,
    "PERMISSION_DENIED": ErrorKind.INVALID_KEY,
    "UNAUTHENTICATED": ErrorKind.INVALID_KEY,
    "INVALID_ARGUMENT": ErrorKind.BAD_REQUEST,
    "NOT_FOUND": ErrorKind.BAD_REQUEST,
    "OUT_OF_RANGE": ErrorKind.BAD_REQUEST,
    "FAILED_PRECONDITION": ErrorKind.UPSTREAM_ERROR,  # e.g. region not supported: not the client
    "UNAVAILABLE": ErrorKind.OVERLOADED,
    "INTERNAL": ErrorKind.UPSTREAM_ERROR,
    "DEADLINE_EXCEEDED": ErrorKind.TIMEOUT,
}
# A daily or zero-sized quota does not come back within a retry; a per-minute one does.
_DAILY_QUOTA = re.compile(r"per ?day|limit: 0\b", re.IGNORECASE)
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _details(error: Mapping[str, Any], kind: str) -> list[JsonObject]:
    """The ``details`` entries of one ``@type`` (e.g. ``"RetryInfo"``)."""
    return [
        d
        for d in seq(error, "details")
        if isinstance(d, dict) and (string(d, "@type") or "").endswith(f".{kind}")
    ]


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """``RetryInfo.retryDelay`` (``"17s"``) in seconds: Gemini sends no Retry-After header."""
    for info in _details(error, "RetryInfo"):
        match = _DELAY.match(string(info, "retryDelay") or "")
        if match:
            return float(match.group(1))
    return None


def _kind(error: Mapping[str, Any], status: int | None) -> ErrorKind:
    reasons = {string(d, "reason") for d in _details(error, "ErrorInfo")}
    if "API_KEY_INVALID" in reasons:
        return ErrorKind.INVALID_KEY
    name = string(error, "status") or ""
    if name == "RESOURCE_EXHAUSTED" and _is_quota(error):
        return ErrorKind.QUOTA_EXHAUSTED
    if name in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[name]
    http = status if status is not None else count(error, "code")
    return kind_for_status(http) if http is not None else ErrorKind.UPSTREAM_ERROR


def _is_quota(error: Mapping[str, Any]) -> bool:
    """Quota when a violated quota is daily or zero, or billing is blamed with no retry hint."""
    ids = [
        string(v, "quotaId") or ""
        for f in _details(error, "QuotaFailure")
        for v in seq(f, "violations")
        if isinstance(v, dict)
    ]
    limits = [string(obj(d, "metadata"), "quota_limit") or "" for d in _details(error, "ErrorInfo")]
    message = string(error, "message") or ""
    if _DAILY_QUOTA.search(" ".join([message, *ids, *limits])):
        return True
    return "billing" in message.lower() and _retry_delay(error) is None


def _failure(error: Mapping[str, Any], status: int | None) -> UpstreamFailure:
    """An in-stream error object; HTTP errors add status and headers in ``classify``."""
    return UpstreamFailure(
        kind=_kind(error, status),
        message=safe_message(error.get("message"), "error inside the stream"),
        status=count(error, "code"),
        retry_after=_retry_delay(error),
        code=string(error, "status"),
    )


_FAILED = frozenset(
    {
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "MISSING_THOUGHT_SIGNATURE",
        "OTHER",
    }
)
"""Finish reasons with no OpenAI equivalent: the answer failed (WIRE_FORMATS_TOOLS.md 2.6)."""


class _Parts:
    """Reads an answer's parts in order; one per answer, since calls are counted across it.

    Gemini sends each call whole, so each becomes one complete :class:`ToolCallDelta`.
    A ``thoughtSignature`` rides in the call's id (see :mod:`cortex.providers.gemini_tools`);
    one that came on a part of its own (an empty text part) goes with the next call.
    """

    def __init__(self) -> None:
        self.calls = 0
        self._signature: str | None = None

    def events(self, payload: JsonObject, parts: list[Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            signature = string(part, "thoughtSignature")
            call = part.get("functionCall")
            if isinstance(call, dict):
                events.append(self._call(payload, call, signature or self._signature))
                self._signature = None
                continue
            self._signature = signature or self._signature
            text = string(part, "text")
            if text:
                events.append(ReasoningDelta(text) if part.get("thought") else TextDelta(text))
        return _merged(events)

    def _call(self, payload: JsonObject, call: JsonObject, signature: str | None) -> ToolCallDelta:
        name = string(call, "name") or ""
        args = obj(call, "args")
        arguments = json.dumps(args, separators=(",", ":"), ensure_ascii=False)
        made = made_up_id(string(payload, "responseId"), self.calls, name, arguments)
        call_id = client_call_id(string(call, "id"), signature, made)
        self.calls += 1
        return ToolCallDelta(self.calls - 1, call_id, name, arguments)


def _merged(events: list[StreamEvent]) -> list[StreamEvent]:
    """Adjacent text (or reasoning) pieces of one chunk as one event."""
    out: list[StreamEvent] = []
    for event in events:
        last = out[-1] if out else None
        if isinstance(event, TextDelta) and isinstance(last, TextDelta):
            out[-1] = TextDelta(last.text + event.text)
        elif isinstance(event, ReasoningDelta) and isinstance(last, ReasoningDelta):
            out[-1] = ReasoningDelta(last.text + event.text)
        else:
            out.append(event)
    return out


def _events(payload: JsonObject, parts: _Parts) -> list[StreamEvent]:
    """Translate one ``GenerateContentResponse`` (a whole answer or one streamed chunk)."""
    if isinstance(payload.get("error"), dict):
        return [StreamFailed(_failure(payload["error"], None))]
    candidate = first(payload, "candidates")
    events = parts.events(payload, seq(obj(candidate, "content"), "parts"))
    reason = string(candidate, "finishReason")
    if reason in _FAILED:
        detail = string(candidate, "finishMessage") or "the model's answer failed"
        message = safe_message(f"Gemini stopped with {reason}: {detail}", reason)
        return [
            *events,
            StreamFailed(UpstreamFailure(ErrorKind.UPSTREAM_ERROR, message, code=reason)),
        ]
    if reason and reason != "FINISH_REASON_UNSPECIFIED":
        finish = _FINISH.get(reason, "stop")
        events.append(Finished("tool_calls" if finish == "stop" and parts.calls else finish))
    elif not candidate and string(obj(payload, "promptFeedback"), "blockReason"):
        events.append(Finished("content_filter"))
    return events


def _usage(payload: Mapping[str, Any]) -> Usage | None:
    """Prompt and output tokens; thinking tokens are output, as OpenAI counts reasoning."""
    meta = obj(payload, "usageMetadata")
    prompt, output = count(meta, "promptTokenCount"), count(meta, "candidatesTokenCount")
    if prompt is None and output is None:
        return None
    return Usage(prompt or 0, (output or 0) + (count(meta, "thoughtsTokenCount") or 0))


class _ChunkHandler:
    """Streamed chunks; holds the latest usage, complete only on the last chunk."""

    def __init__(self) -> None:
        self._usage: Usage | None = None
        self._parts = _Parts()

    def on_payload(self, _event: str, payload: JsonObject) -> list[StreamEvent]:
        self._usage = _usage(payload) or self._usage
        return _events(payload, self._parts)

    def on_end(self) -> list[StreamEvent]:
        usage, self._usage = self._usage, None
        return [usage] if usage else []


CARRIES = Carries(options=frozenset(OPTIONS))
"""What this wire translates of the chat surface."""


class GeminiAdapter:
    """The Generative Language wire format (type ``gemini``).

    Args:
        api_version: the path segment after the host, ``v1beta`` or ``v1``.
    """

    def __init__(self, *, api_version: str = "v1beta") -> None:
        self._api_version = api_version

    def root(self, base_url: str) -> str:
        """The API's versioned root under ``base_url`` (kept when the URL names a version)."""
        base = base_url.rstrip("/")
        return base if _VERSIONED.search(base) else f"{base}/{self._api_version}"

    def fit(self, request: ChatRequest) -> Fit:
        """What of ``request`` the Gemini wire cannot honour or leaves out."""
        return fit(CARRIES, request)

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build ``POST {base}/{version}/models/{model}:generateContent`` (or the SSE stream).

        Raises:
            ValueError: a tool call's arguments are not a JSON object, a tool result
                answers no earlier call, or an image is not a ``data:`` or http(s) URL.
        """
        messages = _kept(request.messages)
        system = [m.content for m in messages if m.role in ("system", "developer")]
        body: dict[str, object] = {
            "contents": contents([m for m in messages if m.role not in ("system", "developer")])
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
        body.update(tools_json(request))
        config = generation_config(request)
        if config:
            body["generationConfig"] = config
        model = quote(target.model.removeprefix("models/"), safe="")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{self.root(target.base_url)}/models/{model}:{method}"
        return HttpCall("POST", url, _headers(target.api_key), body)

    def decoder(self) -> JsonStreamDecoder:
        """A decoder for one ``alt=sse`` stream."""
        return JsonStreamDecoder(RawSseFrames(), _ChunkHandler())

    def parse_completion(self, body: bytes) -> list[StreamEvent]:
        """Parse a ``GenerateContentResponse``.

        Raises:
            ValueError: not JSON, neither ``candidates`` nor ``promptFeedback``, or no
                ``finishReason`` (nor a ``blockReason``).
        """
        payload = parse_object(body)
        if not (seq(payload, "candidates") or obj(payload, "promptFeedback")):
            raise ValueError("response without candidates or promptFeedback")
        usage = _usage(payload)
        return whole_body([*_events(payload, _Parts()), *([usage] if usage else [])])

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFailure:
        """Classify by the RPC ``status``, refined by ``details``; retry hint from RetryInfo."""
        error = obj(error_object(body), "error")
        return http_failure(
            status,
            headers,
            body,
            kind=_kind(error, status),
            message=error.get("message"),
            code=string(error, "status"),
            delay=_retry_delay(error),
        )

    def models_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build ``GET {base}/{version}/models``."""
        return HttpCall("GET", f"{self.root(base_url)}/models", _headers(api_key))

    def parse_models(self, body: bytes) -> tuple[str, ...]:
        """Read ``models[].name`` without the ``models/`` prefix.

        Raises:
            ValueError: not JSON, or no ``models`` list.
        """
        return tuple(name.removeprefix("models/") for name in names(body, "models", "name"))


def _kept(messages: Sequence[Message]) -> list[Message]:
    """Leave out messages that carry nothing, which Gemini rejects with a 400.

    Calls, tool results and images count as something even without text; an empty
    turn carries nothing the model could read, so dropping it serves the request.
    """
    kept = [m for m in messages if m.content.strip() or m.parts or m.tool_calls or m.role == "tool"]
    if len(kept) < len(messages):
        log.debug(
            "request_field_dropped",
            provider="gemini",
            field="messages",
            count=len(messages) - len(kept),
            reason="messages without text are rejected upstream",
        )
    return kept


def _headers(api_key: str | None) -> dict[str, str]:
    return {"x-goog-api-key": api_key} if api_key else {}

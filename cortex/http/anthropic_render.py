"""Rendering answers and errors in Anthropic's Messages format (WIRE_FORMATS_TOOLS.md 8.2-8.5).

Pure functions and one stream writer over the chat vocabulary, so the bytes the
``anthropic`` SDK parses are tested without a server:

* a whole answer is a ``message`` object: thinking, text and ``tool_use`` blocks, a
  ``stop_reason`` that is never null, and usage;
* a stream is named events (an ``event:`` line each, which the SDK dispatches on):
  ``message_start``, ``ping``, numbered content blocks (``content_block_start``,
  ``content_block_delta`` with ``text_delta``, ``thinking_delta`` or
  ``input_json_delta``, ``content_block_stop``), then ``message_delta`` with the stop
  reason and usage and ``message_stop``; a failure after the first byte is an ``error``
  event instead of those two, so a broken answer never reads as a complete one;
* an error is ``{"type": "error", "error": {"type", "message"}}`` with Anthropic's
  status codes: Cortex's 503 "nothing available" is 529 ``overloaded_error``.

Thinking blocks carry no ``signature``: Cortex has none to give (a provider's is for its
own eyes), and an empty one is refused by strict clients.
"""

from __future__ import annotations

import random
import string
from typing import Any

from actors.outcomes import ErrorKind
from cortex.chat import ToolCallDelta, Usage, WholeAnswer
from cortex.errors import GatewayError, UnreadableAnswer
from cortex.http.render import sse

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
"""OpenAI finish reasons (Cortex's vocabulary) as Anthropic stop reasons (table 2.6)."""
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""The ``error.type`` of each status Cortex answers with (section 8.5)."""
OVERLOADED_STATUS = 529
STREAM_ERROR_TYPES = {
    ErrorKind.RATE_LIMITED: "rate_limit_error",
    ErrorKind.QUOTA_EXHAUSTED: "billing_error",
    ErrorKind.OVERLOADED: "overloaded_error",
    ErrorKind.TIMEOUT: "timeout_error",
    ErrorKind.BAD_REQUEST: "invalid_request_error",
}
"""The ``error`` event's type for an upstream failure mid-stream (else ``api_error``)."""
_BASE62 = string.ascii_letters + string.digits
PATH = "/v1/messages"
"""Where Anthropic's clients call: ``/v1/messages`` and everything under it."""


def speaks(path: str) -> bool:
    """Whether a request to ``path`` comes from an Anthropic client (and so gets its errors)."""
    return path == PATH or path.startswith(PATH + "/")


def fresh_id(prefix: str) -> str:
    """An id in Anthropic's style: ``msg_`` or ``toolu_`` and 24 random base62 characters."""
    return prefix + "".join(random.choices(_BASE62, k=24))


def stop_reason(finish_reason: str | None) -> str:
    """The stop reason of an answer that ended with ``finish_reason``."""
    return STOP_REASONS.get(finish_reason or "", "end_turn")


def usage_json(usage: Usage | None) -> dict[str, int]:
    """Anthropic's usage object (zeros when the upstream reported none)."""
    return {
        "input_tokens": usage.prompt_tokens if usage else 0,
        "output_tokens": usage.completion_tokens if usage else 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message(answer: WholeAnswer, *, mid: str) -> dict[str, Any]:
    """The ``message`` object of a whole answer: thinking, text, then its tool calls.

    Raises:
        UnreadableAnswer: a tool call's arguments are not a JSON object, which a
            ``tool_use`` block's ``input`` must be.
    """
    content: list[dict[str, Any]] = []
    if answer.reasoning or answer.reasoning_signature:
        content.append(
            {
                "type": "thinking",
                "thinking": answer.reasoning,
                "signature": answer.reasoning_signature,
            }
        )
    if answer.text:
        content.append({"type": "text", "text": answer.text})
    for call in answer.tool_calls:
        try:
            arguments = call.parsed_arguments()
        except ValueError as exc:
            raise UnreadableAnswer(str(exc)) from None
        tool_id = call.id or fresh_id("toolu_")
        content.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": arguments})
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": stop_reason(answer.finish_reason),
        "stop_sequence": None,
        "usage": usage_json(answer.usage),
    }


def error_status(error: GatewayError) -> int:
    """The status Anthropic's clients expect: 529 for "nothing available", else Cortex's."""
    return OVERLOADED_STATUS if error.status == 503 else error.status


def error_body(error: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    """The error envelope: Anthropic's type by status (``invalid_request_error`` for a 4xx)."""
    fallback = "invalid_request_error" if error.status < 500 else "api_error"
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(error.status, fallback), "message": error.message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def error_event(kind: str, text: str) -> bytes:
    """A mid-stream ``error`` event; the SDK raises it as an ``APIStatusError``."""
    return sse({"type": "error", "error": {"type": kind, "message": text}}, event="error")


def stream_error_type(kind: ErrorKind) -> str:
    """The ``error`` event's type for an upstream failure of ``kind``."""
    return STREAM_ERROR_TYPES.get(kind, "api_error")


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return sse({"type": kind, **data}, event=kind)


class EventWriter:
    """Builds the named events of one streamed answer, numbering its content blocks.

    A new block opens when the kind of content changes (text, thinking, a new tool
    call), closing the one before; a later fragment of an earlier call still goes to
    that call's own block, which the SDK looks up by index.
    """

    def __init__(self, *, mid: str, model: str) -> None:
        self._mid = mid
        self._model = model
        self._blocks = 0
        self._open: tuple[str, int] | None = None  # (kind, block index) of the open block
        self._calls: dict[int, int] = {}  # call index -> block index
        self.stop_reason: str | None = None

    def start(self) -> bytes:
        """``message_start`` (a whole message with no content yet), then a ``ping``."""
        head: dict[str, Any] = {
            "id": self._mid,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(None),
        }
        return _event("message_start", {"message": head}) + _event("ping", {})

    def _switch(self, kind: str, block: dict[str, Any]) -> bytes:
        """Close the open block and start a new one of ``kind``."""
        frames = self._close()
        index = self._blocks
        self._blocks += 1
        self._open = (kind, index)
        start = {"index": index, "content_block": block}
        return frames + _event("content_block_start", start)

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index = self._open[1]
        self._open = None
        return _event("content_block_stop", {"index": index})

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return _event("content_block_delta", {"index": index, "delta": delta})

    def text(self, text: str) -> bytes:
        """A piece of the answer's text."""
        opening = b""
        if self._open is None or self._open[0] != "text":
            opening = self._switch("text", {"type": "text", "text": ""})
        assert self._open is not None
        return opening + self._delta(self._open[1], {"type": "text_delta", "text": text})

    def thinking(self, text: str, signature: str | None = None) -> bytes:
        """A piece of the model's reasoning, or its signature (which closes it, as upstream)."""
        opening = b""
        if self._open is None or self._open[0] != "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
            opening = self._switch("thinking", block)
        assert self._open is not None
        index = self._open[1]
        frames = opening
        if text:
            frames += self._delta(index, {"type": "thinking_delta", "thinking": text})
        if signature:
            frames += self._delta(index, {"type": "signature_delta", "signature": signature})
        return frames

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        """A call's first fragment opens its ``tool_use`` block; arguments are JSON deltas."""
        opening = b""
        if delta.index not in self._calls:
            block = {
                "type": "tool_use",
                "id": delta.id or fresh_id("toolu_"),
                "name": delta.name or "",
                "input": {},
            }
            opening = self._switch("tool_use", block)
            self._calls[delta.index] = self._blocks - 1
        if not delta.arguments:
            return opening
        index = self._calls[delta.index]
        return opening + self._delta(
            index, {"type": "input_json_delta", "partial_json": delta.arguments}
        )

    def finish(self, finish_reason: str) -> None:
        """Note why the answer ended; it is told in :meth:`end`."""
        self.stop_reason = stop_reason(finish_reason)

    def end(self, usage: Usage | None) -> bytes:
        """Close the open block; ``message_delta`` (stop reason, usage); ``message_stop``."""
        tokens = usage_json(usage)
        delta = {
            "delta": {"stop_reason": self.stop_reason or "end_turn", "stop_sequence": None},
            "usage": {
                "input_tokens": tokens["input_tokens"],
                "output_tokens": tokens["output_tokens"],
            },
        }
        return self._close() + _event("message_delta", delta) + _event("message_stop", {})

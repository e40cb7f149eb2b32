"""Wire-level building blocks shared by the simulated providers.

Plain values and encoders: what a server records about each request, how a
provider describes an error or a stream, and the SSE / NDJSON framing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cortex.simulated.faults import ErrorKind

__all__ = [
    "ErrorReply",
    "RecordedRequest",
    "ReplyError",
    "StreamFrames",
    "bearer_key",
    "json_line",
    "sse_frame",
    "typed_event",
]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the simulated server received it.

    Attributes:
        method: HTTP method.
        path: URL path, without the query string.
        query: query parameters (last value wins).
        headers: request headers with lower-cased names.
        body: the parsed JSON body, or ``None`` when empty or not JSON.
        api_key: the API key found where the provider expects it, if any.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    api_key: str | None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error response in a provider's wire format."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamFrames:
    """A streamed reply as encoded frames: preamble, one frame per piece, epilogue.

    ``tail`` carries the end signal (finish reason, usage); ``sentinel`` the frames some
    formats send after it to close the stream (OpenAI's ``data: [DONE]``, Anthropic's
    ``message_stop``), which formats without one leave empty.
    """

    head: Sequence[bytes]
    pieces: Sequence[bytes]
    tail: Sequence[bytes]
    sentinel: Sequence[bytes] = ()


class ReplyError(Exception):
    """Raised inside a handler to answer with the provider's rendering of ``kind``."""

    def __init__(
        self, kind: ErrorKind, detail: str = "", *, retry_after: float | None = 1.0
    ) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


def sse_frame(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One server-sent event: optional ``event:`` line, one ``data:`` line, blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def json_line(data: Mapping[str, Any]) -> bytes:
    """One NDJSON line."""
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def bearer_key(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if present."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def typed_event(data: Mapping[str, Any]) -> bytes:
    """An SSE event whose ``event:`` name repeats the data's ``type`` (Anthropic, Cohere)."""
    return sse_frame(data, event=str(data["type"]))

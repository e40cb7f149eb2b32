"""Rendering answers in the formats clients expect: OpenAI JSON and chunks, and SSE frames.

Pure functions over plain data, so the byte format the SDKs parse is tested without a
server.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from actors.providers.base import Usage


def completion_id() -> str:
    """A fresh id in OpenAI's ``chatcmpl-`` style."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def sse(data: object, *, event: str | None = None) -> bytes:
    """One Server-Sent Events frame carrying ``data`` as compact JSON (or raw text)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def usage_json(usage: Usage | None) -> dict[str, int] | None:
    """OpenAI's usage object, or None when the upstream reported none."""
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion(
    *, cid: str, model: str, text: str, finish_reason: str, usage: Usage | None
) -> dict[str, Any]:
    """A ``chat.completion`` object for a non-streaming client."""
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_json(usage)
        or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` frames of one streamed answer."""

    def __init__(self, *, cid: str, model: str, include_usage: bool) -> None:
        self._cid = cid
        self._model = model
        self._created = int(time.time())
        self._include_usage = include_usage

    def _chunk(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self._cid,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if self._include_usage:
            body["usage"] = usage_json(usage)
        return sse(body)

    def role(self) -> bytes:
        """The opening chunk that announces the assistant role."""
        return self._chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )

    def text(self, text: str) -> bytes:
        """A content delta."""
        return self._chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}])

    def finish(self, reason: str) -> bytes:
        """The chunk carrying the finish reason."""
        return self._chunk([{"index": 0, "delta": {}, "finish_reason": reason}])

    def usage(self, usage: Usage | None) -> bytes:
        """The trailing usage chunk (empty choices), sent only when the client asked."""
        return self._chunk([], usage) if self._include_usage else b""

    @staticmethod
    def error(message: str, kind: str, code: str | None) -> bytes:
        """An in-stream error, in the shape the OpenAI SDKs raise from."""
        return sse({"error": {"message": message, "type": kind, "code": code}})

    @staticmethod
    def done() -> bytes:
        """The stream terminator."""
        return b"data: [DONE]\n\n"

"""Rendering answers in the formats clients expect: OpenAI JSON and chunks, and SSE frames.

Pure functions over plain data, so the byte format the SDKs parse is tested without a
server. Every streamed token is framed here, so this is the data plane's hottest code:
JSON is encoded with orjson (several times faster than the standard library, same compact
output), and a stream's constant chunk fields are encoded once, not once per token.
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson

from cortex.chat import (
    Continued,
    Finished,
    ReasoningDelta,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    WholeAnswer,
)


def fresh_id() -> str:
    """128 random bits as 32 hex digits, for request and completion ids.

    Ids must be unique, not secret, so they come from Python's generator (seeded from the
    OS at start-up) rather than from one ``getrandom`` system call each, as ``uuid4`` does.
    """
    return f"{random.getrandbits(128):032x}"


def completion_id() -> str:
    """A fresh id in OpenAI's ``chatcmpl-`` style."""
    return f"chatcmpl-{fresh_id()}"


def dumps(data: object) -> str:
    """Compact JSON text, for ``web.json_response(..., dumps=dumps)``."""
    return orjson.dumps(data).decode()


def sse(data: object, *, event: str | None = None) -> bytes:
    """One Server-Sent Events frame carrying ``data`` as compact JSON (or raw text)."""
    payload = data.encode() if isinstance(data, str) else orjson.dumps(data)
    if event:
        return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
    return b"data: " + payload + b"\n\n"


def usage_json(usage: Usage | None) -> dict[str, int] | None:
    """OpenAI's usage object, or None when the upstream reported none."""
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def tool_calls_json(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    """OpenAI's ``message.tool_calls``: id, type, name and the arguments as JSON text."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in calls
    ]


def completion(answer: WholeAnswer, *, cid: str) -> dict[str, Any]:
    """A ``chat.completion`` object for a non-streaming client: one choice per alternative.

    An answer that only calls tools has ``content: null``, as OpenAI's; reasoning text
    is ``reasoning_content``, as other OpenAI-compatible servers return it.
    """
    choices = [_choice(index, part) for index, part in enumerate((answer, *answer.alternatives))]
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": choices,
        "usage": usage_json(answer.usage)
        or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _choice(index: int, answer: WholeAnswer) -> dict[str, Any]:
    text, tool_calls, reasoning = answer.text, answer.tool_calls, answer.reasoning
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if tool_calls and not text else text,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls_json(tool_calls)
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "index": index,
        "message": message,
        "logprobs": None,
        "finish_reason": answer.finish_reason,
    }


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` frames of one streamed answer."""

    def __init__(
        self, *, cid: str, model: str, include_usage: bool, created: int | None = None
    ) -> None:
        self._cid = cid
        self._include_usage = include_usage
        self._created = int(time.time()) if created is None else created
        # The fields every chunk repeats, encoded once; the keys keep OpenAI's order.
        fixed = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": model,
            "choices": None,
        }
        self._head = b"data: " + orjson.dumps(fixed).removesuffix(b"null}")
        self._called: set[tuple[int, int]] = set()  # (choice, call) whose first fragment went
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"

    def _chunk(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> bytes:
        if usage is not None and self._include_usage:
            tail = b',"usage":' + orjson.dumps(usage_json(usage)) + b"}\n\n"
            return self._head + orjson.dumps(choices) + tail
        return self._head + orjson.dumps(choices) + self._tail

    def for_model(self, model: str) -> ChunkWriter:
        """The writer of the same stream's later chunks, naming ``model`` (a continuation)."""
        writer = ChunkWriter(
            cid=self._cid, model=model, include_usage=self._include_usage, created=self._created
        )
        writer._called = self._called
        return writer

    def role(self) -> bytes:
        """The opening chunk that announces the assistant role."""
        return self._chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )

    def text(self, text: str, choice: int = 0) -> bytes:
        """A content delta (of alternative ``choice`` when the client asked for several)."""
        if choice:
            return self._chunk(
                [{"index": choice, "delta": {"content": text}, "finish_reason": None}]
            )
        return (
            self._head
            + b'[{"index":0,"delta":{"content":'
            + orjson.dumps(text)
            + b'},"finish_reason":null}]'
            + self._tail
        )

    def reasoning(self, text: str, choice: int = 0) -> bytes:
        """A reasoning delta (``reasoning_content``)."""
        return self._chunk(
            [{"index": choice, "delta": {"reasoning_content": text}, "finish_reason": None}]
        )

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        """A tool-call fragment: id, type and name in each call's first fragment only.

        OpenAI's SDKs concatenate every string field across fragments, so repeating the
        id or name (as some upstreams do) would corrupt them; a later fragment without
        arguments adds nothing and is not sent.
        """
        call = (delta.choice, delta.index)
        first = call not in self._called
        if not first and not delta.arguments:
            return b""
        self._called.add(call)
        fragment: dict[str, Any] = {"index": delta.index}
        if first:
            fragment["id"] = delta.id or f"call_{fresh_id()[:24]}"
            fragment["type"] = "function"
            fragment["function"] = {"name": delta.name or "", "arguments": delta.arguments}
        else:
            fragment["function"] = {"arguments": delta.arguments}
        return self._chunk(
            [{"index": delta.choice, "delta": {"tool_calls": [fragment]}, "finish_reason": None}]
        )

    def finish(self, reason: str, choice: int = 0) -> bytes:
        """The chunk carrying a choice's finish reason."""
        return self._chunk([{"index": choice, "delta": {}, "finish_reason": reason}])

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


class CompletionChunks:
    """The frames of one streamed chat completion, rendered batch by batch to be written.

    Frames accumulate until :meth:`take`, so the chunks of every event one upstream read
    made ready leave in one write. Usage is held back for the stream's last chunk.
    """

    __slots__ = ("_frames", "usage", "writer")

    def __init__(self, writer: ChunkWriter) -> None:
        self.writer = writer
        self.usage: Usage | None = None
        self._frames = [writer.role()]

    def add(self, events: list[StreamEvent]) -> bool:
        """Render ``events``; stop at a failure (after its error chunk) and say so."""
        frames, writer = self._frames, self.writer
        try:
            for event in events:
                match event:
                    case TextDelta(text=text, choice=choice) if text:
                        frames.append(writer.text(text, choice))
                    case ToolCallDelta():
                        frames.append(writer.tool_call(event))
                    case ReasoningDelta(text=text, choice=choice) if text:
                        frames.append(writer.reasoning(text, choice))
                    case Continued(model=model):
                        # Each chunk names the model that wrote it.
                        writer = writer.for_model(model)
                    case Finished(reason=reason, choice=choice):
                        frames.append(writer.finish(reason, choice))
                    case Usage():
                        self.usage = event
                    case StreamFailed(failure=failure):
                        message, code = failure.message, failure.kind.value
                        frames.append(writer.error(message, "upstream_error", code))
                        return True
            return False
        finally:
            self.writer = writer

    def add_usage(self) -> None:
        """The trailing usage chunk, when the client asked for it."""
        self._frames.append(self.writer.usage(self.usage))

    def take(self) -> bytes:
        """Every frame rendered since the last call, as one write."""
        data = b"".join(self._frames)
        self._frames.clear()
        return data

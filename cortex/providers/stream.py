"""The one stream decoder every adapter shares, whatever the framing.

A framing (:class:`~cortex.providers.sse.SseParser`, or NDJSON lines through
:class:`LineFrames`) turns bytes into ``(event name, data)`` frames; a per-stream
:class:`StreamHandler` written by each adapter turns every JSON object into events.
:class:`JsonStreamDecoder` glues the two and owns the rules that must hold for every
provider: the ``[DONE]`` sentinel ends the stream, a chunk that cannot be read is reported
as :class:`~cortex.chat.Malformed` and skipped (one bad chunk must not cost the
client the rest of a good answer), a framing that cannot go on (an endless line) becomes a
single ``StreamFailed(UPSTREAM_ERROR)``, and after any failure the rest of the stream is
ignored, so a decoder never raises on garbage.

An answer is complete only when the provider's end signal arrived; each handler turns its
format's signal into :class:`~cortex.chat.Finished` (OpenAI's ``finish_reason``,
Anthropic's ``stop_reason`` or ``message_stop``, Gemini's ``finishReason``, Cohere's
``message-end``, Ollama's ``"done": true``). A stream that ends without one, whether the
body closed or a ``[DONE]`` came early, ends in :func:`~cortex.chat.incomplete`: a connection closed
cleanly in the middle of an answer must never pass for a whole answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import orjson

from actors.outcomes import ErrorKind
from cortex.chat import (
    INCOMPLETE,
    Finished,
    Malformed,
    StreamEvent,
    StreamFailed,
    incomplete,
)
from cortex.providers.payload import JsonObject, failed, parse_object

DONE = "[DONE]"
_DONE_BYTES = DONE.encode()


def whole_body(events: list[StreamEvent]) -> list[StreamEvent]:
    """The events of a whole non-streamed body, checked to make a whole answer.

    Raises:
        ValueError: the events report a failure, or hold no finish reason (the answer's
            end signal never arrived, so its text may be cut short).
    """
    failures = [event.failure for event in events if isinstance(event, StreamFailed)]
    if failures:
        raise ValueError(failures[0].message)
    if not any(isinstance(event, Finished) for event in events):
        raise ValueError(f"the answer {INCOMPLETE}: it carries no finish reason")
    return events


class Framer(Protocol):
    """Splits a byte stream into ``(event name, data)`` frames.

    The data is text, or the raw bytes when the framing leaves decoding to the JSON parser
    (:class:`~cortex.providers.sse.RawSseFrames`): orjson reads UTF-8 itself, so a frame
    is then never decoded into a string only to be encoded again.
    """

    def feed(self, data: bytes) -> Sequence[tuple[str, str | bytes]]:
        """Consume bytes; return the frames they complete."""
        ...

    def close(self) -> Sequence[tuple[str, str | bytes]]:
        """End of input; return any frame still pending."""
        ...


class LineSplitter(Protocol):
    """Splits a byte stream into lines of text."""

    def feed(self, data: bytes) -> list[str]:
        """Consume bytes; return the lines they complete."""
        ...

    def close(self) -> list[str]:
        """End of input; return a last unterminated line."""
        ...


class LineFrames:
    """Presents a line splitter (NDJSON) as frames without event names."""

    def __init__(self, lines: LineSplitter) -> None:
        self._lines = lines

    def feed(self, data: bytes) -> list[tuple[str, str]]:
        """Consume bytes; return one unnamed frame per completed line."""
        return [("", line) for line in self._lines.feed(data)]

    def close(self) -> list[tuple[str, str]]:
        """End of input; return the last line as a frame, if any."""
        return [("", line) for line in self._lines.close()]


class StreamHandler(Protocol):
    """The format-specific half of a decoder; one instance per stream, so it may keep state."""

    def on_payload(self, event: str, payload: JsonObject) -> list[StreamEvent]:
        """Translate one JSON object (with its SSE event name, ``""`` if none)."""
        ...

    def on_end(self) -> list[StreamEvent]:
        """The stream ended (sentinel or close); return what was held back, e.g. usage.

        The decoder calls it once, never after a ``StreamFailed``, and adds
        :func:`incomplete` itself when no ``Finished`` came before or from this call.
        """
        ...


class JsonStreamDecoder:
    """A :class:`~cortex.providers.base.StreamDecoder` for any framing of JSON objects.

    Never raises: an unreadable chunk becomes ``Malformed`` and is skipped, broken framing
    becomes one ``StreamFailed(UPSTREAM_ERROR)``, a stream that ends (sentinel or close)
    without a ``Finished`` ends in :func:`incomplete`, and after any ``StreamFailed`` or
    the ``[DONE]`` sentinel the rest of the stream is ignored.
    """

    def __init__(self, framer: Framer, handler: StreamHandler) -> None:
        self._framer = framer
        self._handler = handler
        self._over = False
        self._finished = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Consume the next bytes read from the socket; return the events they complete."""
        if self._over:
            return []
        try:
            frames = self._framer.feed(data)
        except ValueError as exc:
            return self._fail(str(exc))
        return self._frames(frames)

    def close(self) -> list[StreamEvent]:
        """Signal end of input; return any event still buffered."""
        if self._over:
            return []
        try:
            frames = self._framer.close()
        except ValueError as exc:
            return self._fail(str(exc))
        events = self._frames(frames)
        if not self._over:
            events.extend(self._end())
        return events

    def _frames(self, frames: Sequence[tuple[str, str | bytes]]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for event, data in frames:
            if self._over:
                break
            if data.__class__ is bytes:
                # The common case, read straight from the stream's bytes by orjson; anything
                # that is not a JSON object takes the text path below, which decides exactly
                # as it always has (the sentinel, blank data, the lenient fallback parse).
                if data == _DONE_BYTES:
                    events.extend(self._end())
                    continue
                try:
                    payload = orjson.loads(data)
                except orjson.JSONDecodeError:
                    payload = None
                if payload.__class__ is dict:
                    self._payload(event, payload, data, events)
                    continue
            text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
            stripped = text.strip()
            if not stripped:
                continue
            if stripped == DONE:
                events.extend(self._end())
                continue
            try:
                parsed = parse_object(text)
            except ValueError as exc:
                events.append(Malformed(f"{exc}: {text[:200]}"))
                continue
            self._payload(event, parsed, text, events)
        return events

    def _payload(
        self, event: str, payload: JsonObject, data: str | bytes, events: list[StreamEvent]
    ) -> None:
        """Hand one object to the handler; what it cannot read becomes ``Malformed``."""
        try:
            produced = self._handler.on_payload(event, payload)
        except (ValueError, TypeError, LookupError, AttributeError) as exc:
            text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
            events.append(Malformed(f"{exc}: {text[:200]}"))
            return
        events.extend(produced)
        self._note(produced)

    def _note(self, produced: list[StreamEvent]) -> None:
        for item in produced:  # a plain loop: this runs once per streamed token
            if isinstance(item, StreamFailed):
                self._over = True
            elif isinstance(item, Finished):
                self._finished = True

    def _end(self) -> list[StreamEvent]:
        self._over = True
        events = self._handler.on_end()
        self._note(events)
        if not self._finished and not any(isinstance(e, StreamFailed) for e in events):
            events.append(incomplete())
        return events

    def _fail(self, detail: str) -> list[StreamEvent]:
        self._over = True
        message = f"unreadable stream from upstream ({detail})"
        return [failed(ErrorKind.UPSTREAM_ERROR, message, fallback="unreadable stream")]


__all__ = [
    "DONE",
    "JsonStreamDecoder",
    "LineFrames",
    "StreamHandler",
    "whole_body",
]

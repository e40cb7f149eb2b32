"""Server-sent events: an incremental parser that gives the same events for any chunking.

Sockets hand over bytes in arbitrary pieces: a chunk may end in the middle of a line, in
the middle of a ``\\r\\n`` pair or in the middle of a UTF-8 character. The parser keeps the
unfinished line as bytes and decodes only whole lines; ``\\r`` and ``\\n`` never occur
inside a multi-byte UTF-8 sequence, so splitting on them before decoding is safe.

It follows the WHATWG event-stream rules (``\\r\\n``, ``\\r`` or ``\\n`` line ends, ``:``
comments, one optional space after the colon, multi-line ``data`` joined with ``\\n``,
a blank line dispatches, an event without data is dropped, a leading BOM is ignored) with
one deliberate deviation: :meth:`SseParser.close` dispatches an event that was still
pending when the stream ended. Upstreams that omit the final blank line would otherwise
lose their last event (often the one with the usage); a stream cut mid-event yields a
truncated payload, which the JSON decoder then reports as unreadable.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff".encode()
DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024


class SseEvent(NamedTuple):
    """One dispatched event: its name (``"message"`` when the stream named none) and data."""

    event: str
    data: str


class SseParser:
    """Feed raw bytes, get back complete events; holds only the unfinished line.

    Lines are parsed as bytes and an event's data is decoded once, when it is dispatched
    (or never: :meth:`feed_raw` hands it over as bytes, for a JSON parser that reads UTF-8
    itself). Field names and line ends are ASCII, so parsing before decoding finds the
    same fields, and decoding the joined data gives the same text as decoding each line.

    Args:
        max_line_bytes: the longest line accepted. A stream that sends more without a
            line end is not SSE; the bound keeps a misbehaving upstream from growing the
            buffer without limit.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._skip_lf = False  # the last chunk ended in "\r"; a leading "\n" belongs to it
        self._at_start = True
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume the next bytes; return the events they complete, in order.

        Raises:
            ValueError: a line grew beyond ``max_line_bytes``.
        """
        return [SseEvent(event, _text(raw)) for event, raw in self.feed_raw(data)]

    def close(self) -> list[SseEvent]:
        """Signal the end of the stream; return the event still pending, if any."""
        return [SseEvent(event, _text(raw)) for event, raw in self.close_raw()]

    def feed_raw(self, data: bytes) -> list[tuple[str, bytes]]:
        """As :meth:`feed`, each event's data left as the bytes the stream sent.

        Raises:
            ValueError: a line grew beyond ``max_line_bytes``.
        """
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        events: list[tuple[str, bytes]] = []
        if b"\r" in data:
            self._feed_any(data, events)
        else:
            self._feed_lf(data, events)
        if len(self._buffer) > self._max_line_bytes:
            self._buffer.clear()
            raise ValueError(f"SSE line longer than {self._max_line_bytes} bytes")
        return events

    def close_raw(self) -> list[tuple[str, bytes]]:
        """As :meth:`close`, the data left as bytes."""
        events: list[tuple[str, bytes]] = []
        if self._buffer:
            self._line(bytes(self._buffer), events)
            self._buffer.clear()
        self._line(b"", events)
        return events

    def _feed_lf(self, data: bytes, events: list[tuple[str, bytes]]) -> None:
        """The common case, ``\n`` line ends only: split the whole lines at once."""
        end = data.rfind(b"\n")
        if end < 0:
            self._buffer += data
            return
        block = bytes(self._buffer) + data[:end] if self._buffer else data[:end]
        self._buffer[:] = data[end + 1 :]
        for line in block.split(b"\n"):
            self._line(line, events)

    def _feed_any(self, data: bytes, events: list[tuple[str, bytes]]) -> None:
        """Any mix of ``\r\n``, ``\r`` and ``\n`` line ends, one line at a time."""
        # The unfinished remainder holds no line end, so scanning starts at the new bytes.
        scan_from = len(self._buffer)
        self._buffer += data
        start = 0
        for match in _LINE_END.finditer(self._buffer, scan_from):
            self._line(bytes(self._buffer[start : match.start()]), events)
            start = match.end()
            self._skip_lf = match.group() == b"\r" and start == len(self._buffer)
        del self._buffer[:start]

    def _line(self, line: bytes, events: list[tuple[str, bytes]]) -> None:
        """Apply one line; append the event it completes, if any, to ``events``."""
        if self._at_start:
            self._at_start = False
            line = line.removeprefix(_BOM)
        if not line:
            self._dispatch(events)
            return
        if line[:1] == b":":
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = _text(value)
        # "id" and "retry" only matter to a reconnecting browser; other fields are ignored.

    def _dispatch(self, events: list[tuple[str, bytes]]) -> None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if data:
            events.append((event, data[0] if len(data) == 1 else b"\n".join(data)))


class RawSseFrames:
    """An :class:`SseParser` as ``(event name, data bytes)`` frames, for a JSON stream decoder."""

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._parser = SseParser(max_line_bytes=max_line_bytes)

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Consume bytes; return the frames they complete.

        Raises:
            ValueError: a line grew beyond the parser's bound.
        """
        return self._parser.feed_raw(data)

    def close(self) -> list[tuple[str, bytes]]:
        """End of input; return the frame still pending, if any."""
        return self._parser.close_raw()


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")

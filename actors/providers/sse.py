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
_BOM = "\ufeff"
DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024


class SseEvent(NamedTuple):
    """One dispatched event: its name (``"message"`` when the stream named none) and data."""

    event: str
    data: str


class SseParser:
    """Feed raw bytes, get back complete events; holds only the unfinished line.

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
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[SseEvent]:
        """Consume the next bytes; return the events they complete, in order.

        Raises:
            ValueError: a line grew beyond ``max_line_bytes``.
        """
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        # The unfinished remainder holds no line end, so scanning starts at the new bytes.
        scan_from = len(self._buffer)
        self._buffer += data
        events: list[SseEvent] = []
        start = 0
        for match in _LINE_END.finditer(self._buffer, scan_from):
            events.extend(self._line(bytes(self._buffer[start : match.start()])))
            start = match.end()
            self._skip_lf = match.group() == b"\r" and start == len(self._buffer)
        del self._buffer[:start]
        if len(self._buffer) > self._max_line_bytes:
            self._buffer.clear()
            raise ValueError(f"SSE line longer than {self._max_line_bytes} bytes")
        return events

    def close(self) -> list[SseEvent]:
        """Signal the end of the stream; return the event still pending, if any."""
        events: list[SseEvent] = []
        if self._buffer:
            events.extend(self._line(bytes(self._buffer)))
            self._buffer.clear()
        events.extend(self._line(b""))
        return events

    def _line(self, raw: bytes) -> list[SseEvent]:
        line = raw.decode("utf-8", errors="replace")
        if self._at_start:
            self._at_start = False
            line = line.removeprefix(_BOM)
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        # "id" and "retry" only matter to a reconnecting browser; other fields are ignored.
        return []

    def _dispatch(self) -> list[SseEvent]:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return []
        return [SseEvent(event, "\n".join(data))]

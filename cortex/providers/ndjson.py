"""Newline-delimited JSON: an incremental splitter that gives the same lines for any chunking.

Ollama streams one JSON object per line. The splitter keeps the unfinished line as bytes
and decodes only whole lines (a ``\\n`` byte never occurs inside a multi-byte UTF-8
character), drops blank lines and tolerates ``\\r\\n`` line ends. It does not parse JSON:
that is the decoder's job, so one framing serves any payload.
"""

from __future__ import annotations

DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024


class NdjsonSplitter:
    """Feed raw bytes, get back complete non-blank lines as text.

    Args:
        max_line_bytes: the longest line accepted, so a stream without line ends cannot
            grow the buffer without limit.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._max_line_bytes = max_line_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """Consume the next bytes; return the lines they complete, in order.

        Raises:
            ValueError: a line grew beyond ``max_line_bytes``.
        """
        self._buffer += data
        if b"\n" not in data:
            return self._check_bound([])
        *complete, rest = self._buffer.split(b"\n")
        self._buffer = bytearray(rest)
        return self._check_bound([line for line in map(_text, complete) if line])

    def _check_bound(self, lines: list[str]) -> list[str]:
        if len(self._buffer) > self._max_line_bytes:
            self._buffer.clear()
            raise ValueError(f"NDJSON line longer than {self._max_line_bytes} bytes")
        return lines

    def close(self) -> list[str]:
        """Signal the end of the stream; return a last line that had no line end."""
        rest = _text(self._buffer)
        self._buffer.clear()
        return [rest] if rest else []


def _text(raw: bytes | bytearray) -> str:
    return raw.decode("utf-8", errors="replace").strip()

"""The NDJSON splitter yields the same lines whatever the chunking."""

from __future__ import annotations

import pytest

from cortex.providers.ndjson import NdjsonSplitter


def split(data: bytes, size: int = 0) -> list[str]:
    splitter = NdjsonSplitter()
    lines: list[str] = []
    step = size or max(len(data), 1)
    for piece in (data[i : i + step] for i in range(0, len(data), step)):
        lines.extend(splitter.feed(piece))
    return lines + splitter.close()


def test_each_newline_completes_one_line() -> None:
    assert split(b'{"a":1}\n{"b":2}\n') == ['{"a":1}', '{"b":2}']


def test_a_line_is_held_until_its_newline_arrives() -> None:
    splitter = NdjsonSplitter()
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b":1}\n") == ['{"a":1}']


def test_blank_lines_are_skipped() -> None:
    assert split(b"\n{}\n\n  \n{}\n") == ["{}", "{}"]


def test_crlf_line_ends_are_accepted() -> None:
    assert split(b"{}\r\n[]\r\n") == ["{}", "[]"]


def test_a_character_split_across_chunks_is_decoded_whole() -> None:
    encoded = '{"t":"ü😀"}\n'.encode()
    splitter = NdjsonSplitter()
    lines: list[str] = []
    for byte in encoded:
        lines.extend(splitter.feed(bytes([byte])))
    assert lines == ['{"t":"ü😀"}']


def test_close_returns_a_last_line_without_newline() -> None:
    assert split(b'{"a":1}\n{"done":true}') == ['{"a":1}', '{"done":true}']


def test_close_on_an_empty_buffer_returns_nothing() -> None:
    assert NdjsonSplitter().close() == []


def test_a_line_longer_than_the_bound_raises_value_error() -> None:
    splitter = NdjsonSplitter(max_line_bytes=4)
    with pytest.raises(ValueError, match="longer than 4 bytes"):
        splitter.feed(b"0123456789")


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_any_chunking_gives_the_same_lines(size: int) -> None:
    stream = '{"a":"é"}\n\n{"b":2}\r\n{"c":3}'.encode()
    assert split(stream, size) == split(stream) == ['{"a":"é"}', '{"b":2}', '{"c":3}']

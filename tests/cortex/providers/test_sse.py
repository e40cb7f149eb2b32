"""The SSE parser yields the same events whatever the chunking, per the event-stream rules."""

from __future__ import annotations

import pytest

from cortex.providers.sse import SseEvent, SseParser


def parse(data: bytes, size: int = 0) -> list[SseEvent]:
    parser = SseParser()
    events: list[SseEvent] = []
    step = size or max(len(data), 1)
    for piece in (data[i : i + step] for i in range(0, len(data), step)):
        events.extend(parser.feed(piece))
    return events + parser.close()


def test_a_blank_line_dispatches_the_data_before_it() -> None:
    assert parse(b"data: hello\n\n") == [SseEvent("message", "hello")]


def test_an_event_line_names_the_event() -> None:
    assert parse(b"event: ping\ndata: {}\n\n") == [SseEvent("ping", "{}")]


def test_the_event_name_does_not_leak_into_the_next_event() -> None:
    events = parse(b"event: ping\ndata: 1\n\ndata: 2\n\n")
    assert events == [SseEvent("ping", "1"), SseEvent("message", "2")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert parse(b"data: a\ndata: b\ndata:\n\n") == [SseEvent("message", "a\nb\n")]


def test_comment_lines_are_ignored() -> None:
    assert parse(b": keep-alive\ndata: x\n: more\n\n") == [SseEvent("message", "x")]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_is_accepted(end: bytes) -> None:
    data = b"event: e" + end + b"data: x" + end + end
    assert parse(data) == [SseEvent("e", "x")]


def test_a_crlf_split_between_chunks_is_one_line_end() -> None:
    parser = SseParser()
    events = parser.feed(b"data: a\r") + parser.feed(b"\ndata: b\r") + parser.feed(b"\n\r\n")
    assert events == [SseEvent("message", "a\nb")]


def test_only_one_space_after_the_colon_is_stripped() -> None:
    assert parse(b"data:  two\ndata:none\n\n") == [SseEvent("message", " two\nnone")]


def test_a_field_without_a_colon_has_an_empty_value() -> None:
    assert parse(b"data\ndata: x\n\n") == [SseEvent("message", "\nx")]


def test_id_and_retry_fields_are_ignored() -> None:
    assert parse(b"id: 7\nretry: 10\ndata: x\n\n") == [SseEvent("message", "x")]


def test_an_event_without_data_is_dropped() -> None:
    assert parse(b"event: empty\n\ndata: x\n\n") == [SseEvent("message", "x")]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    assert parse("\ufeffdata: x\n\n".encode()) == [SseEvent("message", "x")]


def test_a_character_split_across_chunks_is_decoded_whole() -> None:
    encoded = "data: café 😀\n\n".encode()
    cut = encoded.index("😀".encode()) + 2
    parser = SseParser()
    events = parser.feed(encoded[:cut]) + parser.feed(encoded[cut:])
    assert events == [SseEvent("message", "café 😀")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse(b"data: \xff\xfe\n\n") == [SseEvent("message", "\ufffd\ufffd")]


def test_close_dispatches_an_event_missing_its_final_blank_line() -> None:
    assert parse(b"data: last") == [SseEvent("message", "last")]


def test_close_after_a_complete_stream_adds_nothing() -> None:
    parser = SseParser()
    parser.feed(b"data: x\n\n")
    assert parser.close() == []


def test_a_line_longer_than_the_bound_raises_value_error() -> None:
    parser = SseParser(max_line_bytes=8)
    with pytest.raises(ValueError, match="longer than 8 bytes"):
        parser.feed(b"data: 0123456789")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 11])
def test_any_chunking_gives_the_same_events(size: int) -> None:
    stream = (
        b': hi\r\nevent: a\r\ndata: {"t": "\xc3\xa9"}\r\n\r\n'
        b"data: one\rdata: two\r\rdata: [DONE]\n\n"
    )
    assert parse(stream, size) == parse(stream)
    assert parse(stream) == [
        SseEvent("a", '{"t": "é"}'),
        SseEvent("message", "one\ntwo"),
        SseEvent("message", "[DONE]"),
    ]

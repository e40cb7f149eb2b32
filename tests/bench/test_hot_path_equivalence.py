"""The benchmark's optimisations of the hot path change speed only, never bytes or meaning.

Each fast path found by profiling (issue #8) is checked against the slower, obvious way
it replaced: orjson against the standard library, the SSE parser's ``\\n``-only path
against its general one, pre-encoded chunk heads against whole-object encoding.
"""

from __future__ import annotations

import json
import math
import re

from actors.wire import HttpCall
from cortex.chat import Usage
from cortex.dataplane.attempts import encode_call
from cortex.http.render import ChunkWriter, completion_id, fresh_id, sse
from cortex.providers.payload import parse_object
from cortex.providers.sse import SseEvent, SseParser

STREAM = (
    'event: message\ndata: {"a": "h\u00e9"}\n\n: comment\ndata: one\ndata: two\n\ndata: [DONE]\n\n'
)
EXPECTED = [
    SseEvent("message", '{"a": "h\u00e9"}'),
    SseEvent("message", "one\ntwo"),
    SseEvent("message", "[DONE]"),
]


def _events(parts: list[bytes]) -> list[SseEvent]:
    parser = SseParser()
    return [event for part in parts for event in parser.feed(part)] + parser.close()


def test_the_sse_parser_gives_the_same_events_for_every_split_of_a_newline_stream() -> None:
    raw = STREAM.encode()
    for cut in range(len(raw) + 1):
        assert _events([raw[:cut], raw[cut:]]) == EXPECTED, cut


def test_the_sse_parser_gives_the_same_events_when_lines_end_in_crlf() -> None:
    raw = STREAM.replace("\n", "\r\n").encode()
    for cut in range(len(raw) + 1):
        assert _events([raw[:cut], raw[cut:]]) == EXPECTED, cut


def test_a_multibyte_character_split_across_chunks_survives_the_fast_path() -> None:
    raw = 'data: {"t":"\u20ac"}\n\n'.encode()
    middle = raw.index(b"\xe2") + 1
    assert _events([raw[:middle], raw[middle:]]) == [SseEvent("message", '{"t":"\u20ac"}')]


def test_upstream_json_the_fast_parser_refuses_is_read_as_the_standard_library_reads_it() -> None:
    parsed = parse_object('{"n": NaN, "big": 123456789012345678901234567890}')

    assert math.isnan(parsed["n"])
    assert parsed["big"] == 123456789012345678901234567890


def test_an_upstream_body_with_an_integer_beyond_64_bits_is_still_encoded() -> None:
    call = HttpCall("POST", "http://x/v1", {"Authorization": "Bearer k"}, {"seed": 2**70})

    headers, body = encode_call(call)

    assert json.loads(body or b"") == {"seed": 2**70}
    assert headers == {"Authorization": "Bearer k", "Content-Type": "application/json"}


def test_stream_chunks_decode_to_the_same_objects_in_openais_key_order() -> None:
    writer = ChunkWriter(cid="chatcmpl-1", model="m\u00e9", include_usage=True)
    frames = [writer.role(), writer.text('say "hi"\n'), writer.finish("stop")]
    frames.append(writer.usage(Usage(3, 4)))

    objects = [json.loads(frame.removeprefix(b"data: ").removesuffix(b"\n\n")) for frame in frames]

    assert [list(o) for o in objects] == [
        ["id", "object", "created", "model", "choices", "usage"]
    ] * 4
    assert objects[1]["choices"][0]["delta"] == {"content": 'say "hi"\n'}
    assert objects[1]["model"] == "m\u00e9"
    assert objects[3]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_chunks_carry_no_usage_field_unless_the_client_asked() -> None:
    writer = ChunkWriter(cid="chatcmpl-1", model="m", include_usage=False)

    assert "usage" not in json.loads(writer.text("x").removeprefix(b"data: "))
    assert writer.usage(Usage(1, 1)) == b""


def test_sse_frames_are_compact_json_and_named_events_keep_their_name() -> None:
    assert (
        sse({"content": "h\u00e9"}, event="done")
        == 'event: done\ndata: {"content":"h\u00e9"}\n\n'.encode()
    )


def test_fresh_ids_are_distinct_128_bit_hex_strings() -> None:
    ids = {fresh_id() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", completion_id())

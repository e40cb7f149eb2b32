"""parse_error: which JSON error a request the HTTP parser refused gets."""

from __future__ import annotations

import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.test_utils import make_mocked_request

from cortex.http.protocol import line_parser_limit, parse_error, request_line_bytes

LIMIT = 2048


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (LineTooLong(b"/aaaa...", line_parser_limit(LIMIT)), 414, "request_line_too_long"),
        (LineTooLong(b"X-Big: vvvv...", LIMIT), 431, "header_too_large"),
        (LineTooLong(b"vvvv..."), 431, "header_too_large"),
        (BadHttpMessage("Bad status line 'NOT'"), 400, "bad_http_request"),
        (BadHttpMethod("\x16\x03\x01"), 400, "bad_http_request"),
    ],
    ids=["request-line", "header", "no-limit-given", "bad-message", "tls-on-plain-port"],
)
def test_a_refused_request_gets_the_status_and_code_of_what_was_wrong(
    exc: HttpProcessingError, status: int, code: str
) -> None:
    error = parse_error(exc, LIMIT)

    assert (error.status, error.code) == (status, code)
    assert set(error.body()["error"]) == {"message", "type", "code"}


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [("GET", "/healthz", 21), ("POST", "/v1/chat/completions?x=é", 39)],
)
def test_the_request_line_is_measured_in_bytes_as_sent(
    method: str, target: str, expected: int
) -> None:
    assert request_line_bytes(make_mocked_request(method, target)) == expected

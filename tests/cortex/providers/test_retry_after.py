"""Retry-After parsing: every form providers send, and nothing that would block a key for ever."""

from __future__ import annotations

import pytest

from actors.outcomes import parse_retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({}, None),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_retry_after_reads_seconds_and_milliseconds(headers, expected):
    assert parse_retry_after(headers) == expected


def test_retry_after_reads_an_http_date_relative_to_now():
    now = 1_700_000_000.0
    assert parse_retry_after(
        {"Retry-After": "Tue, 14 Nov 2023 22:13:30 GMT"}, now=now
    ) == pytest.approx(10.0)


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "1e400"])
def test_a_non_finite_retry_after_is_ignored_rather_than_blocking_a_key_for_ever(value):
    assert parse_retry_after({"Retry-After": value}) is None
    assert parse_retry_after({"retry-after-ms": value}) is None

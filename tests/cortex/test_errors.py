"""Unit tests for the client-facing errors: status, type, body shape and headers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cortex.errors import (
    AllRateLimited,
    AllUpstreamsFailed,
    Attempt,
    BadRequest,
    DeadlineExceeded,
    GatewayError,
    NotFound,
    NothingAvailable,
    PayloadTooLarge,
    Unauthorized,
    UpstreamRejected,
)


def error_json(error: GatewayError) -> dict[str, Any]:
    inner = error.body()["error"]
    assert isinstance(inner, dict)
    return inner


ATTEMPTS = (
    Attempt("groq", "gsk_ab***wxyz", "rate_limited", "slow down"),
    Attempt("ollama", None, "timeout", "no answer"),
)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (GatewayError("x"), 500, "gateway_error"),
        (BadRequest("x"), 400, "invalid_request_error"),
        (UpstreamRejected("x", code=None, worker="w"), 400, "invalid_request_error"),
        (Unauthorized("x"), 401, "authentication_error"),
        (NotFound("x"), 404, "not_found_error"),
        (PayloadTooLarge("x"), 413, "invalid_request_error"),
        (AllRateLimited(ATTEMPTS, 3.0), 429, "rate_limit_error"),
        (AllUpstreamsFailed(ATTEMPTS), 502, "upstream_error"),
        (NothingAvailable("x"), 503, "service_unavailable"),
        (DeadlineExceeded("x"), 504, "timeout_error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, GatewayError) else str(v),
)
def test_each_error_has_its_status_and_type(error: GatewayError, status: int, kind: str) -> None:
    assert (error.status, error.type) == (status, kind)
    assert error_json(error)["type"] == kind


def test_the_body_has_message_type_and_code() -> None:
    assert BadRequest("bad field", code="invalid_value").body() == {
        "error": {"message": "bad field", "type": "invalid_request_error", "code": "invalid_value"}
    }


def test_the_code_defaults_to_none() -> None:
    assert error_json(NotFound("no such route")) == {
        "message": "no such route",
        "type": "not_found_error",
        "code": None,
    }


def test_plain_errors_need_no_extra_headers() -> None:
    assert BadRequest("x").headers() == {}


def test_upstream_rejected_is_a_bad_request_that_names_the_worker() -> None:
    error = UpstreamRejected("context too long", code="context_length_exceeded", worker="groq")
    assert isinstance(error, BadRequest)
    assert error.worker == "groq"
    assert error_json(error)["code"] == "context_length_exceeded"


def test_nothing_available_asks_the_client_to_retry_shortly() -> None:
    assert NothingAvailable("none").headers() == {"Retry-After": "5"}


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        (None, "1"),
        (0.0, "1"),
        (0.2, "1"),
        (1.0, "1"),
        (1.01, "2"),
        (29.5, "30"),
        (math.inf, "1"),
        (math.nan, "1"),
    ],
)
def test_all_rate_limited_rounds_retry_after_up_to_at_least_one_second(
    retry_after: float | None, header: str
) -> None:
    assert AllRateLimited(ATTEMPTS, retry_after).headers() == {"Retry-After": header}


def test_all_rate_limited_lists_every_attempt_in_its_body() -> None:
    assert error_json(AllRateLimited(ATTEMPTS, 3.0)) == {
        "message": "every upstream key is rate limited",
        "type": "rate_limit_error",
        "code": "rate_limited",
        "attempts": [
            {
                "worker": "groq",
                "key": "gsk_ab***wxyz",
                "reason": "rate_limited",
                "message": "slow down",
            },
            {"worker": "ollama", "key": None, "reason": "timeout", "message": "no answer"},
        ],
    }


def test_all_upstreams_failed_lists_every_attempt() -> None:
    error = AllUpstreamsFailed(ATTEMPTS)
    assert error.message == "every upstream failed (groq: rate_limited, ollama: timeout)"
    assert error.code == "all_upstreams_failed"
    assert [a["worker"] for a in error_json(error)["attempts"]] == ["groq", "ollama"]


def test_all_upstreams_failed_without_attempts_says_so() -> None:
    error = AllUpstreamsFailed(())
    assert error.message == "every upstream failed (no attempt made)"
    assert error_json(error)["attempts"] == []


def test_the_exception_text_is_the_message() -> None:
    assert str(DeadlineExceeded("deadline passed")) == "deadline passed"

"""Errors a client of the gateway can get, and how each maps to HTTP.

Every error is rendered as ``{"error": {"message", "type", "code"}}`` with the status
below; nothing else reaches a client, so no request can produce a 500 page or a leaked
secret:

    GatewayError
    ├── BadRequest              400  the request is malformed or asks for nothing valid
    │   └── UpstreamRejected    400  a provider refused the request itself (no failover)
    ├── Unauthorized            401  a wrong gateway key
    ├── NotFound                404  no such route or worker
    ├── PayloadTooLarge         413  body over the configured limit
    ├── RequestLineTooLong      414  request line over the configured limit
    ├── HeaderTooLarge          431  a header field over the configured limit
    ├── AllRateLimited          429  every candidate key is resting; carries Retry-After
    ├── AllUpstreamsFailed      502  every attempt failed; carries each attempt's reason
    ├── NothingAvailable        503  no worker can take the request right now
    └── DeadlineExceeded        504  the request's deadline passed before an answer began
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed try during failover, as reported to the client."""

    worker: str
    key: str | None
    reason: str
    message: str

    def as_json(self) -> dict[str, str | None]:
        """The attempt as it appears in an error body (masked key only)."""
        return {
            "worker": self.worker,
            "key": self.key,
            "reason": self.reason,
            "message": self.message,
        }


class GatewayError(Exception):
    """Base of every error returned to a client."""

    status = 500
    type = "gateway_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs."""
        return {}

    def body(self) -> dict[str, object]:
        """The JSON error body."""
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}


class BadRequest(GatewayError):
    """The request is malformed or asks for something that cannot exist."""

    status = 400
    type = "invalid_request_error"


class UpstreamRejected(BadRequest):
    """A provider rejected the request itself; its reason is passed through unchanged."""

    def __init__(self, message: str, *, code: str | None, worker: str) -> None:
        super().__init__(message, code=code)
        self.worker = worker


class Unauthorized(GatewayError):
    """The client did not present a valid gateway key."""

    status = 401
    type = "authentication_error"


class NotFound(GatewayError):
    """No such endpoint or resource."""

    status = 404
    type = "not_found_error"


class PayloadTooLarge(GatewayError):
    """The request body is over the configured limit."""

    status = 413
    type = "invalid_request_error"


class RequestLineTooLong(GatewayError):
    """The request line (method, target and version) is over ``CORTEX_MAX_HEADER_BYTES``."""

    status = 414
    type = "invalid_request_error"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request line is longer than {limit} bytes", code="request_line_too_long"
        )


class HeaderTooLarge(GatewayError):
    """A header field (name and value) is over ``CORTEX_MAX_HEADER_BYTES``."""

    status = 431
    type = "invalid_request_error"

    def __init__(self, limit: int) -> None:
        super().__init__(f"a header field is longer than {limit} bytes", code="header_too_large")


class _WithAttempts(GatewayError):
    def __init__(self, message: str, attempts: Sequence[Attempt], *, code: str) -> None:
        super().__init__(message, code=code)
        self.attempts = tuple(attempts)

    def body(self) -> dict[str, object]:
        body = super().body()
        error = body["error"]
        assert isinstance(error, dict)
        error["attempts"] = [attempt.as_json() for attempt in self.attempts]
        return body


class AllRateLimited(_WithAttempts):
    """Every candidate was rate limited; the client should come back after ``retry_after``."""

    status = 429
    type = "rate_limit_error"

    def __init__(self, attempts: Sequence[Attempt], retry_after: float | None) -> None:
        super().__init__("every upstream key is rate limited", attempts, code="rate_limited")
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Tell the client when a key frees up (at least one second)."""
        seconds = self.retry_after
        if seconds is None or not math.isfinite(seconds):
            seconds = 1
        return {"Retry-After": str(max(1, math.ceil(seconds)))}


class AllUpstreamsFailed(_WithAttempts):
    """Every attempt of the plan failed."""

    status = 502
    type = "upstream_error"

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        names = ", ".join(f"{a.worker}: {a.reason}" for a in attempts) or "no attempt made"
        super().__init__(f"every upstream failed ({names})", attempts, code="all_upstreams_failed")


class NothingAvailable(GatewayError):
    """No worker can serve the request right now."""

    status = 503
    type = "service_unavailable"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Ask the client to come back when something may be free (5 s when unknown)."""
        seconds = self.retry_after
        if seconds is None or not math.isfinite(seconds):
            seconds = 5.0
        return {"Retry-After": str(max(1, math.ceil(seconds)))}


class DeadlineExceeded(_WithAttempts):
    """The request's deadline passed before an answer started."""

    status = 504
    type = "timeout_error"

    def __init__(
        self,
        message: str = "the request deadline passed before any upstream answered",
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message, attempts, code="deadline_exceeded")

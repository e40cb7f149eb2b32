"""Errors a client of the gateway can get, and how each maps to HTTP.

Every error is rendered as ``{"error": {"message", "type", "code"}}`` with the status
below; nothing else reaches a client, so no request can produce a 500 page or a leaked
secret:

    GatewayError
    ├── BadRequest                  400  the request is malformed or asks for nothing valid
    │   ├── UpstreamRejected        400  a provider refused the request itself (no failover)
    │   └── InvalidConfiguration    400  a submitted configuration is invalid (lists problems)
    ├── Unauthorized                401  a wrong credential
    │   ├── MissingGatewayKey       401  no or a wrong gateway key
    │   └── BadAdminToken           401  no or a wrong admin token
    ├── DrillsDisabled              403  fault drills are off in this process
    ├── ModelNotAllowed             403  the gateway key may not use the model it asked for
    ├── OriginNotAllowed            403  a CORS preflight from an origin not configured
    ├── NotFound                    404  no such route or worker
    │   ├── UnsupportedEndpoint     404  a path Cortex does not serve; lists those it does
    │   └── AdminDisabled           404  no admin token configured: the admin API is off
    ├── MethodNotAllowed            405  a served path, another method; carries Allow
    ├── PayloadTooLarge             413  body over the configured limit
    ├── RequestLineTooLong          414  request line over the configured limit
    ├── HeaderTooLarge              431  a header field over the configured limit
    ├── AllRateLimited              429  every candidate key is resting; carries Retry-After
    ├── TooManyConnections          429  this client address has too many requests in flight
    ├── KeyOverLimit                429  the gateway key's rate limit or budget is spent
    ├── AllUpstreamsFailed          502  every attempt failed; carries each attempt's reason
    ├── UnreadableAnswer            502  an answer the client's format cannot express
    ├── NothingAvailable            503  no worker can take the request right now
    ├── WorkerNotStarted            503  a worker added at run time did not start
    ├── ReloadNotApplied            503  a reload failed midway and was rolled back
    └── DeadlineExceeded            504  the request's deadline passed before an answer began

``ListsProblems`` is a mixin of the errors whose body lists ``problems``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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

    status, type = 500, "gateway_error"

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

    status, type = 400, "invalid_request_error"


class UpstreamRejected(BadRequest):
    """A provider rejected the request itself; its reason is passed through unchanged."""

    def __init__(self, message: str, *, code: str | None, worker: str) -> None:
        super().__init__(message, code=code)
        self.worker = worker


class Unauthorized(GatewayError):
    """The client did not present a valid gateway key."""

    status, type = 401, "authentication_error"


class NotFound(GatewayError):
    """No such endpoint or resource."""

    status, type = 404, "not_found_error"


class UnsupportedEndpoint(NotFound):
    """A path Cortex does not serve (``/v1/completions``); the message lists those it does.

    Typed ``invalid_request_error``, as OpenAI types a request to a URL it does not serve.
    """

    type = "invalid_request_error"


class MethodNotAllowed(GatewayError):
    """A path Cortex serves, asked with a method it does not take there."""

    status, type = 405, "invalid_request_error"

    def __init__(self, method: str, path: str, allowed: Iterable[str]) -> None:
        self.allowed = tuple(sorted(allowed))
        super().__init__(
            f"{method} is not allowed on {path}; use {' or '.join(self.allowed)}",
            code="method_not_allowed",
        )

    def headers(self) -> dict[str, str]:
        """Name the methods the path takes (RFC 9110 requires ``Allow`` on a 405)."""
        return {"Allow": ", ".join(self.allowed)}


class PayloadTooLarge(GatewayError):
    """The request body is over the configured limit."""

    status, type = 413, "invalid_request_error"


class RequestLineTooLong(GatewayError):
    """The request line (method, target and version) is over ``CORTEX_MAX_HEADER_BYTES``."""

    status, type = 414, "invalid_request_error"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request line is longer than {limit} bytes", code="request_line_too_long"
        )


class HeaderTooLarge(GatewayError):
    """A header field (name and value) is over ``CORTEX_MAX_HEADER_BYTES``."""

    status, type = 431, "invalid_request_error"

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

    status, type = 429, "rate_limit_error"

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

    status, type = 502, "upstream_error"

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        names = ", ".join(f"{a.worker}: {a.reason}" for a in attempts) or "no attempt made"
        super().__init__(f"every upstream failed ({names})", attempts, code="all_upstreams_failed")


class UnreadableAnswer(GatewayError):
    """An answer that cannot be put in the client's format (tool-call arguments that are
    not the JSON object an Anthropic ``tool_use`` block needs)."""

    status, type = 502, "upstream_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="unreadable_answer")


class NothingAvailable(GatewayError):
    """No worker can serve the request right now."""

    status, type = 503, "service_unavailable"

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

    status, type = 504, "timeout_error"

    def __init__(
        self,
        message: str = "the request deadline passed before any upstream answered",
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message, attempts, code="deadline_exceeded")


TOO_MANY_CONNECTIONS_RETRY_AFTER = 1
"""Seconds a client with too many requests in flight is asked to wait."""


class MissingGatewayKey(Unauthorized):
    """The client sent no gateway key, or a wrong one."""

    def __init__(self) -> None:
        super().__init__(
            "send a gateway key as 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
            code="invalid_api_key",
        )

    def headers(self) -> dict[str, str]:
        """Tell the client which scheme to use."""
        return {"WWW-Authenticate": 'Bearer realm="cortex"'}


class ModelNotAllowed(GatewayError):
    """The gateway key's allow-list does not name the model (or route) it asked for."""

    status, type = 403, "permission_error"


class KeyOverLimit(GatewayError):
    """A gateway key's rate limit (``rate_limited``) or budget (``budget_exceeded``) is spent."""

    status, type = 429, "rate_limit_error"

    def __init__(self, message: str, *, code: str, headers: dict[str, str]) -> None:
        super().__init__(message, code=code)
        self.limit_headers = headers

    def headers(self) -> dict[str, str]:
        """``Retry-After`` and the key's ``x-ratelimit-*`` headers."""
        return dict(self.limit_headers)


class TooManyConnections(GatewayError):
    """This client address already has as many requests in flight as it may."""

    status, type = 429, "rate_limit_error"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"too many concurrent requests from your address (limit {limit})",
            code="too_many_connections",
        )

    def headers(self) -> dict[str, str]:
        """Ask the client to come back shortly."""
        return {"Retry-After": str(TOO_MANY_CONNECTIONS_RETRY_AFTER)}


class ListsProblems(GatewayError):
    """An admin error that lists each of its ``problems`` in the body's ``problems``."""

    problems: list[str]

    def body(self) -> dict[str, object]:
        """The error body, with every problem listed."""
        body = super().body()
        error = body["error"]
        assert isinstance(error, dict)
        error["problems"] = list(self.problems)
        return body


class InvalidConfiguration(ListsProblems, BadRequest):
    """The submitted or reloaded configuration is invalid; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the configuration is invalid; nothing was changed", code="invalid_config")
        self.problems = problems


class AdminDisabled(NotFound):
    """No admin token is configured, so the admin API is off."""

    def __init__(self) -> None:
        super().__init__(
            "the admin API is off; set CORTEX_ADMIN_TOKEN to turn it on", code="admin_disabled"
        )


class BadAdminToken(Unauthorized):
    """The admin token is missing or wrong."""

    def __init__(self) -> None:
        super().__init__(
            "send the admin token as 'Authorization: Bearer <token>'", code="invalid_admin_token"
        )

    def headers(self) -> dict[str, str]:
        """Tell the client which scheme to use."""
        return {"WWW-Authenticate": 'Bearer realm="cortex-admin"'}


class DrillsDisabled(GatewayError):
    """Fault drills were not enabled for this process."""

    status, type = 403, "permission_error"

    def __init__(self) -> None:
        super().__init__(
            "fault drills are off; start Cortex with CORTEX_FAULT_DRILLS=1", code="drills_disabled"
        )


class OriginNotAllowed(GatewayError):
    """A browser's preflight, or a cross-site request, came from an origin not listed."""

    status, type = 403, "permission_error"

    def __init__(self, origin: str) -> None:
        super().__init__(
            f"the origin {origin!r} may not call Cortex from a browser; list it in"
            " CORTEX_CORS_ORIGINS",
            code="origin_not_allowed",
        )


class WorkerNotStarted(GatewayError):
    """A worker added through the admin API did not start; it was not added."""

    status, type = 503, "service_unavailable"

    def __init__(self, reason: object) -> None:
        super().__init__(
            f"the worker did not start ({reason}); it was not added",
            code="worker_start_failed",
        )


class ReloadNotApplied(ListsProblems):
    """Applying a valid configuration failed midway; every step taken was undone.

    The configuration in force is still the one loaded before, and the next reload starts
    again from it. Answered 503: nothing is wrong with the request, and a later reload
    may succeed (once the worker that would not start can).
    """

    status, type = 503, "service_unavailable"

    def __init__(self, failure: Exception, undo_errors: Sequence[str]) -> None:
        super().__init__(
            "the reload failed and was rolled back; the running configuration is unchanged",
            code="reload_failed",
        )
        # The failed step first, then any undo that failed too.
        self.problems = [str(failure), *undo_errors]

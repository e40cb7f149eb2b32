"""One vocabulary for everything an upstream provider can do wrong.

Every adapter classifies its provider's failures into an :class:`ErrorKind`; the data
plane and the actors act on the kind alone, never on a provider's own codes:

    ErrorKind
    ├── key problems (block the key, then fail over)
    │   ├── RATE_LIMITED      429 / rate-limit error; honours Retry-After
    │   ├── QUOTA_EXHAUSTED   out of credit or daily quota
    │   └── INVALID_KEY       401 / 403: the key is wrong or revoked
    ├── worker problems (fail over to the next worker, key untouched)
    │   ├── OVERLOADED        503 / 529 / overloaded_error
    │   ├── UPSTREAM_ERROR    other 5xx, a redirect, or an unreadable answer
    │   ├── TIMEOUT           no answer within the deadline
    │   ├── CONNECT_ERROR     refused, reset or dropped connection
    │   └── EMPTY_RESPONSE    a 200 whose stream ends without content
    └── the client's own fault (returned as is: no failover, no key block)
        └── BAD_REQUEST       400 / 404 / 413 / 422 caused by the request
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urljoin, urlsplit


class ErrorKind(StrEnum):
    """What went wrong upstream, in terms of what the gateway should do about it."""

    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    INVALID_KEY = "invalid_key"
    OVERLOADED = "overloaded"
    UPSTREAM_ERROR = "upstream_error"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    EMPTY_RESPONSE = "empty_response"
    BAD_REQUEST = "bad_request"


_KEY_KINDS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.QUOTA_EXHAUSTED, ErrorKind.INVALID_KEY})
# A key that is resting or was rejected says nothing about the worker's other keys.
_SAME_WORKER_RETRY = _KEY_KINDS


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """A classified upstream failure.

    Attributes:
        kind: the shared classification that drives blocking and failover.
        message: the provider's own explanation, safe to show (never holds a key).
        status: the HTTP status, when the failure came with one.
        retry_after: seconds the provider asked us to wait, when it said.
        code: the provider's machine-readable error code or type, when it gave one.
        cut_by_deadline: a timeout whose limit was the request's deadline, shorter than the
            worker's own limit: the request has no time left, whatever the clock reads
            (an event loop's timer may fire a hair before the deadline).
    """

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    code: str | None = None
    cut_by_deadline: bool = False

    @property
    def blocks_key(self) -> bool:
        """Whether the key that got this answer should be taken out of rotation."""
        return self.kind in _KEY_KINDS

    @property
    def tries_next_key(self) -> bool:
        """Whether another key of the same worker may succeed where this one failed."""
        return self.kind in _SAME_WORKER_RETRY

    @property
    def is_client_error(self) -> bool:
        """Whether the request itself is at fault, so no other upstream would do better."""
        return self.kind is ErrorKind.BAD_REQUEST


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header (delta-seconds or HTTP date) as seconds from now.

    Also accepts the ``retry-after-ms`` header some OpenAI-compatible servers send.
    Returns None when the provider gave no usable hint.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            seconds = float(millis) / 1000.0
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds):
            return max(0.0, seconds)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds):
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


_KIND_BY_STATUS = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.INVALID_KEY,
    402: ErrorKind.QUOTA_EXHAUSTED,
    403: ErrorKind.INVALID_KEY,
    404: ErrorKind.BAD_REQUEST,
    408: ErrorKind.TIMEOUT,
    413: ErrorKind.BAD_REQUEST,
    422: ErrorKind.BAD_REQUEST,
    429: ErrorKind.RATE_LIMITED,
    503: ErrorKind.OVERLOADED,
    504: ErrorKind.TIMEOUT,
    529: ErrorKind.OVERLOADED,
}


def kind_for_status(status: int) -> ErrorKind:
    """The default classification of an HTTP status, before any provider-specific detail.

    Adapters start from this and refine it with what the body says (an OpenAI
    ``insufficient_quota`` 429, Gemini's ``API_KEY_INVALID`` 400, and so on). Statuses
    that are neither the client's fault nor a key problem (409, 405, an unknown 4xx, any
    other 5xx) count as upstream errors, so the gateway fails over instead of blaming
    the client.
    """
    return _KIND_BY_STATUS.get(status, ErrorKind.UPSTREAM_ERROR)


def is_redirect(status: int) -> bool:
    """Whether an HTTP status is a redirect (3xx), which Cortex never follows."""
    return 300 <= status < 400


def redirect_failure(status: int, location: str | None, url: str) -> UpstreamFailure:
    """A provider's redirect as the upstream error it is, naming only the target's origin.

    Redirects are never followed: an HTTP client drops ``Authorization`` on a redirect to
    another origin but sends ``x-api-key`` (Anthropic) or ``x-goog-api-key`` (Gemini) on,
    so following one would hand the key to whoever the redirect names. The message names
    the origin (scheme, host, port) and never the path or query, which may carry tokens.

    Args:
        status: the 3xx status.
        location: the ``Location`` header, if any (relative to ``url`` when relative).
        url: the URL that was requested.
    """
    target = _origin(urljoin(url, location)) if location else "no location"
    return UpstreamFailure(
        ErrorKind.UPSTREAM_ERROR,
        f"upstream answered HTTP {status}, a redirect to {target}"
        "; redirects from providers are never followed",
        status=status,
    )


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, without any user, path or query."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unreadable location"
    if not parts.scheme or not host:
        return "an unreadable location"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")

"""Credentials on a request: the bearer token it carries, compared in constant time.

Gateway keys (:mod:`cortex.http.access`), the admin token (:mod:`cortex.http.admin`) and
the dashboard's credential (:mod:`cortex.observability.telemetry`) are all checked with
these, so a comparison never shows in the timing where the keys differ.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of two tokens (their lengths may still differ in time)."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def key_accepted(presented: str, keys: Sequence[str]) -> bool:
    """Whether ``presented`` is one of ``keys``, comparing against every key in constant time."""
    accepted = False
    for key in keys:
        accepted |= hmac.compare_digest(presented.encode(), key.encode())
    return accepted

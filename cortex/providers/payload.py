"""Reading untrusted upstream JSON: typed accessors and key-free failure messages.

Every adapter reads bodies it does not control: a proxy's HTML error page, a field of the
wrong type, a truncated chunk. The accessors here never raise on a wrong shape (they
answer "absent" instead), so adapters state what they look for without a ``try`` around
every lookup; only :func:`parse_object`, :func:`require` and :func:`names` raise, with the
``ValueError`` the adapter contract promises. Every message that leaves an adapter goes
through :func:`safe_message`, which bounds it and redacts anything shaped like a key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from actors.outcomes import ErrorKind, UpstreamFailure, parse_retry_after
from cortex.chat import StreamFailed, Usage

JsonObject = dict[str, Any]
_MAX_MESSAGE = 500
# Key-shaped tokens a provider might echo back: bearer tokens, OpenAI/Anthropic "sk-",
# Groq "gsk_", xAI "xai-", Google "AIza", and "key=" query parameters.
_SECRET = re.compile(
    r"(?i)(?<=bearer )\S+"
    r"|\b(?:sk|gsk|xai)[-_][\w*.\-]{8,}"
    r"|\bAIza[\w\-]{20,}"
    r"|(?<=[?&]key=)[^&\s\"']+"
)


def parse_object(raw: bytes | str) -> JsonObject:
    """Parse a JSON object.

    Raises:
        ValueError: the text is not valid UTF-8 JSON or not an object.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson is strict where the standard library is lenient (NaN, huge integers, lone
        # surrogates); the rare body it refuses is read the standard library's way, so
        # what parses is exactly what parsed before, only faster on every stream chunk.
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
    return require(value, "a JSON object")


def require(value: object, what: str) -> JsonObject:
    """``value`` when it is a JSON object.

    Raises:
        ValueError: it is not; the adapter contract reports every malformed body this way.
    """
    if isinstance(value, dict):
        return value
    raise ValueError(f"expected {what}, got {type(value).__name__}")


def obj(value: Mapping[str, Any], key: str) -> JsonObject:
    """The object under ``key``, or an empty one when absent or not an object."""
    found = value.get(key)
    return found if isinstance(found, dict) else {}


def seq(value: Mapping[str, Any], key: str) -> list[Any]:
    """The list under ``key``, or an empty one when absent or not a list."""
    found = value.get(key)
    return found if isinstance(found, list) else []


def first(value: Mapping[str, Any], key: str) -> JsonObject:
    """The first element of the list under ``key`` when it is an object, else ``{}``."""
    items = seq(value, key)
    return items[0] if items and isinstance(items[0], dict) else {}


def string(value: Mapping[str, Any], key: str) -> str | None:
    """The string under ``key``, or None."""
    found = value.get(key)
    return found if isinstance(found, str) else None


def count(value: Mapping[str, Any], key: str) -> int | None:
    """The non-negative number under ``key`` as an int (Cohere sends floats), or None."""
    found = value.get(key)
    if isinstance(found, bool) or not isinstance(found, int | float):
        return None
    if not math.isfinite(found) or found < 0:
        return None
    return int(found)


def usage_from(value: Mapping[str, Any], prompt_key: str, completion_key: str) -> Usage | None:
    """Build a :class:`Usage` from two counters; None when the upstream sent neither."""
    prompt, completion = count(value, prompt_key), count(value, completion_key)
    if prompt is None and completion is None:
        return None
    return Usage(prompt or 0, completion or 0)


def joined_text(parts: Sequence[Any], *, skip: str | None = None) -> str:
    """Concatenate the ``text`` of every object in ``parts``; ``skip`` names a flag to omit."""
    return "".join(
        part["text"]
        for part in parts
        if isinstance(part, dict)
        and isinstance(part.get("text"), str)
        and not (skip and part.get(skip))
    )


def redact(text: str) -> str:
    """Replace anything shaped like an API key with ``[redacted]``."""
    return _SECRET.sub("[redacted]", text)


def safe_message(text: object, fallback: str) -> str:
    """A one-line, bounded, key-free message; ``fallback`` when ``text`` is not usable."""
    if not isinstance(text, str) or not text.strip():
        text = fallback
    cleaned = redact(" ".join(text.split()))
    return cleaned if len(cleaned) <= _MAX_MESSAGE else cleaned[: _MAX_MESSAGE - 1] + "…"


def body_excerpt(status: int | None, body: bytes) -> str:
    """The fallback message for a body nobody could read: status plus the start of the body."""
    snippet = " ".join(body[:200].decode("utf-8", errors="replace").split())
    prefix = f"upstream answered HTTP {status}" if status is not None else "upstream error"
    return f"{prefix}: {snippet}" if snippet else prefix


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds, or None when absent, malformed or not finite."""
    try:
        seconds = parse_retry_after(headers)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return seconds if seconds is not None and math.isfinite(seconds) else None


def error_object(body: bytes) -> JsonObject:
    """The JSON object of an error body (first element if a list), or ``{}`` if unreadable."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, dict) else {}


def code_text(value: Mapping[str, Any], key: str) -> str | None:
    """An error code as text: providers send strings, some (xAI) numbers."""
    found = value.get(key)
    if isinstance(found, str) and found:
        return found
    if isinstance(found, int) and not isinstance(found, bool):
        return str(found)
    return None


def failed(
    kind: ErrorKind, message: object, *, fallback: str, code: str | None = None
) -> StreamFailed:
    """An in-stream failure with a safe message (in-stream errors carry no HTTP status)."""
    return StreamFailed(UpstreamFailure(kind, safe_message(message, fallback), code=code))


def http_failure(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    kind: ErrorKind,
    message: object,
    code: str | None = None,
    delay: float | None = None,
) -> UpstreamFailure:
    """An HTTP failure with a safe message (body excerpt as fallback) and the retry hint.

    ``delay`` is a hint found in the body; the ``Retry-After`` header wins over it.
    """
    hint = retry_after(headers)
    return UpstreamFailure(
        kind=kind,
        message=safe_message(message, body_excerpt(status, body)),
        status=status,
        retry_after=hint if hint is not None else delay,
        code=code,
    )


def names(body: bytes, list_key: str, name_key: str) -> tuple[str, ...]:
    """Read a model listing: the string ``name_key`` of every object in ``list_key``.

    Raises:
        ValueError: not a JSON object, or ``list_key`` is not a list.
    """
    items = parse_object(body).get(list_key)
    if isinstance(items, list):
        found = (string(item, name_key) for item in items if isinstance(item, dict))
        return tuple(name for name in found if name)
    raise ValueError(f"model listing without a {list_key!r} array")

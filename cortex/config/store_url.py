"""The URL of a fleet's shared store (``CORTEX_REDIS_URL``): checked, and never shown whole.

A Redis URL may carry a password (``redis://:s3cret@redis.internal:6379/0``), so it is a
secret like a provider key: the whole URL and its password are handed to the gateway's
:class:`~actors.redaction.Redactor`, and anything meant for display uses
:func:`shown_store_url`, which keeps the address and hides the credentials.

Only ``redis://`` and ``rediss://`` (TLS) are accepted: a typo such as ``http://`` or a
bare ``host:port`` is refused at startup rather than silently ignored.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

SCHEMES = ("redis", "rediss")


def store_url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable Redis URL, without repeating any credential; None if it is."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        return (
            "CORTEX_REDIS_URL must start with redis:// or rediss:// (TLS),"
            f" e.g. redis://127.0.0.1:6379/0; got {shown}"
        )
    try:
        parts.port  # noqa: B018 - reading it is the check: a bad port raises
    except ValueError:
        return f"CORTEX_REDIS_URL has an invalid port: {shown_store_url(url)}"
    if not parts.hostname:
        return f"CORTEX_REDIS_URL names no host: {shown_store_url(url)}"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return f"CORTEX_REDIS_URL's path must be a database number (/0), got /{database}"
    return None


def store_url_secrets(url: str) -> tuple[str, ...]:
    """What of ``url`` must be redacted: the URL itself and its password, as written and decoded."""
    if not url:
        return ()
    password = urlsplit(url).password
    if not password:
        return (url,)
    return tuple(dict.fromkeys((url, password, unquote(password))))


def shown_store_url(url: str) -> str:
    """``url`` as logs and status views may show it: scheme, host, port and database only."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    credentials = "***@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{credentials}{host}{port}{parts.path}"

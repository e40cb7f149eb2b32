"""Secrets as they may be shown: masked for display, and redacted from untrusted text.

Cortex holds three kinds of secret: provider keys (any shape: ``sk-…``, a Cohere token,
an Azure 32-hex key, a self-hosted server's password), gateway keys and the admin token.
An upstream may echo the key it was sent in its error (``Incorrect API key provided:
tok_live_…``), so every upstream text is passed through :meth:`Redactor.redact` before it
is stored, logged or returned. Redaction is by exact value, not by shape: a pattern of
known prefixes misses every key whose shape nobody listed.

Which secrets are in force changes at run time (a reload, a worker added or removed by the
admin API), so each owner (a worker's keys, the gateway's own credentials) states its
current secrets with :meth:`Redactor.use`. A secret that leaves the configuration stays
redacted, for two reasons: an answer already in flight when the key was rotated out may
still carry it back, and a key removed from Cortex is usually still valid at its provider,
so it is no less secret than before. Retired secrets are kept, most recent first, up to a
bound, so memory stays fixed however often the configuration changes.

Redaction runs on error texts and log lines, never per streamed token. Reading the table
takes no lock (it is one immutable value, replaced whole when the secrets change), and a
text without any secret costs one substring search per secret form.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import structlog

from actors.outcomes import ErrorKind, UpstreamFailure

log = structlog.get_logger("cortex.redaction")

_HIDDEN = "***"
MIN_REDACTED_LENGTH = 8
"""Shorter secrets are not redacted from text: replacing every occurrence of a 3-letter
token would mangle ordinary words and log fields. They are too short to be safe anyway,
and a warning says so when one is configured."""
RETIRED_LIMIT = 1024
"""Most secrets kept redacted after they left the configuration."""


def mask_key(secret: str) -> str:
    """Show a key the way admin output and logs may: its ends, never its middle.

    Keys of 12 characters or more keep their first 6 and last 4 characters
    (``gsk_ab***wxyz``); keys of 8 to 11 keep 2 and 2; shorter keys are all hidden, since
    showing their ends would give most of them away.
    """
    if len(secret) >= 12:
        return f"{secret[:6]}{_HIDDEN}{secret[-4:]}"
    if len(secret) >= 8:
        return f"{secret[:2]}{_HIDDEN}{secret[-2:]}"
    return _HIDDEN


def forms(secret: str) -> tuple[str, ...]:
    """Every way ``secret`` may appear in a text: as is, JSON-escaped and URL-encoded.

    An upstream's raw body excerpt or a JSON log line carries a key with ``"``, ``\\`` or
    non-ASCII characters escaped; a URL carries it percent-encoded.
    """
    candidates = (
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    )
    return tuple(dict.fromkeys(candidates))


@dataclass(frozen=True, slots=True)
class _Table:
    """The secrets in force as one immutable value: what to look for and what replaces it."""

    needles: tuple[str, ...] = ()
    masks: Mapping[str, str] | None = None
    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, secrets: Iterable[str]) -> _Table:
        masks: dict[str, str] = {}
        for secret in secrets:
            for form in forms(secret):
                masks.setdefault(form, mask_key(secret))
        if not masks:
            return cls()
        # Longest first: where one secret contains another, the longer one is replaced whole.
        needles = tuple(sorted(masks, key=len, reverse=True))
        return cls(needles, masks, re.compile("|".join(map(re.escape, needles))))

    def redact(self, text: str) -> str:
        if self.pattern is None or self.masks is None:
            return text
        # A plain substring search per form is far cheaper than the pattern on a clean text.
        if not any(needle in text for needle in self.needles):
            return text
        masks = self.masks
        return self.pattern.sub(lambda match: masks[match.group()], text)


class Redactor:
    """Replaces every configured secret in a text by its masked form; safe from any thread.

    Args:
        retired_limit: most secrets kept redacted after they left the configuration.
    """

    def __init__(self, *, retired_limit: int = RETIRED_LIMIT) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, frozenset[str]] = {}
        self._retired: dict[str, None] = {}  # an insertion-ordered set, oldest first
        self._retired_limit = retired_limit
        self._table = _Table()

    def __repr__(self) -> str:
        return f"Redactor(owners={sorted(self._owners)!r}, retired={len(self._retired)})"

    def use(self, owner: str, secrets: Iterable[str]) -> None:
        """Set the secrets ``owner`` holds now (an empty list: none); dropped ones retire.

        Call it before a new secret can be used, so no text carrying it is ever unredacted.
        """
        fresh = frozenset(s.strip() for s in secrets if s.strip())
        short = sorted({len(s) for s in fresh if len(s) < MIN_REDACTED_LENGTH})
        with self._lock:
            before = self._in_force()
            if fresh:
                self._owners[owner] = fresh
            else:
                self._owners.pop(owner, None)
            after = self._in_force()
            for secret in before - after:
                self._retired.pop(secret, None)
                self._retired[secret] = None
            for secret in after:
                self._retired.pop(secret, None)
            while len(self._retired) > self._retired_limit:
                del self._retired[next(iter(self._retired))]
            redacted = after | self._retired.keys()
            self._table = _Table.of(s for s in redacted if len(s) >= MIN_REDACTED_LENGTH)
        if short:
            log.warning(
                "secret_too_short_to_redact",
                owner=owner,
                lengths=short,
                advice=f"use secrets of at least {MIN_REDACTED_LENGTH} characters",
            )

    def redact(self, text: str) -> str:
        """``text`` with every configured (or recently retired) secret replaced by its mask."""
        return self._table.redact(text)

    def _in_force(self) -> frozenset[str]:
        return frozenset().union(*self._owners.values())


def scrub(failure: UpstreamFailure, redactor: Redactor, key: str | None) -> UpstreamFailure:
    """The failure as it may be stored, logged and returned: no configured secret in it.

    A key the provider refused (invalid, revoked or without permission) gets a fixed
    message naming the key masked: what a provider says then is mostly the key itself,
    and the operator needs to know which key to replace, not the provider's prose.

    Args:
        failure: the failure as an adapter classified it.
        redactor: the gateway's redactor.
        key: the masked key the attempt used, if any.
    """
    if failure.kind is ErrorKind.INVALID_KEY:
        refused = f"key {key}" if key else "the request's credentials"
        status = f" (HTTP {failure.status})" if failure.status is not None else ""
        message = f"the provider refused {refused}{status}: invalid, revoked or not permitted"
    else:
        message = redactor.redact(failure.message)
    code = redactor.redact(failure.code) if failure.code else failure.code
    if message == failure.message and code == failure.code:
        return failure
    return dataclasses.replace(failure, message=message, code=code)


__all__ = ["MIN_REDACTED_LENGTH", "Redactor", "forms", "mask_key", "scrub"]

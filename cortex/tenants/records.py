"""A gateway key as a record: its fields, how a request's key finds it, and how it is shown.

A key's secret (``ck-`` and 43 random URL-safe characters, 256 bits) is shown once, when
the key is created or rotated; the database keeps only its SHA-256 digest. A salted slow
hash is not needed: the secret is random and long, so its digest cannot be guessed, and
looking a presented key up by digest is one dictionary read on the hot path. Lists show
the secret masked (its first 6 and last 4 characters), never more.
"""

from __future__ import annotations

import fnmatch
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from actors.redaction import mask_key

SECRET_PREFIX = "ck-"  # noqa: S105 - the prefix of generated secrets, not a secret
ID_PREFIX = "gk_"
FIELDS = ("name", "team", "models", "expires_at", "rpm", "tpm", "budget_daily", "budget_monthly")
"""The fields a client sets on create and update; everything else the store owns."""


def new_secret() -> str:
    """A fresh key secret, shown to its owner once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_id() -> str:
    """A fresh record id: not secret, safe in URLs, logs and metric labels."""
    return ID_PREFIX + secrets.token_hex(6)


def digest(secret: str) -> str:
    """The SHA-256 digest the database keeps in place of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Limits:
    """What a key may do: every limit None means unlimited.

    Attributes:
        models: the models (or routes, or ``worker/model`` pins) the key may ask for, as
            shell patterns (``gpt-4o*``); empty: any model.
        rpm: requests per minute (a sliding 60-second window).
        tpm: tokens per minute, prompt plus completion.
        budget_daily: spend per UTC calendar day, in the workers' price currency.
        budget_monthly: spend per UTC calendar month.
    """

    models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    budget_daily: float | None = None
    budget_monthly: float | None = None

    @property
    def counted(self) -> bool:
        """Whether any rate limit or budget applies (else nothing needs counting fleet-wide)."""
        return any(
            limit is not None
            for limit in (self.rpm, self.tpm, self.budget_daily, self.budget_monthly)
        )

    def allows(self, model: str | None) -> bool:
        """Whether the key may ask for ``model`` (None: the gateway's default, ``auto``)."""
        if not self.models:
            return True
        asked = model or "auto"
        return any(fnmatch.fnmatchcase(asked, pattern) for pattern in self.models)


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """One gateway key record, as the store keeps it (the secret's digest, never the secret).

    Attributes:
        id: the record's id (``gk_…``).
        masked: the secret as it may be shown.
        name: what the key is for.
        team: the owner or team label.
        limits: what the key may do.
        expires_at: when the key stops working (epoch seconds), None: never.
        created_at: when it was created (epoch seconds).
        revoked_at: when it was revoked, None while it is live.
    """

    id: str
    masked: str
    name: str
    team: str
    limits: Limits
    expires_at: float | None
    created_at: float
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        """Whether a request may use the key at ``now`` (not revoked, not expired)."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def as_json(self) -> dict[str, Any]:
        """The record as the admin API and the CLI show it (masked secret only)."""
        limits = self.limits
        return {
            "id": self.id,
            "key": self.masked,
            "name": self.name,
            "team": self.team,
            "models": list(limits.models),
            "expires_at": iso(self.expires_at),
            "rpm": limits.rpm,
            "tpm": limits.tpm,
            "budget_daily": limits.budget_daily,
            "budget_monthly": limits.budget_monthly,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
            "status": "revoked" if self.revoked_at is not None else "active",
        }


def masked(secret: str) -> str:
    """The secret as lists show it."""
    return mask_key(secret)


def iso(moment: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (``2026-01-31T00:00:00Z``), or None."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


class InvalidKeyFields(ValueError):
    """A create or update named fields wrongly; ``problems`` says how, one per field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_fields(body: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Check a create or update body and return its fields in the store's units.

    ``expires_at`` becomes epoch seconds; a field sent as null clears it (on update).

    Raises:
        InvalidKeyFields: an unknown field, a wrong type or a value out of range.
    """
    problems = [f"unknown field {name!r}" for name in body if name not in FIELDS]
    fields: dict[str, Any] = {}
    for name in FIELDS:
        if name not in body:
            continue
        value, problem = _field(name, body[name])
        if problem:
            problems.append(f"{name}: {problem}")
        fields[name] = value
    if creating and not isinstance(body.get("name"), str):
        problems.append("name: required, a string")
    if problems:
        raise InvalidKeyFields(problems)
    return fields


def _field(name: str, value: Any) -> tuple[Any, str | None]:  # noqa: ANN401, PLR0911 - JSON input, one return per field kind
    """One field's value in the store's units, or the reason it is wrong."""
    if name in {"name", "team"}:
        return (value, None) if isinstance(value, str) and len(value) <= 200 else (None, "a string")
    if value is None:
        return None, None
    if name == "models":
        ok = isinstance(value, list) and all(isinstance(m, str) and m for m in value)
        return (tuple(value), None) if ok else (None, "a list of model names or patterns")
    if name == "expires_at":
        return _instant(value)
    whole = name in {"rpm", "tpm"}
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        return None, "a whole number" if whole else "a number"
    if value <= 0:
        return None, "greater than 0 (or null: no limit)"
    return (int(value) if whole else float(value)), None


def _instant(value: Any) -> tuple[float | None, str | None]:  # noqa: ANN401 - JSON input
    """An ISO 8601 instant (UTC when it names no zone) as epoch seconds."""
    if not isinstance(value, str):
        return None, "an ISO 8601 time (2026-12-31T00:00:00Z)"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None, "an ISO 8601 time (2026-12-31T00:00:00Z)"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp(), None


def with_fields(key: GatewayKey, fields: Mapping[str, Any]) -> GatewayKey:
    """``key`` with the checked ``fields`` of an update applied."""
    changes: dict[str, Any] = {name: fields[name] for name in _LIMITS & fields.keys()}
    if "models" in changes:
        changes["models"] = changes["models"] or ()
    limits = replace(key.limits, **changes)
    return replace(
        key,
        name=fields.get("name", key.name),
        team=fields.get("team", key.team),
        expires_at=fields.get("expires_at", key.expires_at),
        limits=limits,
    )


_LIMITS = frozenset({"models", "rpm", "tpm", "budget_daily", "budget_monthly"})

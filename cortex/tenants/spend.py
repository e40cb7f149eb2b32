"""What the spend ledger says: the report by key, model, worker and day, and budgets so far."""

from __future__ import annotations

import sqlite3
from typing import Any

from cortex.tenants.counters import day_of

Json = dict[str, Any]


def spent_so_far(conn: sqlite3.Connection, now: float) -> tuple[dict[str, float], dict[str, float]]:
    """Each key's spend today and this month (UTC), from the ledger's rows.

    The windows are read from the rows' own days, so spend written before a restart counts
    for the day it happened, and yesterday's spend never counts today.
    """
    today = day_of(now)
    daily = dict(
        conn.execute(
            "SELECT key_id, SUM(cost) FROM spend WHERE day = ? GROUP BY key_id", (today,)
        ).fetchall()
    )
    monthly = dict(
        conn.execute(
            "SELECT key_id, SUM(cost) FROM spend WHERE day >= ? AND day <= ? GROUP BY key_id",
            (today[:7] + "-01", today[:7] + "-31"),
        ).fetchall()
    )
    return daily, monthly


def _totals() -> Json:
    return {"requests": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0}


def _add(into: Json, requests: int, tokens_in: int, tokens_out: int, cost: float) -> None:
    into["requests"] += requests
    into["tokens_in"] += tokens_in
    into["tokens_out"] += tokens_out
    into["cost"] = round(into["cost"] + cost, 10)


def report(
    conn: sqlite3.Connection,
    *,
    since: str | None = None,
    until: str | None = None,
    key_id: str | None = None,
) -> Json:
    """The ledger's totals by key, each broken down by model, worker and day.

    Args:
        conn: a connection to the database.
        since: the first UTC day counted (``2026-01-01``), None: from the start.
        until: the last UTC day counted, None: to today.
        key_id: only this key, None: every key.

    Returns:
        ``{"by_key": {<id>: {"name", "team", "requests", "tokens_in", "tokens_out", "cost",
        "by_model", "by_worker", "by_day"}}}``; each breakdown maps a name to the same four
        totals.
    """
    rows = conn.execute(
        "SELECT key_id, day, worker, model, COUNT(*), SUM(tokens_in), SUM(tokens_out),"
        " SUM(cost) FROM spend WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day <= ?2)"
        " AND (?3 IS NULL OR key_id = ?3) GROUP BY key_id, day, worker, model",
        (since, until, key_id),
    ).fetchall()
    labels = dict(
        (row[0], (row[1], row[2]))
        for row in conn.execute("SELECT id, name, team FROM gateway_keys").fetchall()
    )
    by_key: dict[str, Json] = {}
    for key, day, worker, model, requests, tokens_in, tokens_out, cost in rows:
        name, team = labels.get(key, ("", ""))
        entry = by_key.setdefault(
            key,
            {
                "name": name,
                "team": team,
                **_totals(),
                "by_model": {},
                "by_worker": {},
                "by_day": {},
            },
        )
        counts = (requests, tokens_in, tokens_out, cost)
        _add(entry, *counts)
        for breakdown, name_ in (("by_model", model), ("by_worker", worker), ("by_day", day)):
            _add(entry[breakdown].setdefault(name_, _totals()), *counts)
    return {"by_key": by_key}

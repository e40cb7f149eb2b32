"""The database's schema, as numbered migrations applied once each, in order.

A migration is never edited once released: a change of schema is a new row at the end.
:func:`migrate` applies the missing ones in one ``BEGIN IMMEDIATE`` transaction, so two
processes starting together on one file cannot both apply the same migration.
"""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE gateway_keys (
            id TEXT PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            masked TEXT NOT NULL,
            name TEXT NOT NULL,
            team TEXT NOT NULL DEFAULT '',
            models TEXT NOT NULL DEFAULT '[]',
            expires_at REAL,
            rpm INTEGER,
            tpm INTEGER,
            budget_daily REAL,
            budget_monthly REAL,
            created_at REAL NOT NULL,
            revoked_at REAL
        );
        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta (name, value) VALUES ('keys_version', 0);
        """,
    ),
    (
        2,
        """
        CREATE TABLE spend (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            day TEXT NOT NULL,
            key_id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            worker TEXT NOT NULL,
            model TEXT NOT NULL,
            tokens_in INTEGER NOT NULL,
            tokens_out INTEGER NOT NULL,
            cost REAL NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX spend_by_key_day ON spend (key_id, day);
        """,
    ),
    (
        3,
        """
        INSERT INTO meta (name, value) VALUES ('database_id', abs(random()));
        """,
    ),
)
"""Every migration as ``(version, SQL)``, versions counting up from 1."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest migration applied to the database, 0 for a new one."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations the database lacks; returns the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``), so the transaction
    here is the only one.

    Raises:
        RuntimeError: the database has a newer schema than this Cortex knows.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)
        known = MIGRATIONS[-1][0]
        if current > known:
            message = f"the database has schema version {current}; this Cortex knows {known}"
            raise RuntimeError(message)  # noqa: TRY301 - the rollback below must run
        applied = []
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
            applied.append(version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied

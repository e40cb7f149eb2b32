"""Gateway key records in SQLite: create, list, update, revoke, rotate, and find by secret.

The database is one file (``CORTEX_DB``) in WAL mode, so readers never wait for the
ledger's writer, and several processes on one machine may share it. Every blocking method
opens its own short-lived connection, so any thread may call it; the hot path
(:meth:`KeyStore.find`) reads an in-memory copy of the records instead.

That copy is refreshed when it may be stale: at most every :data:`FRESHNESS` seconds a
lookup asks SQLite whether any connection changed the file (``PRAGMA data_version``, no
I/O when nothing did) and, if the keys' version row moved, reloads the records. So a key
revoked by another process is refused here within :data:`FRESHNESS` seconds; a change made
through this store applies at once.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cortex.tenants.migrations import migrate
from cortex.tenants.records import (
    ID_PREFIX,
    GatewayKey,
    Limits,
    digest,
    masked,
    new_id,
    new_secret,
    read_fields,
    with_fields,
)

FRESHNESS = 0.25
"""Seconds a lookup trusts its copy of the records before asking SQLite if they changed."""
BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another process's write lock before failing."""

_COLUMNS = (
    "id, digest, masked, name, team, models, expires_at, rpm, tpm, budget_daily,"
    " budget_monthly, created_at, revoked_at"
)


_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))
_TYPES: tuple[tuple[type, ...], ...] = (
    (str,), (str,), (str,), (str,), (str,), (str,),
    (float, int, type(None)), (int, type(None)), (int, type(None)),
    (float, int, type(None)), (float, int, type(None)), (float, int), (float, int, type(None)),
)  # fmt: skip
"""Each column's types in an exported record, in :data:`_COLUMNS`'s order."""


def _imported(exported: Mapping[str, Any]) -> tuple[Any, ...]:
    """An exported record as a row, checked column by column (it came over the network).

    Raises:
        ValueError: a column is missing or of the wrong type.
    """
    row = tuple(exported.get(name) for name in _NAMES)
    for name, value, types in zip(_NAMES, row, _TYPES, strict=True):
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"column {name!r} of an exported gateway key is wrong")  # noqa: TRY004 - one error for any malformed record
    try:
        models = json.loads(str(row[5]))
    except ValueError:
        models = None
    if not str(row[0]).startswith(ID_PREFIX) or not isinstance(models, list):
        raise ValueError("an exported gateway key is not one")
    return row


class UnknownKey(LookupError):
    """No gateway key record has that id."""


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, waiting for locks up to a bound.

    ``synchronous=NORMAL`` in WAL mode: a commit survives the process being killed (it is
    in the WAL file); only a power loss may take back the last commits.
    """
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _record(row: tuple[Any, ...]) -> tuple[str, GatewayKey]:
    """A row of ``gateway_keys`` as ``(digest, record)``."""
    limits = Limits(tuple(json.loads(row[5])), row[7], row[8], row[9], row[10])
    return row[1], GatewayKey(row[0], row[2], row[3], row[4], limits, row[6], row[11], row[12])


class KeyStore:
    """The gateway key records of one database file.

    Args:
        path: the database file; created, with its schema, if missing.
        clock: wall-clock seconds (epoch), for creation and revocation times.
        monotonic: the clock that paces freshness checks.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self._monotonic = monotonic
        self._by_digest: dict[str, GatewayKey] = {}
        self._any = False
        self._reader_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._seen: tuple[int, int] = (-1, -1)
        self._checked = float("-inf")

    def open(self) -> None:
        """Create the file if needed, apply missing migrations, read the records."""
        with self.connection() as conn:
            migrate(conn)
        self._reader = connect(self.path)
        self._refresh(force=True)

    def close(self) -> None:
        """Close the hot path's connection."""
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own for one blocking operation, closed after it."""
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def find(self, secret: str) -> GatewayKey | None:
        """The record of a presented secret, if it is one (revoked and expired ones too)."""
        if self._monotonic() - self._checked >= FRESHNESS:
            self._refresh()
        return self._by_digest.get(digest(secret))

    def has_records(self) -> bool:
        """Whether any record exists (revoked too): then every client needs a key."""
        if self._monotonic() - self._checked >= FRESHNESS:
            self._refresh()
        return self._any

    def _refresh(self, *, force: bool = False) -> None:
        """Reload the records if the database's keys changed since the last look."""
        with self._reader_lock:
            conn = self._reader
            if conn is None:
                return
            self._checked = self._monotonic()
            data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            if not force and data_version == self._seen[0]:
                return
            row = conn.execute("SELECT value FROM meta WHERE name = 'keys_version'").fetchone()
            version = int(row[0])
            if force or version != self._seen[1]:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM gateway_keys").fetchall()  # noqa: S608 - constant columns
                self._by_digest = dict(_record(r) for r in rows)
                self._any = bool(rows)
            self._seen = (data_version, version)

    def database_id(self) -> str:
        """This database file's id, random at its creation: processes sharing the file
        share it, processes with files of their own never do."""
        with self.connection() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = 'database_id'").fetchone()
        return str(row[0])

    def export(self, key_id: str) -> dict[str, Any]:
        """One record as another database can take it in (digest included, never a secret).

        Raises:
            UnknownKey: no such record.
        """
        return dict(zip(_NAMES, self._row(key_id), strict=True))

    def export_all(self) -> list[dict[str, Any]]:
        """Every record, as :meth:`export` gives one."""
        with self.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM gateway_keys").fetchall()  # noqa: S608 - constant columns
        return [dict(zip(_NAMES, row, strict=True)) for row in rows]

    def apply(self, exported: Mapping[str, Any]) -> bool:
        """Take in a record another database exported; True if this one changed.

        The record replaces this database's one of the same id, except that a revocation is
        never undone: a record revoked here stays revoked. A record equal to this
        database's changes nothing (instances sharing the file all apply it).

        Raises:
            ValueError: ``exported`` is not a record.
        """
        row = _imported(exported)
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                have = conn.execute(
                    f"SELECT {_COLUMNS} FROM gateway_keys WHERE id = ?",  # noqa: S608 - constant columns
                    (row[0],),
                ).fetchone()
                if have is not None and have[-1] is not None:
                    row = (*row[:-1], have[-1])
                if have is not None and tuple(have) == row:
                    conn.execute("ROLLBACK")
                    # Another process wrote it to this file: read it now, not within FRESHNESS.
                    self._refresh()
                    return False
                conn.execute("DELETE FROM gateway_keys WHERE id = ?", (row[0],))
                conn.execute("DELETE FROM gateway_keys WHERE digest = ?", (row[1],))
                conn.execute(
                    f"INSERT INTO gateway_keys ({_COLUMNS}) VALUES ({', '.join('?' * 13)})",  # noqa: S608 - constant columns
                    row,
                )
                self._changed(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._refresh(force=True)
        return True

    def _changed(self, conn: sqlite3.Connection) -> None:
        """Bump the keys' version inside the writing transaction, for other processes."""
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'keys_version'")

    def create(self, body: Mapping[str, Any]) -> tuple[GatewayKey, str]:
        """Create a key from a checked body; returns the record and its secret (shown once).

        Raises:
            InvalidKeyFields: the body is wrong.
        """
        fields = read_fields(body, creating=True)
        secret = new_secret()
        base = GatewayKey(new_id(), masked(secret), "", "", Limits(), None, self.clock())
        key = with_fields(base, fields)
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"INSERT INTO gateway_keys ({_COLUMNS}) VALUES ({', '.join('?' * 13)})",  # noqa: S608 - constant columns
                _row(key, digest(secret)),
            )
            self._changed(conn)
            conn.execute("COMMIT")
        self._refresh(force=True)
        return key, secret

    def list(self) -> list[GatewayKey]:
        """Every record, oldest first."""
        with self.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM gateway_keys ORDER BY created_at, id"  # noqa: S608 - constant columns
            ).fetchall()
        return [_record(row)[1] for row in rows]

    def get(self, key_id: str) -> GatewayKey:
        """One record by id.

        Raises:
            UnknownKey: no such record.
        """
        return _record(self._row(key_id))[1]

    def _row(self, key_id: str) -> tuple[Any, ...]:
        """One record's row, read by id.

        Raises:
            UnknownKey: no such record.
        """
        with self.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM gateway_keys WHERE id = ?",  # noqa: S608 - constant columns
                (key_id,),
            ).fetchone()
        if row is None:
            raise UnknownKey(key_id)
        return tuple(row)

    def update(self, key_id: str, body: Mapping[str, Any]) -> GatewayKey:
        """Change the fields ``body`` names; returns the record after the change.

        Raises:
            InvalidKeyFields: the body is wrong.
            UnknownKey: no such record.
        """
        fields = read_fields(body, creating=False)
        return self._rewrite(key_id, lambda key, _: (with_fields(key, fields), None))[0]

    def revoke(self, key_id: str) -> GatewayKey:
        """Revoke a key for good (its record and spend stay); revoking twice changes nothing.

        Raises:
            UnknownKey: no such record.
        """
        now = self.clock()
        return self._rewrite(
            key_id,
            lambda key, _: (_revoked(key, now), None) if key.revoked_at is None else (key, None),
        )[0]

    def rotate(self, key_id: str) -> tuple[GatewayKey, str]:
        """Give a live key a new secret; the old one stops working at once.

        Raises:
            UnknownKey: no such record, or it is revoked.
        """
        secret = new_secret()

        def rotated(key: GatewayKey, _: str) -> tuple[GatewayKey, str]:
            if key.revoked_at is not None:
                raise UnknownKey(key_id)
            return _with_secret(key, secret), digest(secret)

        key, _ = self._rewrite(key_id, rotated)
        return key, secret

    def _rewrite(
        self,
        key_id: str,
        change: Callable[[GatewayKey, str], tuple[GatewayKey, str | None]],
    ) -> tuple[GatewayKey, str]:
        """Read a record, change it and write it back in one write transaction."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM gateway_keys WHERE id = ?",  # noqa: S608 - constant columns
                    (key_id,),
                ).fetchone()
                if row is None:
                    raise UnknownKey(key_id)  # noqa: TRY301 - the rollback below must run
                old_digest, old = _record(row)
                key, new_digest = change(old, old_digest)
                conn.execute("DELETE FROM gateway_keys WHERE id = ?", (key_id,))
                conn.execute(
                    f"INSERT INTO gateway_keys ({_COLUMNS}) VALUES ({', '.join('?' * 13)})",  # noqa: S608 - constant columns
                    _row(key, new_digest or old_digest),
                )
                self._changed(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._refresh(force=True)
        return key, new_digest or old_digest


def _row(key: GatewayKey, key_digest: str) -> tuple[Any, ...]:
    limits = key.limits
    return (
        key.id,
        key_digest,
        key.masked,
        key.name,
        key.team,
        json.dumps(list(limits.models)),
        key.expires_at,
        limits.rpm,
        limits.tpm,
        limits.budget_daily,
        limits.budget_monthly,
        key.created_at,
        key.revoked_at,
    )


def _revoked(key: GatewayKey, now: float) -> GatewayKey:
    return GatewayKey(
        key.id, key.masked, key.name, key.team, key.limits, key.expires_at, key.created_at, now
    )


def _with_secret(key: GatewayKey, secret: str) -> GatewayKey:
    return GatewayKey(
        key.id, masked(secret), key.name, key.team, key.limits, key.expires_at, key.created_at
    )

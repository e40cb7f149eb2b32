"""Who is in the fleet: each instance's identity, its heartbeat, and the list of live ones.

Every instance writes its record once a second to ``<prefix>:instance:<id>`` with a TTL of
:data:`RECORD_TTL` seconds, and its id with the time into the sorted set
``<prefix>:instances`` (an index, so listing needs no ``SCAN``). An instance is live
while its record exists: one that stops beating (crashed, partitioned, stopped) drops out
within the TTL whatever the clocks say. The index is trimmed of ids older than
:data:`INDEX_KEEP` seconds, generously, so a machine whose clock runs behind never trims
a live peer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass

import orjson

from cortex.config.settings import Settings
from cortex.fleet.wire import read_object
from cortex.observability.health import iso_time

RECORD_TTL = 5
"""Seconds an instance's record outlives its last heartbeat."""
INDEX_KEEP = 60.0
"""Seconds an id stays in the index after its last heartbeat."""
HEARTBEAT_INTERVAL = 1.0
"""Seconds between two heartbeats."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What names this process in the fleet; fixed for the life of the process.

    Attributes:
        id: random, new for every process (a restart is a new instance).
        version: the Cortex version it runs.
        host: the machine's name.
        pid: the process id.
        started_at: wall-clock time the process started its tree.
    """

    id: str
    version: str
    host: str
    pid: int
    started_at: float

    @classmethod
    def create(cls, started_at: float) -> Identity:
        """A fresh identity for this process."""
        from cortex import __version__  # noqa: PLC0415 - the package imports this module's users

        return cls(secrets.token_hex(6), __version__, socket.gethostname(), os.getpid(), started_at)


@dataclass(frozen=True, slots=True)
class Load:
    """How busy an instance is: requests in flight now, and served since it started."""

    in_flight: int
    served: int


INSTANCE_LOCAL = frozenset({"host", "port", "db"})
"""Settings that differ between instances configured alike: where each listens, and its
own database file."""


def config_version(settings: Settings) -> str:
    """A short fingerprint of the settings in force: equal on instances configured alike.

    Computed from the settings' text, which shows no secret (secret fields are left out
    of it), so two instances that differ only in a secret have the same version; the
    instance-local settings (:data:`INSTANCE_LOCAL`) are left out too.
    """
    shown = [
        (f.name, getattr(settings, f.name))
        for f in dataclasses.fields(settings)
        if f.repr and f.name not in INSTANCE_LOCAL
    ]
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:12]


def instance_record(
    identity: Identity, load: Load, version: str, listen: str, now: float
) -> dict[str, object]:
    """One instance as ``GET /api/fleet`` lists it (and as its heartbeat stores it)."""
    return {
        "id": identity.id,
        "version": identity.version,
        "host": identity.host,
        "pid": identity.pid,
        "listen": listen,
        "started": iso_time(identity.started_at),
        "uptime_seconds": round(now - identity.started_at, 1),
        "load": {"in_flight": load.in_flight, "served": load.served},
        "config_version": version,
        "heartbeat": iso_time(now),
    }


def encode(record: dict[str, object]) -> bytes:
    """A record as stored in Redis."""
    return orjson.dumps(record)


def decode(raw: object) -> dict[str, object] | None:
    """A stored record, or None for a missing or unreadable one."""
    record = read_object(raw)
    return record if record is not None and "id" in record else None

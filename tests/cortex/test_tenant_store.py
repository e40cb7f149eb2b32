"""Gateway key records: migrations, hashing and masking, field checks, freshness."""

from __future__ import annotations

import sqlite3

import pytest

from cortex.tenants.migrations import MIGRATIONS, migrate, schema_version
from cortex.tenants.records import InvalidKeyFields, Limits, digest, read_fields
from cortex.tenants.store import FRESHNESS, KeyStore, UnknownKey, connect


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_migrations_apply_once_each_in_order(tmp_path):
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)

    first = migrate(conn)
    second = migrate(conn)

    assert first == [version for version, _ in MIGRATIONS]
    assert second == []
    assert schema_version(conn) == MIGRATIONS[-1][0]


def test_a_database_newer_than_the_code_is_refused_unchanged(tmp_path):
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    migrate(conn)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 0)")

    with pytest.raises(RuntimeError, match="999"):
        migrate(conn)
    assert schema_version(conn) == 999


def test_the_database_is_in_wal_mode(tmp_path):
    KeyStore(tmp_path / "c.db").open()

    assert connect(tmp_path / "c.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_store_keeps_a_digest_and_shows_the_secret_masked(tmp_path):
    store = KeyStore(tmp_path / "c.db")
    store.open()

    key, secret = store.create({"name": "app"})
    stored = (
        connect(tmp_path / "c.db").execute("SELECT digest, masked FROM gateway_keys").fetchone()
    )

    assert stored == (digest(secret), key.masked)
    assert secret not in str(key.as_json())
    assert key.masked.startswith(secret[:6])
    assert key.masked.endswith(secret[-4:])
    assert store.find(secret) == key


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"name": "a", "rpm": 0}, "rpm"),
        ({"name": "a", "rpm": 1.5}, "rpm"),
        ({"name": "a", "tpm": True}, "tpm"),
        ({"name": "a", "budget_daily": "5"}, "budget_daily"),
        ({"name": "a", "models": "gpt-4o"}, "models"),
        ({"name": "a", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "a", "owner": "x"}, "owner"),
        ({"team": "x"}, "name"),
    ],
)
def test_wrong_fields_are_refused_naming_the_field(body, problem):
    with pytest.raises(InvalidKeyFields, match=problem):
        read_fields(body, creating=True)


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("1970-01-02T00:00:00Z", 86400.0),
        ("1970-01-02T00:00:00", 86400.0),
        ("1970-01-02T01:00:00+01:00", 86400.0),
    ],
)
def test_expiry_is_read_as_iso_8601_utc(text, epoch):
    assert read_fields({"expires_at": text}, creating=False)["expires_at"] == epoch


@pytest.mark.parametrize(
    ("models", "asked", "allowed"),
    [
        ((), "anything", True),
        (("gpt-4o*",), "gpt-4o-mini", True),
        (("gpt-4o*",), "o1", False),
        (("auto",), None, True),
        (("gpt-4o",), None, False),
        (("groq/*",), "groq/llama", True),
    ],
)
def test_the_allow_list_matches_models_routes_and_patterns(models, asked, allowed):
    assert Limits(models=models).allows(asked) is allowed


def test_update_changes_only_the_named_fields_and_null_clears(tmp_path):
    store = KeyStore(tmp_path / "c.db")
    store.open()
    key, _ = store.create({"name": "app", "rpm": 5, "tpm": 100, "models": ["a"]})

    updated = store.update(key.id, {"tpm": None, "models": None, "team": "t"})

    assert (updated.limits.rpm, updated.limits.tpm, updated.limits.models) == (5, None, ())
    assert updated.team == "t"
    assert updated.name == "app"


def test_a_revoked_or_rotated_out_secret_is_no_longer_usable(tmp_path):
    store = KeyStore(tmp_path / "c.db", clock=Clock())
    store.open()
    key, first = store.create({"name": "app"})
    _, second = store.rotate(key.id)
    store.revoke(key.id)

    assert store.find(first) is None
    found = store.find(second)
    assert found is not None
    assert not found.usable(1_000.0)
    with pytest.raises(UnknownKey):
        store.rotate(key.id)


def test_another_store_on_the_same_file_sees_a_revocation_after_its_freshness_interval(tmp_path):
    ticks = Clock(0.0)
    here, there = KeyStore(tmp_path / "c.db"), KeyStore(tmp_path / "c.db", monotonic=ticks)
    here.open()
    key, secret = here.create({"name": "app"})
    there.open()
    assert there.find(secret) is not None

    here.revoke(key.id)
    stale = there.find(secret)
    ticks.now += FRESHNESS
    fresh = there.find(secret)

    assert stale is not None
    assert stale.revoked_at is None
    assert fresh is not None
    assert fresh.revoked_at is not None


def two_databases(tmp_path):
    here, there = KeyStore(tmp_path / "here.db"), KeyStore(tmp_path / "there.db")
    here.open()
    there.open()
    return here, there


def test_a_record_exported_from_one_database_works_in_another(tmp_path):
    here, there = two_databases(tmp_path)
    key, secret = here.create({"name": "app", "rpm": 5})

    changed = there.apply(here.export(key.id))
    again = there.apply(here.export(key.id))

    assert changed
    assert not again
    found = there.find(secret)
    assert found is not None
    assert found.limits.rpm == 5


def test_a_rotation_taken_in_replaces_the_old_secret(tmp_path):
    here, there = two_databases(tmp_path)
    key, old = here.create({"name": "app"})
    there.apply(here.export(key.id))
    _, new = here.rotate(key.id)

    there.apply(here.export(key.id))

    assert there.find(old) is None
    assert there.find(new) is not None


def test_a_revocation_is_never_undone_by_a_record_from_elsewhere(tmp_path):
    here, there = two_databases(tmp_path)
    key, secret = here.create({"name": "app"})
    live = here.export(key.id)
    there.apply(live)
    there.revoke(key.id)

    there.apply({**live, "rpm": 9})

    found = there.find(secret)
    assert found is not None
    assert found.revoked_at is not None
    assert found.limits.rpm == 9


@pytest.mark.parametrize(
    "damage",
    [{"id": "not-a-key"}, {"digest": 7}, {"models": "gpt"}, {"rpm": "5"}, {"created_at": None}],
)
def test_a_malformed_record_from_elsewhere_is_refused(tmp_path, damage):
    here, there = two_databases(tmp_path)
    key, _ = here.create({"name": "app"})

    with pytest.raises(ValueError, match="gateway key"):
        there.apply({**here.export(key.id), **damage})
    assert there.list() == []


def test_each_database_file_has_an_id_of_its_own_shared_by_its_stores(tmp_path):
    here, there = two_databases(tmp_path)
    again = KeyStore(tmp_path / "here.db")
    again.open()

    assert here.database_id() == again.database_id() != there.database_id()

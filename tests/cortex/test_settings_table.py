"""The settings table drives the loader, the defaults, --help and reload's live split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.breaker import BreakerSettings
from cortex.cache.terms import CacheSettings
from cortex.config.settings import ConfigError, Settings, load_settings
from cortex.config.table import SETTINGS, Kind, Setting, file_keys, help_lines, live_fields
from cortex.ops.reload import LIVE_FIELDS

SCALARS = [row for row in SETTINGS if row.kind is not Kind.STRUCTURE]
IN_FILE = [row for row in SCALARS if row.key is not None]
SAMPLE: dict[Kind, tuple[str, Any]] = {
    Kind.TEXT: ("debug", "debug"),
    Kind.SECRET: ("tok-123", "tok-123"),
    Kind.NUMBER: ("0.25", 0.25),
    Kind.INTEGER: ("7", 7),
    Kind.FLAG: ("1", True),
    Kind.PORT: ("4321", 4321),
    Kind.KEYS: ("a,b,a", ("a", "b")),
    Kind.ORIGINS: (
        "https://a.example,HTTP://B.example:80/",
        ("https://a.example", "http://b.example"),
    ),
}


def value_of(settings: Settings, row: Setting) -> Any:
    """The field a row sets, following ``group.attr``."""
    value: Any = settings
    for part in row.field.split("."):
        value = getattr(value, part)
    return value


def sample(row: Setting) -> tuple[str, Any]:
    """A valid raw value of ``row`` and the value it loads as."""
    if row.kind is Kind.CHOICE:
        assert row.choices is not None
        member = list(row.choices)[-1]
        return member.value, member
    if row.env == "CORTEX_REDIS_URL":  # a secret that must be a Redis URL
        return "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"
    raw, expected = SAMPLE[row.kind]
    if row.kind is Kind.NUMBER and row.whole:
        return "3", 3
    if row.kind is Kind.TEXT and row.one_of:
        return row.one_of[-1], row.one_of[-1]
    return raw, expected * row.scale if row.scale != 1 else expected


def with_rests_allowed(row: Setting, environ: dict[str, str]) -> dict[str, str]:
    """Key rests must stay within CORTEX_MAX_KEY_REST: keep the other side out of the way.

    Likewise several server processes need the shared store: name one for CORTEX_WORKERS.
    """
    if row.env == "CORTEX_WORKERS":
        return {"CORTEX_REDIS_URL": "redis://127.0.0.1:6379/0", **environ}
    if row.env == "CORTEX_MAX_KEY_REST":
        return {"RATE_LIMIT_BLOCK_MINUTES": "0.001", "QUOTA_BLOCK_MINUTES": "0.001", **environ}
    return {"CORTEX_MAX_KEY_REST": "1000000", **environ} if row.scale != 1 else environ


def test_the_defaults_of_settings_are_the_tables_defaults() -> None:
    defaults = Settings()

    for row in SCALARS:
        assert value_of(defaults, row) == row.default, row.field
    assert defaults.breaker == BreakerSettings()
    assert defaults.cache == CacheSettings()


def test_loading_nothing_gives_the_default_settings() -> None:
    assert load_settings(environ={}) == Settings()


@pytest.mark.parametrize("row", SCALARS, ids=lambda row: row.env)
def test_each_setting_is_read_from_its_environment_variable(row: Setting) -> None:
    raw, expected = sample(row)

    settings = load_settings(environ=with_rests_allowed(row, {row.env: raw}))

    assert value_of(settings, row) == expected


@pytest.mark.parametrize("row", IN_FILE, ids=lambda row: f"{row.section}.{row.key}")
def test_each_setting_is_read_from_its_config_file_key(row: Setting, tmp_path: Path) -> None:
    raw, expected = sample(row)
    literal = raw if row.kind in (Kind.NUMBER, Kind.INTEGER, Kind.PORT) else f'"{raw}"'
    if row.kind is Kind.FLAG:
        literal = "true"
    config = tmp_path / "cortex.toml"
    config.write_text(f"[{row.section}]\n{row.key} = {literal}\n")

    settings = load_settings(environ=with_rests_allowed(row, {}), config_file=config)

    assert value_of(settings, row) == expected


@pytest.mark.parametrize(
    "row", [r for r in SCALARS if r.kind in (Kind.NUMBER, Kind.INTEGER)], ids=lambda r: r.env
)
def test_a_negative_number_is_a_problem_that_names_the_variable(row: Setting) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ={row.env: "-5"})

    assert any(problem.startswith(f"{row.env} must be") for problem in error.value.problems)


@pytest.mark.parametrize("section", ["server", "cache"])
def test_a_key_the_table_does_not_declare_is_unknown(section: str, tmp_path: Path) -> None:
    config = tmp_path / "cortex.toml"
    config.write_text(f"[{section}]\nnot_a_setting = 1\n")

    with pytest.raises(ConfigError) as error:
        load_settings(environ={}, config_file=config)

    assert error.value.problems == [f"config file [{section}]: unknown key 'not_a_setting'"]
    assert "not_a_setting" not in file_keys(section)


def test_reload_applies_live_exactly_the_settings_the_table_marks_live() -> None:
    assert live_fields() == LIVE_FIELDS
    assert {
        "workers",
        "strategy",
        "routes",
        "content_rules",
        "key_rotation",
        "admin_token",
        "api_keys",
        "protect_monitoring",
        "cors_origins",
        "fault_drills",
        "max_messages",
        "max_connections_per_client",
    } == LIVE_FIELDS


def test_every_environment_variable_is_declared_once() -> None:
    names = [row.env for row in SETTINGS]
    keys = [(row.section, row.key) for row in SETTINGS if row.key]

    assert len(names) == len(set(names))
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("env", "shown"),
    [
        ("RATE_LIMIT_BLOCK_MINUTES", "(15)"),
        ("CORTEX_PORT", "(4000)"),
        ("CORTEX_CONTINUATION", "(1)"),
        ("CORTEX_CACHE_SHARED", "(0)"),
        ("CORTEX_STRATEGY", "(priority) [live]"),
        ("CORTEX_ADMIN_TOKEN", "off [live]"),
        ("CORTEX_CORS_ORIGINS", "off [live]"),
    ],
)
def test_help_shows_a_settings_default_in_the_unit_it_is_given_in(env: str, shown: str) -> None:
    lines = help_lines().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {env} "))
    rest = lines[start + 1 :]
    more = next((i for i, line in enumerate(rest) if not line.startswith("   ")), len(rest))
    entry = [lines[start], *rest[:more]]

    assert " ".join(line.strip() for line in entry).endswith(shown)

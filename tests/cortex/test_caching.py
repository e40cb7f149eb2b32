"""The cache's pure rules and settings: the key, the policy, the client's controls."""

from __future__ import annotations

import dataclasses

import pytest

from actors.planning import RoutingStrategy
from actors.providers.base import ChatRequest, Message
from cortex.caching import CacheControls, CacheSettings, cache_key, read_controls
from cortex.errors import BadRequest
from cortex.schemas import parse_chat
from cortex.settings import ConfigError, load_settings

BASE = ChatRequest(
    messages=(Message("system", "Be brief."), Message("user", "Hi")),
    model="gpt-4o-mini",
    temperature=0.0,
)


def key(request: ChatRequest = BASE, strategy: RoutingStrategy | None = None) -> str:
    return cache_key(request, strategy)


def test_the_key_is_a_stable_hex_digest():
    assert key() == key(dataclasses.replace(BASE))
    assert len(key()) == 64
    assert int(key(), 16) >= 0


def test_json_formatting_and_content_parts_do_not_change_the_key():
    as_string = {"messages": [{"role": "user", "content": "Hello there"}], "temperature": 0}
    as_parts = {
        "temperature": 0.0,
        "messages": [
            {
                "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}],
                "role": "user",
            }
        ],
    }
    one = parse_chat(as_string, default_stream=False).request
    two = parse_chat(as_parts, default_stream=False).request
    assert cache_key(one, None) == cache_key(two, None)


def test_an_absent_model_and_auto_share_a_key():
    assert key(dataclasses.replace(BASE, model=None)) == key(
        dataclasses.replace(BASE, model="auto")
    )


@pytest.mark.parametrize(
    "change",
    [
        {"messages": (Message("system", "Be brief."), Message("user", "Hi!"))},
        {"messages": (Message("user", "Be brief."), Message("user", "Hi"))},
        {"messages": (Message("user", "Hi"),)},
        {"model": "primary/gpt-4o-mini"},
        {"model": None},
        {"temperature": 0.5},
        {"temperature": None},
        {"top_p": 0.9},
        {"max_tokens": 16},
        {"stop": ("\n",)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_everything_that_determines_the_answer_changes_the_key(change):
    assert key(dataclasses.replace(BASE, **change)) != key()


def test_the_routing_strategy_changes_the_key():
    assert key(strategy=RoutingStrategy.LOCAL_FIRST) != key()


def test_message_boundaries_are_part_of_the_key():
    split = dataclasses.replace(BASE, messages=(Message("user", "ab"), Message("user", "c")))
    moved = dataclasses.replace(BASE, messages=(Message("user", "a"), Message("user", "bc")))
    assert key(split) != key(moved)


def test_a_lone_surrogate_in_a_prompt_still_makes_a_key():
    odd = dataclasses.replace(BASE, messages=(Message("user", "\ud800"),))
    assert key(odd) != key()


def test_only_a_zero_temperature_is_cached_by_default():
    settings = CacheSettings()
    assert settings.caches(BASE)
    assert not settings.caches(dataclasses.replace(BASE, temperature=0.7))
    assert not settings.caches(dataclasses.replace(BASE, temperature=None))


def test_nondeterministic_requests_are_cached_when_configured():
    settings = CacheSettings(nondeterministic=True)
    assert settings.caches(dataclasses.replace(BASE, temperature=1.2))
    assert settings.caches(dataclasses.replace(BASE, temperature=None))


def test_nothing_is_cached_when_the_cache_is_off():
    assert not CacheSettings(enabled=False).caches(BASE)


def test_the_settings_give_the_store_its_limits():
    limits = CacheSettings(ttl=9.0, max_entries=3, max_bytes=99).limits
    assert (limits.ttl, limits.max_entries, limits.max_bytes) == (9.0, 3, 99)


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("", {}, CacheControls(lookup=True, store=True)),
        ("no-cache", {}, CacheControls(lookup=False, store=True)),
        ("no-store", {}, CacheControls(lookup=True, store=False)),
        ("No-Cache, NO-STORE", {}, CacheControls(lookup=False, store=False)),
        ("max-age=0, no-store", {}, CacheControls(lookup=True, store=False)),
        ("", {"cache": False}, CacheControls(lookup=False, store=False)),
        ("", {"cache": True}, CacheControls(lookup=True, store=True)),
        ("no-cache", {"cache": True}, CacheControls(lookup=False, store=True)),
    ],
)
def test_cache_control_and_the_body_field_set_the_controls(header, body, expected):
    headers = {"Cache-Control": header} if header else {}
    assert read_controls(headers, body) == expected


def test_opting_out_of_both_lookup_and_store_is_a_bypass():
    assert CacheControls(lookup=False, store=False).bypass
    assert not CacheControls(lookup=False, store=True).bypass


@pytest.mark.parametrize("value", ["no", 0, [], {}])
def test_a_cache_field_that_is_not_a_boolean_is_a_bad_request(value):
    with pytest.raises(BadRequest, match="'cache' must be of type boolean"):
        read_controls({}, {"cache": value})


def test_the_cache_is_on_by_default_with_its_documented_bounds():
    assert load_settings(environ={}).cache == CacheSettings()


def test_the_environment_configures_the_cache():
    env = {
        "CORTEX_CACHE_ENABLED": "off",
        "CORTEX_CACHE_TTL": "42.5",
        "CORTEX_CACHE_MAX_ENTRIES": "7",
        "CORTEX_CACHE_MAX_BYTES": "4096",
        "CORTEX_CACHE_NONDETERMINISTIC": "yes",
        "CORTEX_CACHE_COALESCE": "0",
    }
    assert load_settings(environ=env).cache == CacheSettings(
        enabled=False,
        ttl=42.5,
        max_entries=7,
        max_bytes=4096,
        nondeterministic=True,
        coalesce=False,
    )


def test_the_config_files_cache_table_is_read_and_the_environment_wins(tmp_path):
    config = tmp_path / "cortex.toml"
    config.write_text("[cache]\nenabled = true\nttl = 60\nmax_entries = 5\ncoalesce = false\n")
    settings = load_settings(environ={"CORTEX_CACHE_TTL": "9"}, config_file=config)
    assert settings.cache == CacheSettings(ttl=9.0, max_entries=5, coalesce=False)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CORTEX_CACHE_TTL", "0"),
        ("CORTEX_CACHE_TTL", "soon"),
        ("CORTEX_CACHE_MAX_ENTRIES", "-1"),
        ("CORTEX_CACHE_MAX_BYTES", "lots"),
        ("CORTEX_CACHE_ENABLED", "maybe"),
    ],
)
def test_an_invalid_cache_setting_is_a_config_error_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})

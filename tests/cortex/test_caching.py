"""The cache's pure rules and settings: the key, the policy, the client's controls."""

from __future__ import annotations

import dataclasses

import pytest

from actors.planning import Route, RoutingStrategy
from cortex.cache.terms import (
    CacheControls,
    CacheSettings,
    CacheTerms,
    cache_key,
    read_controls,
    read_terms,
)
from cortex.chat import ChatRequest, Message
from cortex.config.settings import ConfigError, load_settings
from cortex.errors import BadRequest
from cortex.http.schemas import parse_chat

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


def test_the_routing_strategy_changes_the_key_of_an_auto_request():
    auto = dataclasses.replace(BASE, model="auto")
    assert key(auto, RoutingStrategy.LOCAL_FIRST) != key(auto, RoutingStrategy.PRIORITY)


def test_the_routing_strategy_does_not_change_the_key_of_a_named_model():
    assert key(strategy=RoutingStrategy.LOCAL_FIRST) == key(strategy=RoutingStrategy.PRIORITY)


SMART = Route("smart", (("primary", "gpt-4o-mini"), ("backup", "llama-3.1-8b")))


def routed(name: str, routes: dict[str, Route]) -> str:
    return cache_key(dataclasses.replace(BASE, model=name), None, routes=routes)


def test_a_route_is_keyed_by_the_targets_it_resolves_to():
    same_chain = dataclasses.replace(SMART, name="clever")
    assert routed("smart", {"smart": SMART}) == routed("clever", {"clever": same_chain})


def test_pointing_a_route_elsewhere_changes_its_key():
    moved = dataclasses.replace(SMART, targets=(("backup", "llama-3.1-8b"),))
    assert routed("smart", {"smart": SMART}) != routed("smart", {"smart": moved})


def test_a_routes_fallbacks_are_part_of_its_key():
    with_fallback = dataclasses.replace(
        SMART, fallbacks={"context_length_exceeded": ("backup", "llama-3.1-70b")}
    )
    assert routed("smart", {"smart": SMART}) != routed("smart", {"smart": with_fallback})


def test_a_route_takes_precedence_over_a_model_of_the_same_name():
    assert routed("smart", {"smart": SMART}) != routed("smart", {})


def pinned(pin: str | None, model: str | None) -> str:
    return cache_key(dataclasses.replace(BASE, pin=pin, model=model), None, routes={"smart": SMART})


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        pytest.param(("primary", None), ("primary", "auto"), True, id="default model either way"),
        pytest.param(("primary", "a"), ("backup", "a"), False, id="the worker is keyed"),
        pytest.param(("primary", "a"), ("primary", "b"), False, id="the model is keyed"),
        pytest.param(("primary", None), (None, None), False, id="a pin is not auto"),
        pytest.param(("primary", "a"), (None, "a"), False, id="a pin is not the bare model"),
        pytest.param(("primary", "smart"), (None, "smart"), False, id="a pin is not the route"),
    ],
)
def test_a_pin_is_keyed_by_its_worker_and_model(
    one: tuple[str | None, str | None], other: tuple[str | None, str | None], same: bool
) -> None:
    assert (pinned(*one) == pinned(*other)) is same


TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]


@pytest.mark.parametrize(
    "extras",
    [
        {"tools": TOOLS},
        {"tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
    ],
    ids=lambda extras: next(iter(extras)),
)
def test_tools_and_the_response_format_change_the_key(extras):
    assert cache_key(BASE, None, extras=extras) != key()


def body_of(extra: dict[str, object]) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": "Hi"}], "temperature": 0, **extra}


def terms_of(body: dict[str, object], headers: dict[str, str] | None = None) -> CacheTerms:
    call = parse_chat(body, default_stream=False)
    return read_terms(call, headers or {}, body, routes={}, default_strategy=None)


def test_the_terms_key_the_answer_fields_of_the_body_whatever_their_order():
    one = body_of({"tools": TOOLS, "response_format": {"type": "json_object", "strict": True}})
    two = body_of({"response_format": {"strict": True, "type": "json_object"}, "tools": TOOLS})
    assert terms_of(one).key == terms_of(two).key != terms_of(body_of({})).key


def test_an_answer_field_sent_as_null_is_the_same_as_absent():
    assert terms_of(body_of({"tools": None})).key == terms_of(body_of({})).key


def test_fields_that_do_not_decide_the_answer_leave_the_key_alone():
    assert terms_of(body_of({"user": "alice", "stream": True})).key == terms_of(body_of({})).key


def test_the_configured_strategy_stands_in_when_the_call_names_none():
    body = body_of({"model": "auto"})
    call = parse_chat(body, default_stream=False)
    configured = read_terms(call, {}, body, routes={}, default_strategy=RoutingStrategy.RANDOM)
    explicit = terms_of(body_of({"model": "auto", "strategy": "random"}))
    assert configured.key == explicit.key != terms_of(body).key


def test_the_terms_carry_the_clients_controls():
    terms = terms_of(body_of({"cache": False}), {"Cache-Control": "no-store"})
    assert terms.controls == CacheControls(lookup=False, store=False)


def test_an_answer_field_nested_too_deeply_to_key_is_a_bad_request():
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(BadRequest, match="nested too deeply"):
        cache_key(BASE, None, extras={"tools": deep})


def test_message_boundaries_are_part_of_the_key():
    split = dataclasses.replace(BASE, messages=(Message("user", "ab"), Message("user", "c")))
    moved = dataclasses.replace(BASE, messages=(Message("user", "a"), Message("user", "bc")))
    assert key(split) != key(moved)


def test_a_lone_surrogate_in_a_prompt_still_makes_a_key():
    odd = dataclasses.replace(BASE, messages=(Message("user", "\ud800"),))
    assert key(odd) != key()


def test_each_partition_has_its_own_key_and_none_is_the_shared_one():
    alice, bob = cache_key(BASE, None, partition="kalice"), cache_key(BASE, None, partition="kbob")
    assert len({alice, bob, key()}) == 3
    assert cache_key(BASE, None, partition=None) == key()


def test_the_read_terms_key_follows_the_partition():
    call = parse_chat({"messages": [{"role": "user", "content": "x"}]}, default_stream=False)

    def terms(partition):
        return read_terms(call, {}, {}, routes={}, default_strategy=None, partition=partition)

    assert terms("ka").key != terms("kb").key
    assert terms("ka").key == terms("ka").key


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
        "CORTEX_CACHE_SHARED": "1",
    }
    assert load_settings(environ=env).cache == CacheSettings(
        enabled=False,
        ttl=42.5,
        max_entries=7,
        max_bytes=4096,
        nondeterministic=True,
        coalesce=False,
        shared=True,
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

"""CORS decisions, table-driven: origins as configured, allowed and exposed headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from cortex.config.reader import browser_origin
from cortex.config.settings import ConfigError, load_settings
from cortex.http.cors import (
    EXPOSED_HEADERS,
    allowed_headers,
    allowed_origin,
    covered,
    exposed_headers,
)


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("*", "*"),
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.com:443/", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("tauri://localhost", "tauri://localhost"),
        ("https://app.example.com/chat", None),
        ("https://app.example.com?x=1", None),
        ("https://app.example.com#top", None),
        ("https://user@app.example.com", None),
        ("https://app.example.com:99999", None),
        ("app.example.com", None),
        ("null", None),
    ],
)
def test_a_configured_origin_is_kept_as_a_browser_sends_it(text, origin):
    assert browser_origin(text) == origin


@pytest.mark.parametrize(
    ("origin", "configured", "allowed"),
    [
        ("https://a.example", ("https://a.example", "https://b.example"), "https://a.example"),
        ("https://B.example", ("https://a.example", "https://b.example"), "https://B.example"),
        ("https://c.example", ("https://a.example",), None),
        ("https://a.example:8443", ("https://a.example",), None),
        ("http://a.example", ("https://a.example",), None),
        ("https://c.example", ("*",), "*"),
        ("", ("*",), None),
        ("https://a.example", (), None),
    ],
)
def test_only_a_listed_origin_or_star_is_allowed(origin, configured, allowed):
    assert allowed_origin(origin, configured) == allowed


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [
        ("Authorization, Content-Type", ["authorization", "content-type"]),
        ("x-stainless-os,x-stainless-lang, openai-organization", None),
        ("x-api-key, anthropic-version, anthropic-beta", None),
        ("anthropic-dangerous-direct-browser-access", None),
        ("x-cortex-strategy, x-cortex-timeout, x-request-id", None),
        ("accept, user-agent, idempotency-key, cache-control", None),
        ("content-type, cookie, x-evil", ["content-type"]),
        ("", []),
    ],
)
def test_the_headers_the_sdks_send_are_allowed_and_no_others(requested, allowed):
    expected = allowed if allowed is not None else [h.strip() for h in requested.split(",")]
    assert allowed_headers(requested) == expected


def test_a_responses_own_rate_limit_and_cortex_headers_are_exposed_too():
    response = web.Response(
        headers={"x-ratelimit-remaining-requests": "9", "X-Cortex-Other": "1", "Server": "x"}
    )

    assert exposed_headers(response) == [
        *EXPOSED_HEADERS,
        "x-ratelimit-remaining-requests",
        "X-Cortex-Other",
    ]


@pytest.mark.parametrize(
    ("path", "is_covered"),
    [
        ("/v1/chat/completions", True),
        ("/v1/anything", True),
        ("/api/health", True),
        ("/dashboard", True),
        ("/administrator", True),
        ("/admin", False),
        ("/admin/reload", False),
    ],
)
def test_cors_covers_every_path_but_the_admin_api(path, is_covered):
    assert covered(path) is is_covered


def test_origins_are_read_from_a_config_file_list(tmp_path: Path):
    config = tmp_path / "cortex.toml"
    config.write_text('[server]\ncors_origins = ["https://a.example/", "https://a.example"]\n')

    assert load_settings(environ={}, config_file=config).cors_origins == ("https://a.example",)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://a.example/app", "'https://a.example/app' is not an origin"),
        ("*,https://a.example", "* already allows every origin; give it alone"),
    ],
)
def test_a_bad_origin_is_a_problem_naming_the_variable(value, problem):
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"CORTEX_CORS_ORIGINS": value})

    assert any(p.startswith("CORTEX_CORS_ORIGINS") and problem in p for p in error.value.problems)


def test_a_file_value_that_is_not_a_list_of_strings_is_a_problem(tmp_path: Path):
    config = tmp_path / "cortex.toml"
    config.write_text("[server]\ncors_origins = [1]\n")

    with pytest.raises(ConfigError) as error:
        load_settings(environ={}, config_file=config)

    assert "must be a list of origins" in error.value.problems[0]

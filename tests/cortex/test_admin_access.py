"""Pure pieces of access control and limits: which paths need a key, key checks, counters."""

from __future__ import annotations

import dataclasses

import pytest
from structlog.testing import capture_logs

from cortex.config.settings import Settings
from cortex.http.access import is_loopback, needs_gateway_key, warn_if_exposed
from cortex.http.credentials import key_accepted, token_matches
from cortex.http.endpoints import ENDPOINTS
from cortex.http.limits import InFlight
from cortex.http.openapi import document


@pytest.mark.parametrize(
    ("path", "protect", "needed"),
    [
        ("/v1/chat/completions", False, True),
        ("/v1/models", False, True),
        ("/api/chat", False, True),
        ("/api/stats", False, False),
        ("/api/stats", True, True),
        ("/metrics", True, True),
        ("/healthz", True, False),
        ("/openapi.json", True, False),
    ],
)
def test_which_paths_need_a_gateway_key(path, protect, needed):
    assert needs_gateway_key(path, protect_monitoring=protect) is needed


def test_a_key_is_accepted_wherever_it_is_in_the_list():
    assert key_accepted("b", ["a", "b", "c"])
    assert not key_accepted("d", ["a", "b", "c"])
    assert not key_accepted("", ["a"])


def test_admin_tokens_must_match_exactly():
    assert token_matches("secret", "secret")
    assert not token_matches("secret ", "secret")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses_are_recognised(host, loopback):
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_without_client_keys_warns_loudly():
    with capture_logs() as logs:
        warned = warn_if_exposed(dataclasses.replace(Settings(), host="0.0.0.0"))

    assert warned
    assert logs[0]["event"] == "exposed_without_client_keys"
    assert logs[0]["log_level"] == "warning"


def test_client_keys_or_loopback_silence_the_warning():
    keyed = dataclasses.replace(Settings(), host="0.0.0.0", api_keys=("k",))

    assert not warn_if_exposed(keyed)
    assert not warn_if_exposed(Settings())


def test_in_flight_counts_refuse_past_the_limit_and_forget_idle_clients():
    counts = InFlight()

    assert counts.enter("a", 2)
    assert counts.enter("a", 2)
    assert not counts.enter("a", 2)
    assert counts.enter("b", 2)
    counts.leave("a")
    counts.leave("a")

    assert counts.count("a") == 0
    assert counts.enter("a", 2)


def test_the_openapi_document_lists_every_endpoint_and_is_built_fresh():
    first = document(ENDPOINTS)
    first["paths"].clear()

    paths = document(ENDPOINTS)["paths"]

    assert first["paths"] == {}
    assert {"/v1/chat/completions", "/api/chat", "/admin/actors", "/admin/reload"} <= set(paths)
    assert document(ENDPOINTS)["openapi"].startswith("3.0")

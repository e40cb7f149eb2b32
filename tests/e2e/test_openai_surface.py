"""The rest of OpenAI's surface a client probes: model lookup, and endpoints Cortex lacks.

One daemon (two simulated upstreams and a route) serves the module; the openai SDK and raw
requests are its clients.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
import requests
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, CortexProcess, providers_json, running

from cortex.http.endpoints import ENDPOINTS, Access
from cortex.simulated import SimulatedOpenAI

ROUTES = {"smart": ["backup/llama-3.1-8b-instant", "primary/gpt-4o-mini"]}
CLIENT_ENDPOINTS = [f"{e.method} {e.path}" for e in ENDPOINTS if e.access is Access.CLIENT]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CortexProcess]:
    with (
        SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as primary,
        SimulatedOpenAI(
            "backup", keys=BACKUP_KEYS, models=("llama-3.1-8b-instant",), chunk_delay=0.0
        ) as backup,
    ):
        env = {
            "CORTEX_PROVIDERS": providers_json(primary, backup),
            "CORTEX_ROUTES": json.dumps(ROUTES),
        }
        with running(env, tmp_path_factory.mktemp("surface") / "cortex.log") as process:
            yield process


@pytest.fixture(scope="module")
def client(daemon: CortexProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=daemon.url + "/v1", api_key="unused", max_retries=0, timeout=20
    ) as sdk:
        yield sdk


@pytest.mark.parametrize(
    ("model", "owner"),
    [
        ("auto", "cortex"),
        ("smart", "cortex"),
        ("gpt-4o-mini", "primary"),
        ("llama-3.1-8b-instant", "backup"),
        ("backup/llama-3.1-8b-instant", "backup"),
        ("primary/gpt-4o-mini", "primary"),
    ],
)
def test_the_sdk_retrieves_auto_a_route_a_model_and_a_pin(client, model, owner):
    found = client.models.retrieve(model)

    assert (found.id, found.object, found.owned_by) == (model, "model", owner)
    assert isinstance(found.created, int)


def test_a_pin_is_found_at_its_plain_path_with_the_slash_unencoded(daemon):
    response = daemon.get("/v1/models/backup/llama-3.1-8b-instant")

    assert response.status_code == 200
    assert response.json() == {
        "id": "backup/llama-3.1-8b-instant",
        "object": "model",
        "created": 0,
        "owned_by": "backup",
    }


def test_every_listed_model_is_retrievable_and_the_list_offers_the_route(client):
    listed = {model.id: model.owned_by for model in client.models.list()}

    assert listed["smart"] == "cortex"
    assert {mid: client.models.retrieve(mid).owned_by for mid in listed} == listed


@pytest.mark.parametrize("model", ["no-such-model", "backup/gpt-4o-mini", "ghost/gpt-4o-mini"])
def test_an_unknown_model_is_a_404_in_openais_error_shape(client, daemon, model):
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve(model)

    raw = daemon.get(f"/v1/models/{model}")
    assert caught.value.body["code"] == "model_not_found"
    assert raw.status_code == 404
    error = raw.json()["error"]
    assert set(error) == {"message", "type", "code"}
    assert error["code"] == "model_not_found"
    assert repr(model) in error["message"]


def test_the_sdks_legacy_completions_call_is_told_the_endpoint_is_not_supported(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="auto", prompt="Hello")

    message = caught.value.body["message"]
    assert caught.value.body["code"] == "unsupported_endpoint"
    assert "POST /v1/completions is not supported by Cortex" in message
    assert all(endpoint in message for endpoint in CLIENT_ENDPOINTS)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/completions"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/audio/speech"),
        ("POST", "/v1/audio/transcriptions"),
        ("POST", "/v1/images/generations"),
        ("GET", "/v1/files"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/fine_tuning/jobs"),
        ("POST", "/v1/moderations"),
        ("DELETE", "/v1/anything/else"),
    ],
)
def test_an_endpoint_cortex_does_not_serve_is_a_404_listing_what_it_serves(daemon, method, path):
    response = requests.request(method, daemon.url + path, json={}, timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "unsupported_endpoint")
    assert f"{method} {path} is not supported by Cortex" in error["message"]
    assert all(endpoint in error["message"] for endpoint in CLIENT_ENDPOINTS)


def test_a_path_outside_v1_is_a_404_that_lists_the_client_endpoints_too(daemon):
    response = daemon.get("/chat/completions")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "POST /v1/chat/completions" in error["message"]


def test_a_wrong_method_on_a_served_path_is_a_json_405_with_allow(daemon):
    response = daemon.get("/v1/chat/completions")

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    error = response.json()["error"]
    assert error["code"] == "method_not_allowed"
    assert error["message"] == "GET is not allowed on /v1/chat/completions; use POST"


def test_the_api_description_lists_every_endpoint_with_model_lookup(daemon):
    paths = daemon.get("/openapi.json").json()["paths"]

    assert {(e.path, e.method.lower()) for e in ENDPOINTS} <= {
        (path, method) for path, operations in paths.items() for method in operations
    }
    lookup = paths["/v1/models/{model}"]["get"]
    assert {"404", "200"} <= set(lookup["responses"])
    assert lookup["parameters"][0]["name"] == "model"

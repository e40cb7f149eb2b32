"""Bad input always gets a clear 4xx JSON error from the real daemon: never a 500 or a hang."""

from __future__ import annotations

import pytest
import requests
from daemon_harness import CortexProcess, providers_json

from cortex.simulated import SimulatedOpenAI

GOOD = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with SimulatedOpenAI(
        "primary", keys=("sk-primary-key-one-000001", "sk-primary-key-two-000002")
    ) as primary:
        process = CortexProcess(
            {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_MAX_BODY_BYTES": "4096"},
            tmp_path_factory.mktemp("bad-input") / "cortex.log",
        ).wait_ready()
        yield process
        process.stop()


BAD_BODIES = [
    pytest.param(b"{not json", 400, "invalid_json", id="malformed-json"),
    pytest.param(b"[1, 2]", 400, "invalid_json", id="json-array"),
    pytest.param(b"\xff\xfe", 400, "invalid_json", id="not-utf8"),
    pytest.param(b"{}", 400, "invalid_messages", id="missing-messages"),
    pytest.param(b'{"messages": []}', 400, "invalid_messages", id="empty-messages"),
    pytest.param(b'{"messages": "hi"}', 400, "invalid_messages", id="messages-not-a-list"),
    pytest.param(b'{"messages": [42]}', 400, "invalid_messages", id="message-not-an-object"),
    pytest.param(
        b'{"messages": [{"role": "wizard", "content": "x"}]}',
        400,
        "invalid_messages",
        id="unknown-role",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": 7}]}',
        400,
        "invalid_messages",
        id="content-wrong-type",
    ),
    pytest.param(
        b'{"messages": [{"role": "user"}]}', 400, "invalid_messages", id="content-missing"
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
        400,
        "invalid_value",
        id="temperature-type",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": 9}',
        400,
        "invalid_value",
        id="temperature-range",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
        400,
        "invalid_value",
        id="stream-type",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
        400,
        "invalid_value",
        id="max-tokens-zero",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "model": 5}',
        400,
        "invalid_value",
        id="model-type",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "n": 9}',
        400,
        "invalid_value",
        id="n-above-eight",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "model": "nope"}',
        404,
        "model_not_found",
        id="unknown-model",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "x"}], "model": "ghost/gpt-4o"}',
        404,
        "model_not_found",
        id="unknown-worker-pin",
    ),
    pytest.param(
        b'{"messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}',
        413,
        "body_too_large",
        id="body-over-limit",
    ),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_a_bad_chat_body_gets_a_json_4xx_naming_the_problem(daemon, path, body, status, code):
    response = daemon.post(
        path, data=body, headers={"Content-Type": "application/json"}, timeout=10
    )

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["type"]
    assert response.headers["X-Request-ID"]


def test_an_unknown_provider_on_api_chat_is_not_found(daemon):
    response = daemon.post("/api/chat", json={"messages": GOOD, "provider": "ghost"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_worker"


def test_an_unknown_path_is_a_json_404(daemon):
    response = daemon.get("/v2/nothing")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_wrong_method_is_a_json_405(daemon):
    response = daemon.get("/v1/chat/completions")

    assert response.status_code == 405
    assert "error" in response.json()


def test_a_client_request_id_is_echoed_back(daemon):
    response = daemon.post(
        "/v1/chat/completions", json={"messages": GOOD}, headers={"X-Request-ID": "trace-123"}
    )

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-123"


def test_a_client_that_disconnects_mid_request_leaves_the_daemon_serving(daemon):
    # The client gives up while waiting for the headers or, on a fast run, for the body.
    with pytest.raises((requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError)):
        requests.post(
            daemon.url + "/v1/chat/completions",
            json={"messages": GOOD, "stream": True},
            timeout=0.0001,
        )

    assert daemon.post("/v1/chat/completions", json={"messages": GOOD}).status_code == 200

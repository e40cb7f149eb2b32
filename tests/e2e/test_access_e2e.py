"""Client authentication and request limits, through the real daemon."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from admin_harness import chat
from daemon_harness import PRIMARY_KEYS, providers_json

from cortex.simulated import SimulatedOpenAI

GATEWAY_KEY = "cortex-gateway-key-for-tests-01"
CLIENT = {"Authorization": f"Bearer {GATEWAY_KEY}"}
MESSAGE = {"role": "user", "content": "hi"}


@pytest.fixture
def locked(cortex_daemon, primary):
    return cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_API_KEYS": f"other,{GATEWAY_KEY}"}
    )


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_chat_endpoints_refuse_requests_without_a_gateway_key(locked, path):
    response = locked.post(path, json={"messages": [MESSAGE]})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_gateway_key_is_refused(locked):
    response = locked.post(
        "/v1/chat/completions", json={"messages": [MESSAGE]}, headers={"Authorization": "Bearer x"}
    )

    assert response.status_code == 401


def test_a_valid_gateway_key_is_served(locked):
    response = locked.post("/v1/chat/completions", json={"messages": [MESSAGE]}, headers=CLIENT)
    models = locked.get("/v1/models", headers=CLIENT)

    assert response.status_code == 200
    assert models.status_code == 200


def test_model_listing_needs_the_key_too(locked):
    assert locked.get("/v1/models").status_code == 401


def test_monitoring_and_probes_stay_readable_by_default(locked):
    for path in ("/api/health", "/api/workers", "/api/stats", "/healthz", "/readyz"):
        assert locked.get(path).status_code == 200, path


def test_monitoring_can_be_protected_while_probes_stay_open(cortex_daemon, primary):
    daemon = cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary),
            "CORTEX_API_KEYS": GATEWAY_KEY,
            "CORTEX_PROTECT_MONITORING": "1",
        }
    )

    assert daemon.get("/api/stats").status_code == 401
    assert daemon.get("/api/stats", headers=CLIENT).status_code == 200
    assert daemon.get("/healthz").status_code == 200
    assert daemon.get("/readyz").status_code == 200


@pytest.fixture
def limited(cortex_daemon, primary):
    return cortex_daemon(
        {
            "CORTEX_PROVIDERS": providers_json(primary),
            "CORTEX_MAX_MESSAGES": "3",
            "CORTEX_MAX_HEADER_BYTES": "2048",
            "CORTEX_MAX_BODY_BYTES": "4096",
        }
    )


def test_too_many_messages_is_a_400_before_any_upstream_call(limited, primary):
    response = limited.post("/v1/chat/completions", json={"messages": [MESSAGE] * 4})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_messages"
    assert chat(limited).status_code == 200
    assert len([r for r in primary.requests if r.method == "POST"]) == 1


def test_an_oversized_header_gets_the_json_error_shape_with_431(limited):
    response = limited.get("/healthz", headers={"X-Big": "x" * 4096})

    assert response.status_code == 431
    assert response.json() == {
        "error": {
            "message": "a header field is longer than 2048 bytes",
            "type": "invalid_request_error",
            "code": "header_too_large",
        }
    }
    assert response.headers["X-Request-ID"]
    assert limited.get("/healthz").status_code == 200


@pytest.mark.parametrize("target_bytes", [2036, 2037, 4096], ids=["limit+1", "limit+2", "far"])
def test_an_oversized_request_line_gets_the_json_error_shape_with_414(limited, target_bytes):
    # "GET " + target + " HTTP/1.1": a 2035-byte target makes a line of exactly 2048 bytes.
    target = "/healthz?" + "q" * (target_bytes - len("/healthz?"))

    response = limited.get(target)

    assert response.status_code == 414
    assert response.json()["error"] == {
        "message": "the request line is longer than 2048 bytes",
        "type": "invalid_request_error",
        "code": "request_line_too_long",
    }


def test_a_request_line_of_exactly_the_limit_is_served(limited):
    target = "/healthz?" + "q" * (2035 - len("/healthz?"))

    assert limited.get(target).status_code == 200


def test_a_request_that_is_not_http_gets_a_json_400(limited):
    host, port = limited.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b"application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_http_request"


def test_an_oversized_body_is_a_413(limited):
    response = limited.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x" * 8192}]}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_a_client_over_its_concurrent_request_limit_gets_429(cortex_daemon):
    with SimulatedOpenAI("slow", keys=PRIMARY_KEYS, chunk_delay=0.2) as slow:
        entry = providers_json(slow)
        daemon = cortex_daemon(
            {"CORTEX_PROVIDERS": entry, "CORTEX_MAX_CONNECTIONS_PER_CLIENT": "2"}
        )
        statuses = asyncio.run(_concurrent_chats(daemon.url, 4))
        after = chat(daemon)

    assert statuses.count(200) == 2
    assert statuses.count(429) == 2
    assert after.status_code == 200


async def _concurrent_chats(url: str, count: int) -> list[int]:
    body = {"stream": True, "messages": [MESSAGE]}
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one() -> int:
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one() for _ in range(count))))

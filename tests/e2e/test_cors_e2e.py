"""CORS through a real daemon, with raw requests: preflights, and headers on every response.

The module's daemon lists two origins and requires a gateway key, so the tests also show
that a preflight needs none. A browser's own enforcement is tested in test_cors_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from admin_harness import ADMIN, ADMIN_TOKEN
from daemon_harness import PRIMARY_KEYS, CortexProcess, providers_json, running

from cortex.simulated import SimulatedOpenAI

APP = "http://app.example.test:8080"
OTHER = "https://other.example.test"
STRANGER = "https://evil.example.test"
GATEWAY_KEY = "gw-cors-key-000000000001"
CLIENT = {"Authorization": f"Bearer {GATEWAY_KEY}"}
HELLO = {"messages": [{"role": "user", "content": "Hello from a page"}]}
SDK_HEADERS = (
    "authorization, content-type, x-stainless-os, x-stainless-retry-count, "
    "openai-organization, x-cortex-strategy, x-api-key, anthropic-version, anthropic-beta"
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CortexProcess]:
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as primary:
        env = {
            "CORTEX_PROVIDERS": providers_json(primary),
            "CORTEX_CORS_ORIGINS": f"{APP},{OTHER}/",
            "CORTEX_API_KEYS": GATEWAY_KEY,
            "CORTEX_CACHE_ENABLED": "0",
        }
        with running(env, tmp_path_factory.mktemp("cors") / "cortex.log") as process:
            yield process


def preflight(
    daemon: CortexProcess, path: str, origin: str = APP, method: str = "POST", headers: str = ""
) -> requests.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return requests.options(daemon.url + path, headers=asked, timeout=10)


def vary(response: requests.Response) -> set[str]:
    return {part.strip().lower() for part in response.headers.get("Vary", "").split(",")}


def test_a_preflight_is_answered_without_a_gateway_key_with_what_the_sdks_send(daemon):
    response = preflight(daemon, "/v1/chat/completions", headers=SDK_HEADERS)

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = response.headers["Access-Control-Allow-Headers"].split(", ")
    assert allowed == [name.strip() for name in SDK_HEADERS.split(",")]
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "origin" in vary(response)
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize(
    ("path", "method", "methods"),
    [
        ("/api/chat", "POST", "POST"),
        ("/v1/models", "GET", "GET"),
        ("/v1/models/primary/gpt-4o-mini", "GET", "GET"),
        ("/api/health", "GET", "GET"),
        ("/api/stats", "GET", "GET"),
        ("/metrics", "GET", "GET"),
        ("/v1/completions", "POST", "POST"),
    ],
)
def test_client_and_monitoring_endpoints_answer_a_preflight(daemon, path, method, methods):
    response = preflight(daemon, path, origin=OTHER, method=method, headers="authorization")

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == OTHER
    assert response.headers["Access-Control-Allow-Methods"] == methods
    assert response.headers["Access-Control-Allow-Headers"] == "authorization"


def test_a_header_no_sdk_sends_is_not_allowed_so_the_browser_refuses_it(daemon):
    response = preflight(daemon, "/v1/chat/completions", headers="content-type, x-evil")

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Headers"] == "content-type"


def test_a_preflight_from_an_unlisted_origin_is_refused_without_cors_headers(daemon):
    response = preflight(daemon, "/v1/chat/completions", origin=STRANGER)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert not [name for name in response.headers if name.lower().startswith("access-control")]


def test_the_admin_api_gets_no_cors_even_from_a_listed_origin(daemon):
    response = preflight(daemon, "/admin/reload")

    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_whole_answer_names_the_origin_and_exposes_cortexs_headers(daemon):
    response = daemon.post(
        "/v1/chat/completions", json=HELLO, headers={**CLIENT, "Origin": APP}, timeout=20
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP
    exposed = response.headers["Access-Control-Expose-Headers"].split(", ")
    assert {
        "X-Cortex-Worker",
        "X-Request-ID",
        "X-Cortex-Cache",
        "X-Cortex-Dropped-Params",
        "Retry-After",
    } <= set(exposed)
    assert "origin" in vary(response)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat"])
def test_a_streamed_answer_carries_the_cors_headers_before_its_first_byte(daemon, path):
    with requests.post(
        daemon.url + path,
        json={**HELLO, "stream": True},
        headers={**CLIENT, "Origin": OTHER},
        stream=True,
        timeout=20,
    ) as response:
        body = b"".join(response.iter_content(None)).decode()

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Access-Control-Allow-Origin"] == OTHER
    assert "X-Cortex-Worker" in response.headers["Access-Control-Expose-Headers"]
    assert body.count("data:") > 3
    assert '"finish_reason":"stop"' in body


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("POST", "/v1/chat/completions", {}, 401),
        ("POST", "/v1/completions", CLIENT, 404),
        ("POST", "/v1/chat/completions", {**CLIENT, "Content-Type": "application/json"}, 400),
    ],
    ids=["no-key", "unsupported", "bad-body"],
)
def test_an_error_answer_carries_the_cors_headers_too(daemon, method, path, headers, status):
    response = requests.request(
        method, daemon.url + path, data="{", headers={**headers, "Origin": APP}, timeout=10
    )

    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    assert response.json()["error"]["code"]


def test_a_request_from_an_unlisted_site_is_refused_and_gets_no_cors_headers(daemon):
    response = daemon.post(
        "/v1/chat/completions", json=HELLO, headers={**CLIENT, "Origin": STRANGER}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


def test_a_simple_cross_site_post_is_refused_even_with_cors_off(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})
    forged = daemon.post(
        "/v1/chat/completions",
        data=b'{"messages": [{"role": "user", "content": "spend"}]}',
        headers={"Content-Type": "text/plain", "Origin": STRANGER},
    )

    assert forged.status_code == 403
    assert [r for r in primary.requests if r.method == "POST"] == []
    same_site = daemon.post("/v1/chat/completions", json=HELLO, headers={"Origin": daemon.url})
    assert same_site.status_code == 200


def test_without_origins_configured_cors_is_off_and_a_preflight_is_a_405(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    response = preflight(daemon, "/v1/chat/completions")
    answer = daemon.post("/v1/chat/completions", json=HELLO, headers={"Origin": APP})

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Vary" not in answer.headers


def test_origins_from_the_config_file_change_on_reload_and_star_allows_any(
    cortex_daemon, primary, tmp_path
):
    config = tmp_path / "cortex.toml"
    config.write_text(f'[server]\ncors_origins = ["{APP}"]\n')
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN},
        "--config",
        str(config),
    )
    before = preflight(daemon, "/v1/models", origin=STRANGER, method="GET")

    config.write_text('[server]\ncors_origins = "*"\n')
    report = daemon.post("/admin/reload", headers=ADMIN)
    after = preflight(daemon, "/v1/models", origin=STRANGER, method="GET")
    models = daemon.get("/v1/models", headers={"Origin": STRANGER})

    assert before.status_code == 403
    assert report.status_code == 200, report.text
    assert "cors_origins" in report.json()["settings_applied"]
    assert after.status_code == 204
    assert after.headers["Access-Control-Allow-Origin"] == "*"
    assert models.headers["Access-Control-Allow-Origin"] == "*"

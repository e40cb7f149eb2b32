"""No secret leaves the process in clear: every endpoint's body and headers, and every log line.

The daemon is configured with recognisable provider keys, gateway keys and an admin token,
then driven through successes, streams, rate limits, an invalid upstream key, client
errors and the admin API. Every response (bodies and headers) and the whole log are then
searched for each secret and for its middle part (a masked key only keeps its ends).
"""

from __future__ import annotations

import requests
from admin_harness import ADMIN, ADMIN_TOKEN, wait_until
from daemon_harness import providers_json

from cortex.simulated import Fault, SimulatedOpenAI

PROVIDER_KEYS = ("sk-secretscan-alpha-0000000001", "sk-secretscan-bravo-0000000002")
DEAD_KEY = "sk-secretscan-charlie-00000003"
GATEWAY_KEY = "gw-secretscan-delta-000000004"
CLIENT = {"Authorization": f"Bearer {GATEWAY_KEY}"}
SECRETS = (*PROVIDER_KEYS, DEAD_KEY, GATEWAY_KEY, ADMIN_TOKEN)
EXTRA_PATHS = ("/metrics", "/dashboard", "/no/such/path", "/admin/nothing")


def _needles() -> list[str]:
    needles = []
    for secret in SECRETS:
        needles.extend([secret, secret[6:-4]])
    return needles


def _transcript(response: requests.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    first = f"{response.request.method} {response.url} -> {response.status_code}"
    return f"{first}\n{headers}\n{response.text}"


def _exercise(daemon, upstream) -> list[requests.Response]:
    """Drive every endpoint, successes and failures alike; return every response."""
    chat = {"messages": [{"role": "user", "content": "hello"}]}
    seen = []

    def get(path, headers=CLIENT):
        seen.append(requests.get(daemon.url + path, headers=headers, timeout=10))

    def post(path, headers=CLIENT, **kwargs):
        seen.append(requests.post(daemon.url + path, headers=headers, timeout=20, **kwargs))

    post("/v1/chat/completions", json=chat)
    post("/v1/chat/completions", json={**chat, "stream": True})
    post("/api/chat", json=chat)
    upstream.set_fault(Fault.RATE_LIMIT, times=3, retry_after=600)
    post("/v1/chat/completions", json=chat)
    post("/v1/chat/completions", json=chat)
    upstream.set_fault(Fault.NONE)
    post("/v1/chat/completions", json={**chat, "model": "nope/nope"})
    post("/v1/chat/completions", data=b"{not json")
    post("/v1/chat/completions", headers={}, json=chat)
    post("/v1/chat/completions", headers={"Authorization": f"Bearer {GATEWAY_KEY}x"}, json=chat)
    paths = requests.get(daemon.url + "/openapi.json", timeout=10).json()["paths"]
    for path in [*paths, *EXTRA_PATHS]:
        if "{" not in path:
            get(path)
            get(path, headers=ADMIN)
    for name in ("keys", "primary", "pool", "registry", "providers"):
        get(f"/admin/actors/{name}", headers=ADMIN)
    post("/admin/reload", headers=ADMIN)
    post("/admin/workers", headers=ADMIN, json={"name": "primary", "api_keys": [DEAD_KEY]})
    post("/admin/workers", headers=ADMIN, json={"name": "x", "type": "openai", "api_keys": 3})
    post("/admin/keys/primary/kdoesnotexist/unblock", headers=ADMIN)
    return seen


def test_no_secret_appears_in_any_response_or_log_line(cortex_daemon):
    with SimulatedOpenAI("primary", keys=PROVIDER_KEYS, chunk_delay=0.0) as upstream:
        providers = providers_json(upstream)
        for placeholder, secret in zip(
            ("sk-primary-key-one-000001", "sk-primary-key-two-000002"), PROVIDER_KEYS, strict=True
        ):
            providers = providers.replace(placeholder, secret)
        providers = providers.replace(
            f'"{PROVIDER_KEYS[1]}"', f'"{PROVIDER_KEYS[1]}", "{DEAD_KEY}"'
        )
        daemon = cortex_daemon(
            {
                "CORTEX_PROVIDERS": providers,
                "CORTEX_API_KEYS": GATEWAY_KEY,
                "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN,
                "CORTEX_LOG_LEVEL": "debug",
            }
        )
        responses = _exercise(daemon, upstream)
        wait_until(lambda: daemon.events("request"))
        daemon.stop()
        logs = daemon.logs()

    statuses = {r.status_code for r in responses}
    assert {200, 400, 401, 404, 429} <= statuses
    texts = [_transcript(r) for r in responses] + logs.splitlines()
    leaks = [(needle, text[:200]) for text in texts for needle in _needles() if needle in text]
    assert leaks == []
    assert "sk-sec***0001" in "\n".join(texts)

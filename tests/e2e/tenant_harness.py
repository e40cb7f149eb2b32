"""Helpers of the gateway key (tenant) tests: a priced upstream, the admin calls, a chat."""

from __future__ import annotations

import json
from typing import Any

import requests
from daemon_harness import PRIMARY_KEYS, CortexProcess

from cortex.simulated import SimulatedOpenAI

ADMIN_TOKEN = "admin-token-for-tenant-tests-0001"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PRICE = 2.0
"""The primary's price per million tokens in these tests."""


def priced_env(primary: SimulatedOpenAI, db: str | None = None) -> dict[str, str]:
    """A daemon environment: the primary at :data:`PRICE`, the admin API on."""
    entry = {
        "type": "openai",
        "base_url": primary.base_url,
        "api_keys": list(PRIMARY_KEYS),
        "models": ["gpt-4o-mini"],
        "embedding_models": ["text-embedding-3-small"],
        "price": PRICE,
        "timeout": 10,
    }
    env = {"CORTEX_PROVIDERS": json.dumps({"primary": entry}), "CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}
    if db is not None:
        env["CORTEX_DB"] = db
    return env


def create_key(cortex: CortexProcess, **fields: Any) -> dict[str, Any]:
    """Create a gateway key through the admin API; returns its record with the secret."""
    response = cortex.post("/admin/gateway-keys", json={"name": "app", **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def chat(
    cortex: CortexProcess, key: str, *, words: str = "hello there", **body: Any
) -> requests.Response:
    """One non-streamed chat with a gateway key."""
    payload = {"messages": [{"role": "user", "content": words}], **body}
    return cortex.post(
        "/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {key}"}
    )


def chats_served(upstream: SimulatedOpenAI) -> int:
    """How many chat requests the simulated upstream received (probes not counted)."""
    return sum(1 for r in upstream.requests if r.path.endswith("/chat/completions"))


def assert_token_limit_held(answers: list[requests.Response], tpm: int) -> None:
    """A burst under a tokens-per-minute limit: some served, the rest refused as rate
    limited with Retry-After, and the tokens served over the limit by at most one answer."""
    served = [a.json()["usage"]["total_tokens"] for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(served) + len(refused) == len(answers)
    assert served
    assert refused
    assert all(a.json()["error"]["code"] == "rate_limited" for a in refused)
    assert all("Retry-After" in a.headers for a in refused)
    assert sum(served) <= tpm + max(served)

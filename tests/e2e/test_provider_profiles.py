"""The OpenAI-compatible provider types, each one profile row, through a real daemon.

One daemon holds one worker of every such type, configured by the type's own environment
variables (``MISTRAL_API_KEYS``, ``AZURE_OPENAI_BASE_URL``, ...), each in front of a
simulated upstream laid out like that provider: its path prefix, its auth header and any
query it requires. The upstream refuses a wrong key, header, path or query, so an answer
proves the call went where the provider takes it; the recorded request shows what was sent.
A new compatible type adds a row to :data:`ROWS` (and its profile and README line).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import CortexProcess
from provider_matrix import CASES

from cortex.providers.profiles import AZURE_API_VERSION, PROFILES
from cortex.simulated import Dialect, SimulatedOpenAI
from cortex.simulated.openai import AZURE

WAIT = 10.0
AZURE_QUERY = {"api-version": AZURE_API_VERSION}


@dataclass(frozen=True, slots=True)
class Row:
    """One provider type as its real API takes calls.

    Attributes:
        type: the provider type.
        dialect: how its simulated upstream is laid out.
        chat_path: where a chat for ``model`` must arrive.
        models_path: where the health probe must arrive.
        auth: the header and value the key must travel in (None: keyless).
        model: the model configured, or None for the profile's default.
        query: the query every call must carry.
    """

    type: str
    dialect: Dialect
    chat_path: str
    models_path: str
    auth: tuple[str, str] | None
    model: str | None = None
    query: dict[str, str] | None = None

    @property
    def key(self) -> str:
        """The upstream's one valid key."""
        return f"{self.type}-key-0123456789"

    @property
    def served_model(self) -> str:
        """The model the worker sends: configured, else the profile's default."""
        return self.model or PROFILES[self.type].model or ""


def _bearer(type_: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {type_}-key-0123456789")


ROWS = [
    Row("mistral", Dialect(), "/v1/chat/completions", "/v1/models", _bearer("mistral")),
    Row("deepseek", Dialect(prefix=""), "/chat/completions", "/models", _bearer("deepseek")),
    Row(
        "openrouter",
        Dialect(prefix="/api/v1"),
        "/api/v1/chat/completions",
        "/api/v1/models",
        _bearer("openrouter"),
    ),
    Row("together", Dialect(), "/v1/chat/completions", "/v1/models", _bearer("together")),
    Row(
        "fireworks",
        Dialect(prefix="/inference/v1"),
        "/inference/v1/chat/completions",
        "/inference/v1/models",
        _bearer("fireworks"),
    ),
    Row(
        "azure_openai",
        Dialect(AZURE.prefix, AZURE.auth_header, AZURE_QUERY, AZURE.deployments),
        "/openai/deployments/prod-gpt-4o/chat/completions",
        "/openai/models",
        ("api-key", "azure_openai-key-0123456789"),
        model="prod-gpt-4o",
        query=AZURE_QUERY,
    ),
    Row(
        "openai_compatible",
        Dialect(),
        "/v1/chat/completions",
        "/v1/models",
        None,
        model="qwen2.5-7b-instruct",
    ),
]
BY_TYPE = {row.type: row for row in ROWS}
EXTRA_MODEL = "listed-only-by-the-upstream"


def _environment(row: Row, server: SimulatedOpenAI) -> dict[str, str]:
    """The type's own variables: key (if any), base URL and model (if not the default)."""
    prefix = PROFILES[row.type].env_prefix
    env = {f"{prefix}_BASE_URL": server.base_url}
    if row.auth is not None:
        env[f"{prefix}_API_KEYS"] = row.key
    if row.model is not None:
        env[f"{prefix}_MODEL"] = row.model
    return env


@dataclass
class Fleet:
    """The daemon and each type's upstream."""

    daemon: CortexProcess
    servers: dict[str, SimulatedOpenAI]

    def worker(self, type_: str) -> dict[str, Any]:
        """``/api/workers``' entry of the type's worker (named after its type)."""
        listing = self.daemon.get("/api/workers").json()["workers"]
        return next(w for w in listing if w["name"] == type_)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One daemon with one worker per compatible type; probes every 300 s (one at boot)."""
    servers: dict[str, SimulatedOpenAI] = {}
    env = {"HEALTH_CHECK_INTERVAL": "300", "CORTEX_REQUEST_TIMEOUT": "20"}
    try:
        for row in ROWS:
            server = SimulatedOpenAI(
                row.type,
                keys=(row.key,) if row.auth else (),
                models=(row.served_model, EXTRA_MODEL),
                chunk_delay=0.0,
            )
            server.dialect = row.dialect
            servers[row.type] = server.start()
            env.update(_environment(row, server))
        log = tmp_path_factory.mktemp("profiles") / "cortex.log"
        daemon = CortexProcess(env, Path(log))
        try:
            yield Fleet(daemon.wait_ready(), servers)
        finally:
            daemon.stop()
    finally:
        for server in servers.values():
            server.stop()


def _check_call(row: Row, server: SimulatedOpenAI, method: str, path: str) -> None:
    calls = [r for r in server.requests if r.method == method]
    assert calls, f"no {method} reached {row.type}"
    call = calls[-1]
    assert call.path == path
    assert call.query == (row.query or {})
    if row.auth is None:
        assert "authorization" not in call.headers
    else:
        header, value = row.auth
        assert call.headers.get(header) == value
        if header != "authorization":
            assert "authorization" not in call.headers


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider_type", sorted(BY_TYPE))
def test_each_compatible_type_answers_through_its_own_path_and_auth_header(
    fleet: Fleet, provider_type: str, stream: bool
) -> None:
    row, server = BY_TYPE[provider_type], fleet.servers[provider_type]
    body = {
        "model": f"{row.type}/{row.served_model}",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }
    reply = fleet.daemon.post("/v1/chat/completions", json=body, timeout=WAIT, stream=stream)
    assert reply.status_code == 200, reply.text
    if stream:
        text = reply.text
        assert "[DONE]" in text
        assert all(word in text for word in ("Hello", "from", provider_type))
    else:
        message = reply.json()["choices"][0]["message"]["content"]
        assert message == f"Hello from {provider_type}! You said: hi"
    _check_call(row, server, "POST", row.chat_path)
    assert server.requests[-1].body["model"] == row.served_model


@pytest.mark.parametrize("provider_type", sorted(BY_TYPE))
def test_each_compatible_type_is_probed_through_its_model_list(
    fleet: Fleet, provider_type: str
) -> None:
    row, server = BY_TYPE[provider_type], fleet.servers[provider_type]
    deadline = time.monotonic() + WAIT
    worker = fleet.worker(provider_type)
    while worker["last_check"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
        worker = fleet.worker(provider_type)
    assert worker["last_check"] is not None, worker
    assert (worker["type"], worker["status"]) == (provider_type, "available")
    assert EXTRA_MODEL in worker["models"]
    _check_call(row, server, "GET", row.models_path)


def test_every_provider_type_is_exercised_through_the_daemon() -> None:
    assert set(PROFILES) == set(CASES) | set(BY_TYPE)

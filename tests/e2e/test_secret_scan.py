"""No secret leaves the process in clear: every endpoint's body and headers, and every log line.

The first daemon is configured with recognisable provider keys, gateway keys and an admin
token, then driven through successes, streams, rate limits, an invalid upstream key, client
errors and the admin API. The second has keys of no known shape (``tok_live_…``, a
Cohere-shaped token, an Azure-style 32-hex key, …) in front of upstreams of every wire
format that echo the presented key in every error (401/403, 400, 500, in-stream), and a
worker added at run time. Every response (bodies and headers) and the whole log are then
searched for each secret and for its middle part (a masked key only keeps its ends).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import requests
from admin_harness import ADMIN, ADMIN_TOKEN, wait_until
from daemon_harness import CortexProcess, providers_json

from actors.redaction import mask_key
from cortex.simulated import (
    Fault,
    SimulatedAnthropic,
    SimulatedCohere,
    SimulatedGemini,
    SimulatedOpenAI,
    SimulatedServer,
)

PROVIDER_KEYS = ("sk-secretscan-alpha-0000000001", "sk-secretscan-bravo-0000000002")
DEAD_KEY = "sk-secretscan-charlie-00000003"
GATEWAY_KEY = "gw-secretscan-delta-000000004"
CLIENT = {"Authorization": f"Bearer {GATEWAY_KEY}"}
SECRETS = (*PROVIDER_KEYS, DEAD_KEY, GATEWAY_KEY, ADMIN_TOKEN)
EXTRA_PATHS = ("/no/such/path", "/admin/nothing")
ENDLESS = frozenset({"/dashboard/events"})
"""Paths that stream without end; their first event is scanned on its own (_first_state)."""


def _needles(secrets: tuple[str, ...] = SECRETS) -> list[str]:
    needles = []
    for secret in secrets:
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
        if "{" not in path and path not in ENDLESS:
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


# Keys of no known shape: nothing but their exact value can recognise them.
TOK_KEY = "tok_live_4f9c2a7e1b3d5f60a8c1"
TOK_DEAD = "tok_live_dead_77e1c0ffee42b9"
AZURE_KEY = "9f86d081884c7d659a2feaa0c55ad015"
COHERE_KEY = "Xq7Lm2Np9Rs4Tv6Wy8Za1Bc3De5Fg7Hj9Kl0Mn2P"
CLAUDE_KEY = "claude-tenant-key-5b2e8d1f9a"
GEMINI_KEY = "goog.tenant.key.0c4e7a9b1d"
ADDED_KEY = "added_at_runtime_31d7f0a2c9"
PREFIXLESS_GATEWAY_KEY = "gwkey_7b1e9c3a5d2f4e6a"
PREFIXLESS_ADMIN_TOKEN = "adm_9f8e7d6c5b4a3f2e1d0c"
ECHO_CLIENT = {"Authorization": f"Bearer {PREFIXLESS_GATEWAY_KEY}"}
ECHO_ADMIN = {"Authorization": f"Bearer {PREFIXLESS_ADMIN_TOKEN}"}
# worker: (simulated upstream, type, model, the key it knows)
WORKERS: dict[str, tuple[type[SimulatedServer], str, str, str]] = {
    "tokenco": (SimulatedOpenAI, "openai", "gpt-4o-mini", TOK_KEY),
    "azure": (SimulatedOpenAI, "openai", "gpt-4o-mini", AZURE_KEY),
    "cohere": (SimulatedCohere, "cohere", "command-a-03-2025", COHERE_KEY),
    "claude": (SimulatedAnthropic, "anthropic", "claude-haiku-4-5", CLAUDE_KEY),
    "gemini": (SimulatedGemini, "gemini", "gemini-2.5-flash", GEMINI_KEY),
}
ECHO_SECRETS = (
    *(known for *_, known in WORKERS.values()),
    TOK_DEAD,
    ADDED_KEY,
    PREFIXLESS_GATEWAY_KEY,
    PREFIXLESS_ADMIN_TOKEN,
)


def _echoing(stack: ExitStack) -> dict[str, SimulatedServer]:
    """One upstream per worker, each echoing the presented key in every error it sends."""
    upstreams = {}
    for name, (factory, _, model, known) in {
        **WORKERS,
        "added": (SimulatedOpenAI, "openai", "gpt-4o-mini", ADDED_KEY),
    }.items():
        server = stack.enter_context(
            factory(name, keys=(known,), models=(model,), chunk_delay=0.02)
        )
        server.echo_key = True
        upstreams[name] = server
    return upstreams


def _echo_environment(upstreams: dict[str, SimulatedServer]) -> dict[str, str]:
    entries = {
        name: {
            "type": ptype,
            "base_url": upstreams[name].base_url,
            "models": [model],
            # The dead key is second, so the health probe uses the live one.
            "api_keys": [known, TOK_DEAD] if name == "tokenco" else [known],
        }
        for name, (_, ptype, model, known) in WORKERS.items()
    }
    return {
        "CORTEX_PROVIDERS": json.dumps(entries),
        "CORTEX_API_KEYS": f"other-gateway-key-000001,{PREFIXLESS_GATEWAY_KEY}",
        "CORTEX_ADMIN_TOKEN": PREFIXLESS_ADMIN_TOKEN,
        "CORTEX_LOG_LEVEL": "debug",
        "CORTEX_RETRY_PASSES": "0",
        "HEALTH_CHECK_INTERVAL": "1",
    }


def _first_state(daemon: CortexProcess) -> str:
    """The response head and first ``state`` event of ``/dashboard/events`` (it never ends)."""
    with requests.get(
        daemon.url + "/dashboard/events", headers=ECHO_ADMIN, stream=True, timeout=(5, 10)
    ) as response:
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                return f"{head}\n{line}"
    raise AssertionError("the dashboard stream ended without a state event")


def _drive_failures(daemon: CortexProcess, upstreams: dict[str, SimulatedServer]) -> Iterator[str]:
    """Make every worker's upstream echo its key in each kind of error; yield every response."""

    def chat(worker: str, path: str = "/v1/chat/completions", **extra: Any) -> str:
        model = WORKERS[worker][2]
        body = {"model": f"{worker}/{model}", "messages": [{"role": "user", "content": "hi"}]}
        response = requests.post(
            daemon.url + path, headers=ECHO_CLIENT, json={**body, **extra}, timeout=20
        )
        return _transcript(response)

    for worker in WORKERS:
        upstream = upstreams[worker]
        yield chat(worker)  # round robin: the dead key, if any, is tried on the next one
        yield chat(worker)
        for fault in (Fault.SERVER_ERROR, Fault.BAD_REQUEST):
            upstream.set_fault(fault)
            yield chat(worker)
            upstream.clear_faults()
        upstream.set_fault(Fault.STREAM_ERROR)
        yield chat(worker, stream=True)
        yield chat(worker, "/api/chat")
        yield chat(worker)
        upstream.set_fault(Fault.UNAUTHORIZED)  # last: the key rests until a reload
        yield chat(worker)
        upstream.clear_faults()


def _read_everything(daemon: CortexProcess) -> Iterator[str]:
    """Every readable endpoint, anonymous, with a gateway key and with the admin token."""
    paths = requests.get(daemon.url + "/openapi.json", timeout=10).json()["paths"]
    for path in [*(p for p in paths if "{" not in p and p not in ENDLESS), *EXTRA_PATHS]:
        for headers in ({}, ECHO_CLIENT, ECHO_ADMIN):
            yield _transcript(requests.get(daemon.url + path, headers=headers, timeout=10))
    for name in (*WORKERS, "added", "keys", "providers"):
        response = requests.get(f"{daemon.url}/admin/actors/{name}", headers=ECHO_ADMIN, timeout=10)
        yield _transcript(response)
    yield _first_state(daemon)


def test_no_echoed_key_of_any_shape_leaves_the_process(cortex_daemon):
    with ExitStack() as stack:
        upstreams = _echoing(stack)
        # The first health probe of claude fails with its key echoed, and is stored.
        upstreams["claude"].set_fault(Fault.SERVER_ERROR, times=1, probes=True)
        daemon = cortex_daemon(_echo_environment(upstreams))

        def workers() -> dict[str, Any]:
            return {w["name"]: w for w in daemon.get("/api/workers").json()["workers"]}

        wait_until(lambda: all(w["status"] == "available" for w in workers().values()))
        texts = list(_drive_failures(daemon, upstreams))
        upstreams["added"].set_fault(Fault.BAD_REQUEST)
        added = {
            "name": "added",
            "type": "openai",
            "base_url": upstreams["added"].base_url,
            "api_keys": [ADDED_KEY],
            "models": ["gpt-4o-mini"],
        }
        response = requests.post(
            daemon.url + "/admin/workers", headers=ECHO_ADMIN, json=added, timeout=20
        )
        texts.append(_transcript(response))
        response = requests.post(
            daemon.url + "/v1/chat/completions",
            headers=ECHO_CLIENT,
            json={"model": "added/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            timeout=20,
        )
        texts.append(_transcript(response))
        shown = workers()
        texts.extend(_read_everything(daemon))
        daemon.stop()
        texts.extend(daemon.logs().splitlines())

    leaks = [(needle, t[:300]) for t in texts for needle in _needles(ECHO_SECRETS) if needle in t]
    assert leaks == []
    # Not vacuous: every upstream echoed its key in each kind of error, Cortex passed the
    # mask on instead, and answered a refused key with the fixed message naming it masked.
    for worker, (*_, known) in WORKERS.items():
        echoed = f"(API key: {mask_key(known)})"
        heads = {t.split("\n", 1)[0].split("/", 3)[-1] for t in texts if echoed in t}
        # A 500 in a 502 body, a 400 passed through, an in-stream error on both streams.
        expected = {"v1/chat/completions -> 502", "v1/chat/completions -> 400"}
        expected |= {"v1/chat/completions -> 200", "api/chat -> 200"}
        assert expected <= heads, (worker, heads)
        status = 403 if worker == "gemini" else 401
        refused = f"the provider refused key {mask_key(known)} (HTTP {status})"
        assert any(refused in t for t in texts), worker
    assert any(r.api_key == TOK_DEAD for r in upstreams["tokenco"].requests)
    assert any(f"(API key: {mask_key(ADDED_KEY)})" in t for t in texts)
    assert mask_key(CLAUDE_KEY) in shown["claude"]["last_error"]


OLD_KEY, NEW_KEY = "rotated_out_key_5e0c1a9d7b", "rotated_in_key_2f8b6d4c0a"
OLD_GATEWAY, NEW_GATEWAY = "gw_rotated_out_0a1b2c3d4e", "gw_rotated_in_9f8e7d6c5b"
OLD_ADMIN, NEW_ADMIN = "admin_rotated_out_11aa22bb", "admin_rotated_in_33cc44dd"


def _configure(config, env_file, upstream: SimulatedServer, key, gateway, admin) -> None:
    config.write_text(
        f'[server]\nadmin_token = "{admin}"\n\n[providers.rotating]\ntype = "openai"\n'
        f'base_url = "{upstream.base_url}"\napi_keys = ["{key}"]\nmodels = ["gpt-4o-mini"]\n'
    )
    env_file.write_text(f"CORTEX_API_KEYS={gateway}\n")


def test_secrets_rotated_by_a_reload_are_redacted_old_and_new(cortex_daemon, tmp_path):
    config, env_file = tmp_path / "cortex.toml", tmp_path / "cortex.env"
    texts = []

    def ask(gateway: str) -> str:
        response = requests.post(
            daemon.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {gateway}"},
            json={"messages": [{"role": "user", "content": "hi"}]},
            timeout=20,
        )
        texts.append(_transcript(response))
        return texts[-1]

    with SimulatedOpenAI("rotating", keys=(OLD_KEY, NEW_KEY), chunk_delay=0.0) as upstream:
        upstream.echo_key = True
        upstream.set_fault(Fault.BAD_REQUEST)
        _configure(config, env_file, upstream, OLD_KEY, OLD_GATEWAY, OLD_ADMIN)
        daemon = cortex_daemon(
            {"CORTEX_LOG_LEVEL": "debug"}, "--config", str(config), "--env-file", str(env_file)
        )
        before = ask(OLD_GATEWAY)
        _configure(config, env_file, upstream, NEW_KEY, NEW_GATEWAY, NEW_ADMIN)
        reload = requests.post(
            daemon.url + "/admin/reload",
            headers={"Authorization": f"Bearer {OLD_ADMIN}"},
            timeout=20,
        )
        texts.append(_transcript(reload))
        after = ask(NEW_GATEWAY)
        texts.append(_read_rotating_worker(daemon, NEW_ADMIN))
        daemon.stop()
        texts.extend(daemon.logs().splitlines())

    rotated = (OLD_KEY, NEW_KEY, OLD_GATEWAY, NEW_GATEWAY, OLD_ADMIN, NEW_ADMIN)
    assert [(n, t[:300]) for t in texts for n in _needles(rotated) if n in t] == []
    assert reload.status_code == 200, reload.text
    assert f"(API key: {mask_key(OLD_KEY)})" in before
    assert f"(API key: {mask_key(NEW_KEY)})" in after


def _read_rotating_worker(daemon: CortexProcess, admin: str) -> str:
    response = requests.get(
        daemon.url + "/admin/actors/rotating",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return _transcript(response)

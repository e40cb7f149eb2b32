"""The targets under test and how each one is started and addressed.

Every target serves the same three scenarios, all backed by the one fast upstream
(:mod:`bench.upstream`), which picks its behaviour from a path prefix:

- ``ns``: non-streaming, 5 tokens;
- ``s20``: streaming, 20 tokens, no delay;
- ``s20d50``: streaming, 20 tokens, 50 ms between tokens.

``direct`` is the upstream itself (the physical limit). ``cortex-2w`` is Cortex with
``--workers 2`` (two server processes on one port, sharing state through a
``redis-server`` the run starts on a free loopback port). Cortex pins one worker per
scenario (``model: "<worker>/bench"``); LiteLLM maps one model name per scenario; Portkey
takes the upstream URL in its ``x-portkey-custom-host`` header.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.load import Target
from bench.peers import Install
from bench.procs import Service, free_port, start_service

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-bench-000000000000"
REDIS_SERVER = "/usr/bin/redis-server"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of request: the upstream prefix, streamed or not, tokens expected."""

    name: str
    prefix: str
    stream: bool
    tokens: int


SCENARIOS = {
    "ns": Scenario("ns", "", False, 5),
    "s20": Scenario("s20", "/t20d0", True, 20),
    "s20d50": Scenario("s20d50", "/t20d50", True, 20),
}


def _body(model: str, stream: bool) -> bytes:
    payload: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
    }
    if stream:
        payload["stream"] = True
    return json.dumps(payload).encode()


@dataclass
class Gateway:
    """A running target: its process tree, and how to address each scenario."""

    name: str
    kind: str
    service: Service
    upstream_port: int

    def target(self, scenario: Scenario, model: str | None = None) -> Target:
        """The request that exercises ``scenario`` through this gateway."""
        base = f"http://127.0.0.1:{self.upstream_port}{scenario.prefix}/v1"
        headers: dict[str, str] = {}
        path = "/v1/chat/completions"
        if self.kind == "direct":
            path, wire_model = f"{scenario.prefix}/v1/chat/completions", "bench"
        elif self.kind == "cortex":
            wire_model = model or f"{scenario.name}/bench"
        elif self.kind == "litellm":
            wire_model = f"bench-{scenario.name}"
            headers["Authorization"] = f"Bearer {KEY}"
        else:
            wire_model = "bench"
            headers = {
                "x-portkey-provider": "openai",
                "x-portkey-custom-host": base,
                "Authorization": f"Bearer {KEY}",
            }
        return Target(
            "127.0.0.1",
            self.service.port,
            path,
            _body(wire_model, scenario.stream),
            headers,
            scenario.stream,
            scenario.tokens if scenario.stream else 1,  # one "content" field when whole
        )


def start_upstream(log_dir: Path) -> Service:
    """The fast fake upstream, in its own process."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
    return start_service("upstream", argv, port=port, env=_env(), log_dir=log_dir, cwd=REPO)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORTEX_", "LITELLM_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def cortex_workers(upstream_port: int) -> dict[str, dict[str, object]]:
    """One Cortex worker per scenario, all on the fast upstream."""
    return {
        name: {
            "type": "openai",
            "base_url": f"http://127.0.0.1:{upstream_port}{scenario.prefix}/v1",
            "api_keys": [KEY],
            "models": ["bench"],
            "priority": 1,
            "timeout": 60,
        }
        for name, scenario in SCENARIOS.items()
    }


def redis_commands(port: int) -> int:
    """Commands the redis-server on ``port`` has run since it started (``INFO commandstats``)."""
    import redis  # noqa: PLC0415 - only the targets that run a redis-server need it

    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0) as client:
        stats = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


def start_redis(log_dir: Path) -> Service:
    """Debian's ``redis-server`` on a free loopback port, persisting nothing."""
    port = free_port()
    argv = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no"]  # fmt: skip
    return start_service("redis", argv, port=port, env=_env(), log_dir=log_dir)


def start_cortex(
    log_dir: Path,
    workers: dict[str, dict[str, object]],
    *,
    name: str = "cortex",
    processes: int = 1,
    redis_url: str = "",
) -> Service:
    """``python -m cortex`` with the given workers, warnings-only logging.

    With ``processes`` > 1 it runs ``--workers N`` on ``redis_url`` and is ready once the
    banner says every server process is (the port answers as soon as the first one is).
    """
    port = free_port()
    env = _env(
        CORTEX_REDIS_URL=redis_url,
        CORTEX_PROVIDERS=json.dumps(workers),
        CORTEX_LOG_LEVEL="warning",
        CORTEX_LOG_FORMAT="json",
        # All load comes from one address (127.0.0.1), and the per-client in-flight cap
        # (default 256) would answer 429 to every stream past the 256th: that is what made
        # only 25.6 % of 1,000 streams complete in the first run (744 = 1,000 - 256).
        CORTEX_MAX_CONNECTIONS_PER_CLIENT="1000000",
    )
    argv = [sys.executable, "-m", "cortex", "--port", str(port), "--env-file", os.devnull,
            "--workers", str(processes)]  # fmt: skip
    service = start_service(name, argv, port=port, env=env, log_dir=log_dir, cwd=REPO)
    if processes > 1:
        _await_log_line(service, "Server processes:")
    return service


def _await_log_line(service: Service, text: str, timeout: float = 60.0) -> None:
    """Wait until ``text`` appears in the service's log (its stdout and stderr)."""
    deadline = time.monotonic() + timeout
    while text not in service.log_path.read_text(errors="replace"):
        if service.proc.poll() is not None or time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(f"{service.name} did not log {text!r} within {timeout}s")
        time.sleep(0.1)


def start_litellm(log_dir: Path, install: Install, upstream_port: int, workers: int) -> Service:
    """LiteLLM's proxy per its performance advice: no DB, no callbacks, no retries."""
    config = {
        "model_list": [
            {
                "model_name": f"bench-{name}",
                "litellm_params": {
                    "model": "openai/bench",
                    "api_base": f"http://127.0.0.1:{upstream_port}{scenario.prefix}/v1",
                    "api_key": KEY,
                },
            }
            for name, scenario in SCENARIOS.items()
        ],
        "litellm_settings": {
            "num_retries": 0,
            "request_timeout": 60,
            "set_verbose": False,
            "json_logs": True,
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
        },
        "router_settings": {"num_retries": 0},
        "general_settings": {"disable_spend_logs": True, "disable_error_logs": True},
    }
    path = log_dir / f"litellm-{workers}w.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
    port = free_port()
    argv = [
        str(install.home / "bin" / "litellm"),
        "--config", str(path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--num_workers", str(workers),
        "--telemetry", "False",
    ]  # fmt: skip
    env = _env(LITELLM_LOG="ERROR", LITELLM_MODE="PRODUCTION", DISABLE_ADMIN_UI="True")
    return start_service(
        f"litellm-{workers}w", argv, port=port, env=env, log_dir=log_dir, ready_timeout=180
    )


def start_portkey(log_dir: Path, install: Install) -> Service:
    """Portkey's open-source gateway under Node, headless, production mode."""
    port = free_port()
    entry = install.home / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    argv = ["node", "--require", "./shim.cjs", str(entry), f"--port={port}", "--headless"]
    env = _env(NODE_ENV="production")
    return start_service("portkey", argv, port=port, env=env, log_dir=log_dir, cwd=install.home)

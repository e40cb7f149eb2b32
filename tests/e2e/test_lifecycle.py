"""The daemon as operators see it: start, status endpoints, graceful stop, bad configuration."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from daemon_harness import REPO, providers_json, run_cortex

from cortex.ops.open_files import UNBOUNDED_TARGET
from cortex.simulated import SimulatedOpenAI


def test_sigterm_stops_the_daemon_with_exit_code_zero_within_the_grace_period(
    cortex_daemon, primary
):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_SHUTDOWN_GRACE": "3"}
    )
    started = time.monotonic()

    code = daemon.stop(signal.SIGTERM)

    assert code == 0
    assert time.monotonic() - started < 3 + 5
    assert daemon.events("stopped")


def test_sigint_stops_the_daemon_like_sigterm(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})

    assert daemon.stop(signal.SIGINT) == 0


def test_a_stream_in_flight_at_sigterm_is_allowed_to_finish(cortex_daemon):
    with SimulatedOpenAI(
        "primary", keys=("sk-primary-key-one-000001", "sk-primary-key-two-000002"), chunk_delay=0.2
    ) as slow:
        daemon = cortex_daemon(
            {"CORTEX_PROVIDERS": providers_json(slow), "CORTEX_SHUTDOWN_GRACE": "10"}
        )
        response = daemon.post(
            "/v1/chat/completions",
            json={
                "stream": True,
                "messages": [{"role": "user", "content": "tell me a slow story"}],
            },
            stream=True,
        )
        lines = response.iter_lines()
        first = next(line for line in lines if line)
        stopper = threading.Thread(target=daemon.stop, args=(signal.SIGTERM,))
        stopper.start()
        rest = [line.decode() for line in lines if line]
        stopper.join(20)

    assert first.startswith(b"data: ")
    assert rest[-1] == "data: [DONE]"
    assert any('"finish_reason":"stop"' in line for line in rest)
    assert daemon.proc.returncode == 0


def test_status_endpoints_describe_every_worker(cortex_daemon, primary, local):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, local=local)})

    workers = {w["name"]: w for w in daemon.get("/api/workers").json()["workers"]}
    health = daemon.get("/api/health").json()

    assert workers["primary"]["type"] == "openai"
    assert workers["primary"]["priority"] == 1
    assert workers["primary"]["base_url"] == primary.base_url
    assert "llama3.1:8b" in workers["local"]["models"]
    assert health["total_workers"] == 2
    assert health["workers_by_provider"] == {"openai": 1, "ollama": 1}
    assert set(health) >= {
        "available_workers",
        "workers_by_status",
        "system_health",
        "last_health_check",
    }
    assert daemon.get("/healthz").json() == {"status": "ok"}
    assert daemon.get("/readyz").status_code == 200


def test_no_secret_appears_in_any_status_endpoint_or_log(cortex_daemon, primary):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary)})
    daemon.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})

    pages = "".join(
        daemon.get(p).text for p in ("/api/workers", "/api/stats", "/api/health", "/v1/models")
    )
    daemon.stop()

    for key in json.loads(providers_json(primary))["primary"]["api_keys"]:
        assert key not in pages
        assert key not in daemon.logs()


def test_an_invalid_configuration_exits_with_code_two_listing_every_problem():
    env = {
        "CORTEX_PROVIDERS": '{"a": {"type": "martian"}, "groq": {"api_keys": []}}',
        "CORTEX_PORT": "99999",
    }
    result = run_cortex("--env-file", os.devnull, env=env)

    assert result.returncode == 2
    assert "unknown type 'martian'" in result.stderr
    assert "needs at least one API key" in result.stderr
    assert "CORTEX_PORT" in result.stderr


def test_help_documents_flags_and_environment():
    result = subprocess.run(
        [sys.executable, "-m", "cortex", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0
    for name in (
        "--demo",
        "--port",
        "CORTEX_PROVIDERS",
        "GROQ_API_KEYS",
        "OLLAMA_BASE_URLS",
        "HEALTH_CHECK_INTERVAL",
    ):
        assert name in result.stdout


def test_the_daemon_lifts_its_soft_open_files_limit_to_the_hard_one(tmp_path):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    script = f"ulimit -Sn 256 && exec {sys.executable} -m cortex --port 0 --env-file /dev/null"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
           "OLLAMA_BASE_URL": "http://127.0.0.1:9", "CORTEX_LOG_FORMAT": "json"}  # fmt: skip
    proc = subprocess.Popen(
        ["bash", "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                break
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()
    soft = next(line.split()[3] for line in limits.splitlines() if "open files" in line)
    assert soft == str(UNBOUNDED_TARGET if hard == resource.RLIM_INFINITY else hard)

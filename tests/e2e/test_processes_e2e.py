"""``python -m cortex --workers N``: several server processes on one port under a parent.

Real processes on loopback, a real ``redis-server``: two server processes answer on one
port; a killed one is restarted while the other keeps serving; crashes beyond the restart
intensity make the parent give up; SIGTERM drains and stops all; SIGHUP reaches each.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from admin_harness import wait_until
from daemon_harness import PRIMARY_KEYS, CortexProcess, providers_json, run_cortex

from cortex.simulated import SimulatedOpenAI

STOP_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def redis_url(redis_server: Any) -> str:
    """One Redis for the module's fleets (the shared ``redis_server`` fixture)."""
    return redis_server.url


def fleet_env(redis_url: str, providers: str, **extra: str) -> dict[str, str]:
    return {"CORTEX_PROVIDERS": providers, "CORTEX_REDIS_URL": redis_url, **extra}


def health(daemon: CortexProcess) -> dict[str, Any]:
    """``/api/health`` on a new connection, so the kernel may pick any process."""
    answer = requests.get(daemon.url + "/api/health", headers={"Connection": "close"}, timeout=5)
    answer.raise_for_status()
    return answer.json()


def serving_pids(daemon: CortexProcess, count: int, timeout: float = 20.0) -> set[int]:
    """The pids seen answering, once there are ``count`` of them."""
    seen: set[int] = set()

    def enough() -> bool:
        seen.add(health(daemon)["pid"])
        return len(seen) >= count

    wait_until(enough, timeout=timeout, interval=0.0)
    return seen


def started(daemon: CortexProcess) -> dict[int, int]:
    """The pid the parent last started in each slot."""
    return {event["slot"]: event["pid"] for event in daemon.events("process_started")}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_processes_answer_on_one_port(cortex_daemon, primary, redis_url):
    daemon = cortex_daemon(fleet_env(redis_url, providers_json(primary)), "--workers", "2")

    pids = serving_pids(daemon, 2)

    assert pids == set(started(daemon).values())
    assert daemon.proc.pid not in pids
    assert daemon.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
    ).ok


def test_a_killed_process_is_restarted_while_the_other_keeps_serving(
    cortex_daemon, primary, redis_url
):
    daemon = cortex_daemon(fleet_env(redis_url, providers_json(primary)), "--workers", "2")
    victim, survivor = started(daemon)[0], started(daemon)[1]
    outcomes: list[tuple[str, int | None]] = []
    running = threading.Event()
    running.set()

    def client() -> None:
        while running.is_set():
            try:
                outcomes.append(("ok", health(daemon)["pid"]))
            except requests.RequestException:
                outcomes.append(("failed", None))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    wait_until(lambda: len(outcomes) >= 5)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: daemon.events("child_terminated"))
    after_kill = len(outcomes)
    replacement = wait_until(lambda: started(daemon)[0] != victim and started(daemon)[0])
    wait_until(lambda: any(e["pid"] == replacement for e in daemon.events("process_ready")))
    serving_pids(daemon, 1)
    wait_until(lambda: replacement in {pid for _, pid in outcomes[after_kill:]}, timeout=20)
    running.clear()
    thread.join(10)

    failed = [outcome for outcome in outcomes if outcome[0] == "failed"]
    # A sequential client has at most one connection at the killed process when it dies.
    assert len(failed) <= 1, f"{len(failed)} of {len(outcomes)} requests failed"
    assert ("ok", survivor) in outcomes[after_kill:]
    assert daemon.events("child_terminated")[0]["exit"] == "SIGKILL"
    assert daemon.proc.poll() is None


def test_crashes_beyond_the_restart_intensity_make_the_parent_exit_1(
    cortex_daemon, primary, redis_url
):
    env = fleet_env(
        redis_url,
        providers_json(primary),
        CORTEX_WORKERS_RESTARTS="1",
        CORTEX_WORKERS_PERIOD="60",
    )
    daemon = cortex_daemon(env, "--workers", "2")
    first = dict(started(daemon))

    for pid in first.values():
        os.kill(pid, signal.SIGKILL)

    assert daemon.proc.wait(STOP_TIMEOUT) == 1
    assert daemon.events("reached_max_restart_intensity")
    assert all(gone(event["pid"]) for event in daemon.events("process_started"))


def test_sigterm_drains_every_process_and_all_exit_0(cortex_daemon, redis_url):
    reply = " ".join(f"word{n}" for n in range(10))
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.2, reply=reply) as slow:
        daemon = cortex_daemon(fleet_env(redis_url, providers_json(slow)), "--workers", "2")
        body = {"stream": True, "messages": [{"role": "user", "content": "a story"}]}
        stream = requests.post(
            daemon.url + "/v1/chat/completions", json=body, stream=True, timeout=30
        )
        lines = stream.iter_lines()
        first = next(line for line in lines if line)

        daemon.proc.send_signal(signal.SIGTERM)
        rest = [line.decode() for line in lines if line]

        assert daemon.proc.wait(STOP_TIMEOUT) == 0
    assert first.startswith(b"data: ")
    assert rest[-1] == "data: [DONE]"
    assert any('"finish_reason":"stop"' in line for line in rest)
    stopped = daemon.events("process_stopped")
    assert [event["exit"] for event in stopped] == ["exit 0", "exit 0"]
    assert all(gone(event["pid"]) for event in stopped)


def _config(path: Path, *servers: SimulatedOpenAI) -> None:
    path.write_text(
        "".join(
            f'[providers.{s.name}]\ntype = "openai"\nbase_url = "{s.base_url}"\n'
            f'api_keys = ["{PRIMARY_KEYS[0]}"]\nmodels = ["gpt-4o-mini"]\n'
            for s in servers
        )
    )


def test_sighup_reloads_the_configuration_in_every_process(
    cortex_daemon, primary, backup, redis_url, tmp_path
):
    config = tmp_path / "cortex.toml"
    _config(config, primary)
    env = {"CORTEX_CONFIG": str(config), "CORTEX_REDIS_URL": redis_url}
    daemon = cortex_daemon(env, "--workers", "2")
    pids = serving_pids(daemon, 2)
    _config(config, primary, backup)

    daemon.proc.send_signal(signal.SIGHUP)

    reloaded: set[int] = set()

    def every_process_has_two_workers() -> bool:
        answer = health(daemon)
        if answer["total_workers"] == 2:
            reloaded.add(answer["pid"])
        return reloaded == pids

    wait_until(every_process_has_two_workers, timeout=20, interval=0.0)
    assert daemon.events("reload_forwarded")


def test_more_than_one_process_without_the_shared_store_is_refused():
    result = run_cortex("--workers", "2", "--env-file", os.devnull, timeout=30)

    assert result.returncode == 2
    assert "CORTEX_REDIS_URL" in result.stderr
    assert "--workers" in result.stderr

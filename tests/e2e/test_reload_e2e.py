"""Hot reload through POST /admin/reload and SIGHUP, against a config file on disk."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest
from admin_harness import ADMIN, ADMIN_TOKEN, chat, node, wait_until
from daemon_harness import PRIMARY_KEYS

from cortex.simulated import SimulatedOpenAI


def _worker(name: str, url: str, keys: tuple[str, ...], priority: int) -> str:
    return (
        f'[providers.{name}]\ntype = "openai"\nbase_url = "{url}"\n'
        f'api_keys = {json.dumps(list(keys))}\nmodels = ["gpt-4o-mini"]\npriority = {priority}\n'
    )


def _write(path: Path, *workers: str, strategy: str = "priority") -> None:
    path.write_text(f'[server]\nstrategy = "{strategy}"\n\n' + "\n".join(workers))


@pytest.fixture
def second():
    with SimulatedOpenAI("second", keys=PRIMARY_KEYS, chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def config(tmp_path, primary):
    path = tmp_path / "cortex.toml"
    _write(path, _worker("primary", primary.base_url, PRIMARY_KEYS, 1))
    return path


@pytest.fixture
def daemon(cortex_daemon, config):
    return cortex_daemon({"CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}, "--config", str(config))


def _reload(daemon):
    return daemon.post("/admin/reload", headers=ADMIN)


def test_a_worker_added_to_the_file_becomes_routable_after_reload(daemon, config, primary, second):
    _write(
        config,
        _worker("primary", primary.base_url, PRIMARY_KEYS, 1),
        _worker("second", second.base_url, PRIMARY_KEYS, 2),
    )

    report = _reload(daemon)
    answer = chat(daemon, model="second/gpt-4o-mini")

    assert report.status_code == 200
    assert report.json()["added"] == ["second"]
    assert report.json()["applied"] is True
    assert answer.headers["X-Cortex-Worker"] == "second"


def test_a_priority_change_restarts_only_that_worker_and_keeps_its_stats(
    daemon, config, primary, second
):
    _write(
        config,
        _worker("primary", primary.base_url, PRIMARY_KEYS, 1),
        _worker("second", second.base_url, PRIMARY_KEYS, 2),
    )
    _reload(daemon)
    assert chat(daemon).headers["X-Cortex-Worker"] == "primary"
    _write(
        config,
        _worker("primary", primary.base_url, PRIMARY_KEYS, 3),
        _worker("second", second.base_url, PRIMARY_KEYS, 2),
    )

    report = _reload(daemon).json()
    served_by = chat(daemon).headers["X-Cortex-Worker"]
    stats = daemon.get("/api/stats").json()["workers"]["primary"]

    assert report["reconfigured"] == ["primary"]
    assert served_by == "second"
    assert stats["successes"] == 1


def test_a_key_change_keeps_the_remaining_keys_counters(daemon, config, primary):
    assert chat(daemon).status_code == 200
    assert chat(daemon).status_code == 200
    _write(config, _worker("primary", primary.base_url, PRIMARY_KEYS[:1], 1))

    report = _reload(daemon).json()
    keys = daemon.get("/api/stats").json()["workers"]["primary"]["keys"]

    assert report["rekeyed"] == ["primary"]
    assert [k["key"] for k in keys] == ["sk-pri***0001"]
    assert keys[0]["requests"] == 1


def test_a_strategy_change_reaches_the_pool(daemon, config, primary):
    _write(config, _worker("primary", primary.base_url, PRIMARY_KEYS, 1), strategy="local_first")

    report = _reload(daemon).json()

    assert report["strategy"] == "local_first"
    assert node(daemon, "pool")["state"]["strategy"] == "local_first"


def test_an_invalid_file_is_rejected_whole_and_the_running_config_stays(daemon, config, primary):
    config.write_text('[server]\nstrategy = "fastest-please"\n[providers.primary]\ntype = "nope"\n')

    response = _reload(daemon)

    problems = response.json()["error"]["problems"]
    assert response.status_code == 400
    assert any("CORTEX_STRATEGY" in p for p in problems)
    assert any("unknown type" in p for p in problems)
    assert chat(daemon).headers["X-Cortex-Worker"] == "primary"
    assert node(daemon, "pool")["state"]["strategy"] == "priority"


def test_removing_a_worker_by_reload_lets_its_stream_finish(cortex_daemon, tmp_path):
    path = tmp_path / "cortex.toml"
    with SimulatedOpenAI("slow", keys=PRIMARY_KEYS, chunk_delay=0.15) as slow:
        _write(path, _worker("slow", slow.base_url, PRIMARY_KEYS, 1))
        daemon = cortex_daemon({"CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}, "--config", str(path))
        stream = daemon.post(
            "/v1/chat/completions",
            json={"stream": True, "messages": [{"role": "user", "content": "a long story"}]},
            stream=True,
        )
        lines = stream.iter_lines()
        next(line for line in lines if line)
        _write(path)
        reports: list[dict[str, object]] = []
        reloader = threading.Thread(target=lambda: reports.append(_reload(daemon).json()))
        reloader.start()
        rest = [line.decode() for line in lines if line]
        reloader.join(10)

    assert reports[0]["removed"] == ["slow"]
    assert rest[-1] == "data: [DONE]"


@pytest.mark.parametrize(
    ("keys", "priority", "strategy", "reported"),
    [
        (PRIMARY_KEYS, 5, "priority", "reconfigured"),
        (PRIMARY_KEYS[:1], 1, "priority", "rekeyed"),
        (PRIMARY_KEYS, 1, "round_robin", "strategy"),
    ],
    ids=["priority", "keys", "strategy"],
)
def test_a_reload_that_changes_the_streaming_worker_lets_its_stream_finish(
    cortex_daemon, tmp_path, keys, priority, strategy, reported
):
    path = tmp_path / "cortex.toml"
    with SimulatedOpenAI("slow", keys=PRIMARY_KEYS, chunk_delay=0.15) as slow:
        _write(path, _worker("slow", slow.base_url, PRIMARY_KEYS, 1))
        daemon = cortex_daemon({"CORTEX_ADMIN_TOKEN": ADMIN_TOKEN}, "--config", str(path))
        stream = daemon.post(
            "/v1/chat/completions",
            json={"stream": True, "messages": [{"role": "user", "content": "a long story"}]},
            stream=True,
        )
        lines = stream.iter_lines()
        next(line for line in lines if line)
        _write(path, _worker("slow", slow.base_url, keys, priority), strategy=strategy)
        reports: list[dict[str, object]] = []
        reloader = threading.Thread(target=lambda: reports.append(_reload(daemon).json()))
        reloader.start()
        rest = [line.decode() for line in lines if line]
        reloader.join(10)
        after = chat(daemon)

    assert reports[0]["applied"] is True
    assert reports[0][reported] in (["slow"], strategy)
    assert rest[-1] == "data: [DONE]"
    assert any('"finish_reason":"stop"' in line for line in rest)
    assert after.status_code == 200


def test_sighup_reloads_the_configuration(daemon, config, primary, second):
    _write(
        config,
        _worker("primary", primary.base_url, PRIMARY_KEYS, 1),
        _worker("second", second.base_url, PRIMARY_KEYS, 2),
    )

    daemon.proc.send_signal(signal.SIGHUP)

    reloaded = wait_until(lambda: daemon.events("reloaded"))
    assert reloaded[-1]["added"] == ["second"]
    assert chat(daemon, model="second/gpt-4o-mini").status_code == 200


def test_a_bad_file_on_sighup_is_logged_and_the_daemon_keeps_serving(daemon, config):
    config.write_text("this is [ not toml")

    daemon.proc.send_signal(signal.SIGHUP)

    failure = wait_until(lambda: daemon.events("reload_failed"))
    assert failure[-1]["signal"] == "SIGHUP"
    assert chat(daemon).status_code == 200


@pytest.fixture
def drill_daemon(primary, second, cortex_daemon, tmp_path):
    """A daemon with fault drills, serving ``primary`` and ``old`` from a config file.

    The upstreams come first, so they are torn down after the daemon that talks to them.
    """
    path = tmp_path / "drills.toml"
    _write(
        path,
        _worker("primary", primary.base_url, PRIMARY_KEYS, 1),
        _worker("old", second.base_url, PRIMARY_KEYS, 2),
    )
    daemon = cortex_daemon(
        {"CORTEX_ADMIN_TOKEN": ADMIN_TOKEN, "CORTEX_FAULT_DRILLS": "1"}, "--config", str(path)
    )
    return daemon, path


def _everything_changes(path, primary, second):
    """Add ``cache``, reconfigure ``primary``, remove ``old``, change strategy and a limit."""
    _write(
        path,
        _worker("cache", second.base_url, PRIMARY_KEYS, 2),
        _worker("primary", primary.base_url, PRIMARY_KEYS[:1], 3),
        strategy="round_robin",
    )
    path.write_text(path.read_text().replace("[server]\n", "[server]\nmax_messages = 1\n", 1))


def _two_messages(daemon):
    messages = [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    return daemon.post("/v1/chat/completions", json={"messages": messages})


def _workers(daemon) -> dict[str, int]:
    return {w["name"]: w["priority"] for w in daemon.get("/api/workers").json()["workers"]}


def test_a_reload_whose_worker_fails_to_start_is_rolled_back_whole(drill_daemon, primary, second):
    daemon, path = drill_daemon
    before = node(daemon, "primary")["incarnation"]
    armed = daemon.post("/admin/actors/primary/crash?at=start", headers=ADMIN)
    _everything_changes(path, primary, second)

    response = _reload(daemon)

    error = response.json()["error"]
    assert armed.status_code == 202
    assert response.status_code == 503
    assert error["code"] == "reload_failed"
    assert any("primary" in p and "FaultDrill" in p for p in error["problems"])
    # Everything taken before the failed step is undone: the added worker is gone, the
    # reconfigured one runs its old configuration again with both keys, nothing else moved.
    assert _workers(daemon) == {"primary": 1, "old": 2}
    assert node(daemon, "primary")["incarnation"] != before
    assert node(daemon, "primary")["alive"] is True
    assert {c["name"] for c in node(daemon, "providers")["children"]} == {"primary", "old"}
    stats = daemon.get("/api/stats").json()["workers"]
    assert set(stats) == {"primary", "old"}
    assert len(stats["primary"]["keys"]) == 2
    assert node(daemon, "pool")["state"]["strategy"] == "priority"
    assert chat(daemon).headers["X-Cortex-Worker"] == "primary"
    assert chat(daemon, model="old/gpt-4o-mini").status_code == 200
    assert _two_messages(daemon).status_code == 200
    assert daemon.events("reload_rolled_back")


def test_the_reload_after_a_rolled_back_one_applies_from_the_configuration_in_force(
    drill_daemon, primary, second
):
    daemon, path = drill_daemon
    daemon.post("/admin/actors/primary/crash?at=start", headers=ADMIN)
    _everything_changes(path, primary, second)
    assert _reload(daemon).status_code == 503

    report = _reload(daemon)

    assert report.status_code == 200, report.text
    assert report.json()["added"] == ["cache"]
    assert report.json()["reconfigured"] == ["primary"]
    assert report.json()["removed"] == ["old"]
    assert report.json()["strategy"] == "round_robin"
    assert _workers(daemon) == {"cache": 2, "primary": 3}
    assert chat(daemon, model="cache/gpt-4o-mini").headers["X-Cortex-Worker"] == "cache"
    assert _two_messages(daemon).json()["error"]["code"] == "too_many_messages"


def test_a_start_drill_makes_an_added_worker_fail_and_leaves_nothing_behind(drill_daemon, second):
    daemon, _ = drill_daemon
    daemon.post("/admin/actors/extra/crash?at=start", headers=ADMIN)
    entry = {"name": "extra", "type": "openai", "base_url": second.base_url}

    failed = daemon.post("/admin/workers", headers=ADMIN, json={**entry, "api_keys": ["k-1"]})
    added = daemon.post("/admin/workers", headers=ADMIN, json={**entry, "api_keys": ["k-1"]})

    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "worker_start_failed"
    assert "FaultDrill" in failed.json()["error"]["message"]
    assert added.status_code == 201, added.text

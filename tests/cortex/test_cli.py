"""Unit tests for the CLI's pure parts: what check-config and start-up print."""

from __future__ import annotations

import io

from actors.workers import HealthStatus, WorkerConfig, WorkerView
from cortex.config.settings import Settings
from cortex.ops.cli import describe_settings, run_command, startup_summary

SECRET = "sk-cli-unit-secret-000001"
GROQ = WorkerConfig("groq", "groq", "http://g", api_keys=(SECRET,), models=("m",))
LOCAL = WorkerConfig("local", "ollama", "http://l", models=(), is_local=True, needs_key=False)


def test_describe_settings_lists_each_worker_with_masked_keys_only() -> None:
    text = describe_settings(Settings(workers=(GROQ, LOCAL)))

    assert "groq (groq, priority" in text
    assert "keys: sk-cli***0001" in text
    assert "local (ollama" in text
    assert "models: any; keys: no keys" in text
    assert SECRET not in text


def test_describe_settings_says_when_no_worker_is_configured() -> None:
    assert "workers: none configured" in describe_settings(Settings())


def test_startup_summary_names_each_worker_with_its_health_and_the_dashboard() -> None:
    views = [WorkerView(GROQ), WorkerView(LOCAL, status=HealthStatus.UNAVAILABLE)]

    text = startup_summary("http://127.0.0.1:4000", views)

    assert "Workers found: groq (groq, available), local (ollama, unavailable)" in text
    assert "Dashboard: http://127.0.0.1:4000/dashboard" in text


def test_startup_summary_without_workers_points_to_the_demo() -> None:
    assert "try --demo" in startup_summary("http://x", [])


def test_check_config_reports_every_problem_on_standard_error_and_returns_2() -> None:
    out, err = io.StringIO(), io.StringIO()
    environ = {"CORTEX_PORT": "x", "CORTEX_LOG_FORMAT": "fancy"}

    status = run_command(
        ["check-config", "--env-file", "/dev/null"], environ=environ, out=out, err=err
    )

    assert status == 2
    assert out.getvalue() == ""
    assert "2 problem(s)" in err.getvalue()

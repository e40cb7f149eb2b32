"""The ``--workers`` parent's pure parts: exit descriptions, the port reservation, settings."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from pathlib import Path

import pytest

from cortex.config.settings import ConfigError, load_settings
from cortex.ops.processes import exit_description, prepare_database, reserve_port
from cortex.tenants.migrations import MIGRATIONS, schema_version

REDIS = {"CORTEX_REDIS_URL": "redis://127.0.0.1:6379/0"}


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (0, "exit 0"),
        (1, "exit 1"),
        (2, "exit 2"),
        (-9, "SIGKILL"),
        (-15, "SIGTERM"),
        (-200, "signal 200"),
    ],
)
def test_an_exit_is_described_by_its_code_or_signal(code, said):
    assert exit_description(code) == said


def test_the_reserved_port_is_shared_with_reuse_port_listeners_and_kept_from_others():
    with reserve_port("127.0.0.1", 0) as reservation:
        port = reservation.getsockname()[1]
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen()
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                listener.settimeout(2)
                accepted, _ = listener.accept()
                accepted.close()
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("environ", "cli", "processes"),
    [({}, {}, 1), ({"CORTEX_WORKERS": "3", **REDIS}, {}, 3), (REDIS, {"processes": 4}, 4)],
)
def test_the_process_count_comes_from_the_flag_or_the_environment(environ, cli, processes):
    assert load_settings(environ=environ, cli=cli).processes == processes


@pytest.mark.parametrize(
    ("environ", "cli", "problem"),
    [
        ({"CORTEX_WORKERS": "2"}, {}, "needs the shared store; set CORTEX_REDIS_URL"),
        ({}, {"processes": 2}, "needs the shared store; set CORTEX_REDIS_URL"),
        ({}, {"processes": 0}, "--workers must be at least 1, got 0"),
        ({"CORTEX_WORKERS": "1.5"}, {}, "CORTEX_WORKERS must be a whole number"),
        ({"CORTEX_WORKERS_RESTARTS": "-1"}, {}, "CORTEX_WORKERS_RESTARTS must be at least 0"),
        ({"CORTEX_WORKERS_PERIOD": "0"}, {}, "CORTEX_WORKERS_PERIOD must be greater than 0"),
    ],
)
def test_a_bad_process_setting_is_a_configuration_problem(environ, cli, problem):
    with pytest.raises(ConfigError) as raised:
        load_settings(environ=environ, cli=cli)
    assert any(problem in line for line in raised.value.problems), raised.value.problems


def test_the_parent_prepares_the_shared_database_before_any_child(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    prepare_database(str(path))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert schema_version(conn) == MIGRATIONS[-1][0]
    prepare_database(str(path))  # a restart finds it ready and changes nothing

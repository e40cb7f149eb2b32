"""What the daemon prints: its start-up summary, and its log as JSON or for a terminal.

The log format follows ``CORTEX_LOG_FORMAT`` (``auto`` by default): JSON lines when
standard error is not a terminal (a file, a pipe, a container's log driver), readable
console lines when it is. The terminal case runs the daemon on a real pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from daemon_harness import REPO, CortexProcess, providers_json

from cortex.simulated import SimulatedOllama, SimulatedOpenAI

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def printed_until(daemon: CortexProcess, needle: str, timeout: float = 10.0) -> str:
    """What the daemon printed on standard output after its banner, up to ``needle``."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(needle in line for line in lines) and time.monotonic() < deadline:
        try:
            lines.append(daemon._lines.get(timeout=0.1))
        except queue.Empty:
            continue
    return "".join(lines)


def test_start_up_prints_the_url_the_workers_with_their_health_and_the_dashboard(
    cortex_daemon, primary
):
    with SimulatedOllama("local", chunk_delay=0.0) as local:
        daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(primary, local=local)})
        printed = printed_until(daemon, "Dashboard:")

    assert f"OpenAI base URL: {daemon.url}/v1" in printed
    assert "Workers found: primary (openai, available), local (ollama, available)" in printed
    assert f"Dashboard: {daemon.url}/dashboard" in printed
    assert f"Metrics: {daemon.url}/metrics" in printed


def test_without_a_terminal_every_log_line_is_json_with_event_level_and_time(
    cortex_daemon, primary
):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(primary), "CORTEX_LOG_FORMAT": "auto"}
    )
    daemon.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    daemon.get("/no/such/path")
    assert daemon.stop() == 0

    records = [json.loads(line) for line in daemon.logs().splitlines() if line.strip()]

    assert {"front_started", "request", "stopped"} <= {r["event"] for r in records}
    assert all({"event", "level", "timestamp"} <= r.keys() for r in records)


@pytest.fixture
def on_a_terminal(primary: SimulatedOpenAI) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A daemon whose standard error is a pseudo-terminal; yields it and the terminal's end."""
    reader, writer = pty.openpty()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "CORTEX_PROVIDERS": providers_json(primary),
        "TERM": "xterm",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cortex", "--port", "0", "--env-file", os.devnull],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=writer,
        text=True,
    )
    os.close(writer)
    try:
        yield process, reader
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        os.close(reader)


def read_until(fd: int, needle: str, timeout: float = 20.0) -> str:
    """What the terminal shows until ``needle`` appears (bounded)."""
    seen, deadline = "", time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536).decode(errors="replace")
            except OSError:
                break
    return seen


def test_on_a_terminal_the_log_is_readable_console_lines_not_json(on_a_terminal):
    _, terminal = on_a_terminal

    shown = ANSI.sub("", read_until(terminal, "front_started"))

    line = next(line for line in shown.splitlines() if "front_started" in line)
    assert not line.lstrip().startswith("{")
    assert re.search(r"\[\s*info\s*\]\s+front_started", line), line
    assert "port=" in line

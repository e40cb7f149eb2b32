"""The embedded library in a process of its own: it never writes to standard output, logs
through the standard logging machinery at ``CORTEX_LOG_LEVEL``, and a failed start leaves
nothing running that would keep the process alive.

Each test runs ``cortex.start`` in a child Python process (standard output is process-wide
state) against a simulated upstream of the test process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cortex.simulated import SimulatedOpenAI

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-library-key-one-00001"
CHILD_TIMEOUT = 60.0

APPLICATION = textwrap.dedent(
    """
    import os, sys
    import cortex
    from cortex.config.settings import load_settings
    from supervisors import StartError

    settings = load_settings(environ=os.environ)
    try:
        gateway = cortex.start(settings, serve_http=os.environ.get("SERVE_HTTP") == "1")
    except StartError as exc:
        sys.stderr.write(f"application: start failed: {exc}\\n")
        sys.exit(3)
    with gateway:
        text = "".join(gateway.chat([{"role": "user", "content": "from a library"}]))
    sys.stderr.write(f"application: answer {text!r}\\n")
    """
)


@pytest.fixture
def upstream() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI("lib", keys=(KEY,), chunk_delay=0.0) as server:
        yield server


def run_application(
    upstream: SimulatedOpenAI, stdout: int, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the application with ``stdout`` as its standard output; bounded in time."""
    return subprocess.run(
        [sys.executable, "-c", APPLICATION],
        cwd=REPO,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "OPENAI_API_KEYS": KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            **env,
        },
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )


def broken_stdout() -> int:
    """The write end of a pipe nobody reads: every write to it raises BrokenPipeError."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def test_the_library_prints_nothing_to_stdout_and_logs_to_stderr(upstream):
    result = run_application(upstream, subprocess.PIPE)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "application: answer 'Hello from lib!" in result.stderr
    assert "INFO supervisors event='child_started'" in result.stderr


def test_the_library_honours_cortex_log_level(upstream):
    result = run_application(upstream, subprocess.PIPE, CORTEX_LOG_LEVEL="warning")

    assert result.returncode == 0, result.stderr
    assert "child_started" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("application: answer")


def test_with_a_broken_stdout_the_library_starts_serves_and_the_process_exits(upstream):
    stdout = broken_stdout()
    try:
        result = run_application(upstream, stdout)
    finally:
        os.close(stdout)

    assert result.returncode == 0, result.stderr
    assert "application: answer" in result.stderr


def test_with_a_broken_stdout_a_failed_start_raises_and_the_process_exits(upstream):
    stdout = broken_stdout()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        try:
            result = run_application(upstream, stdout, SERVE_HTTP="1", CORTEX_PORT=port)
        finally:
            os.close(stdout)

    assert result.returncode == 3, result.stderr
    assert "application: start failed: failed to start child 'front'" in result.stderr
    assert "address already in use" in result.stderr
    assert "Unclosed client session" not in result.stderr

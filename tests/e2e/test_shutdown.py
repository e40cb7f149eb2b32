"""Starting and stopping as an operator sees it: a failed start is one line, a drain says
how many streams remain, a second signal stops at once, and a stream cut at the end of the
grace period ends with an error event and is logged."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from daemon_harness import PRIMARY_KEYS, CortexProcess, providers_json, run_cortex

from cortex.simulated import Fault, SimulatedOpenAI

LONG_REPLY = " ".join(f"word{n}" for n in range(400))
"""An answer of hundreds of chunks: streamed slowly, it outlasts every grace period here."""


@pytest.fixture
def slow() -> Iterator[SimulatedOpenAI]:
    """A primary that streams a long answer, one chunk every 0.2 s."""
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.2, reply=LONG_REPLY) as server:
        yield server


class Stream:
    """One streamed chat completion read on a thread, line by line, until it ends."""

    def __init__(self, daemon: CortexProcess, path: str = "/v1/chat/completions") -> None:
        body = {"stream": True, "messages": [{"role": "user", "content": "a long story"}]}
        self.response = requests.post(daemon.url + path, json=body, stream=True, timeout=60)
        self.lines: list[str] = []
        self.first = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.first.wait(20), "the stream did not start"

    def _read(self) -> None:
        try:
            for line in self.response.iter_lines():
                if line:
                    self.lines.append(line.decode())
                    self.first.set()
        except requests.RequestException:
            self.lines.append("<connection broken>")
        finally:
            self.first.set()

    def ended(self, timeout: float) -> list[str]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream never ended"
        return self.lines


def _drain_started(daemon: CortexProcess, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := daemon.events("draining"):
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the daemon never said it was draining")


def _stop_in_background(daemon: CortexProcess, sig: int) -> threading.Thread:
    stopper = threading.Thread(target=daemon.stop, args=(sig, 60.0), daemon=True)
    stopper.start()
    return stopper


def test_a_taken_port_is_one_line_on_stderr_and_exit_code_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"OLLAMA_BASE_URL": "http://127.0.0.1:9", "CORTEX_LOG_FORMAT": "json"}
        result = run_cortex("--port", str(port), "--env-file", os.devnull, env=env)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"cortex: cannot start: 127.0.0.1:{port} is already in use "
        "(choose another port with --port or CORTEX_PORT)"
    ]
    assert result.stdout == ""


def test_a_stream_cut_at_the_end_of_the_grace_period_gets_an_error_event_and_a_log_line(
    cortex_daemon, slow
):
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(slow), "CORTEX_SHUTDOWN_GRACE": "1"})
    stream = Stream(daemon)

    began = time.monotonic()
    stopper = _stop_in_background(daemon, signal.SIGTERM)
    lines = stream.ended(timeout=20)
    stopper.join(30)

    assert daemon.proc.returncode == 0
    assert time.monotonic() - began < 1 + 5
    error = json.loads(lines[-2].removeprefix("data: "))["error"]
    assert error["code"] == "shutting_down"
    assert lines[-1] == "data: [DONE]"
    assert _drain_started(daemon)["in_flight"] == 1
    logged = [e for e in daemon.events("request") if e["path"] == "/v1/chat/completions"]
    assert len(logged) == 1
    assert (logged[0]["status"], logged[0]["cut"]) == (200, "shutdown")


def test_a_second_sigint_during_the_drain_stops_at_once(cortex_daemon, slow):
    daemon = cortex_daemon(
        {"CORTEX_PROVIDERS": providers_json(slow), "CORTEX_SHUTDOWN_GRACE": "60"}
    )
    stream = Stream(daemon, "/api/chat")
    daemon.proc.send_signal(signal.SIGINT)
    draining = _drain_started(daemon)

    began = time.monotonic()
    stopper = _stop_in_background(daemon, signal.SIGINT)
    lines = stream.ended(timeout=20)
    stopper.join(30)

    assert daemon.proc.returncode == 0
    assert time.monotonic() - began < 10
    assert (draining["in_flight"], draining["grace"]) == (1, 60.0)
    assert lines[-2:] == [
        "event: error",
        'data: {"error":{"message":"the gateway is shutting down; retry on another instance or '
        'shortly","type":"server_error","code":"shutting_down"},"worker":"primary"}',
    ]
    assert daemon.events("stopping_now")[0]["signal"] == "SIGINT"
    assert [e["cut"] for e in daemon.events("request") if e["path"] == "/api/chat"] == ["shutdown"]


def test_a_request_still_waiting_at_the_end_of_the_grace_period_gets_503_shutting_down(
    cortex_daemon, slow
):
    slow.slow_first_byte = 60.0
    slow.set_fault(Fault.SLOW_FIRST_BYTE)
    daemon = cortex_daemon({"CORTEX_PROVIDERS": providers_json(slow), "CORTEX_SHUTDOWN_GRACE": "1"})
    answers: list[requests.Response] = []
    body = {"messages": [{"role": "user", "content": "anyone?"}]}
    asking = threading.Thread(
        target=lambda: answers.append(daemon.post("/v1/chat/completions", json=body, timeout=30))
    )
    asking.start()
    slow.wait_for_requests(2)  # the probe, then the chat request

    daemon.stop(signal.SIGTERM)
    asking.join(30)

    assert daemon.proc.returncode == 0
    assert answers[0].status_code == 503
    assert answers[0].json()["error"]["code"] == "shutting_down"
    logged = [e for e in daemon.events("request") if e["path"] == "/v1/chat/completions"]
    assert [(e["status"], e["cut"]) for e in logged] == [(503, "shutdown")]

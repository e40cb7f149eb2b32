"""The daemon harness: ``python -m cortex`` as a real process on a free loopback port.

The port is read from the banner the daemon prints (``--port 0``), so parallel or repeated
runs never race for a port.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from cortex.simulated import SimulatedOllama, SimulatedOpenAI

REPO = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
PRIMARY_KEYS = ("sk-primary-key-one-000001", "sk-primary-key-two-000002")
BACKUP_KEYS = ("sk-backup-key-one-0000001",)


class CortexProcess:
    """One daemon process; stopped (and its log kept) by the fixture that made it."""

    def __init__(self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.log_path = log_path
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "CORTEX_LOG_FORMAT": "json",
            # Each daemon its own key records and ledger, unless a test shares one on purpose.
            "CORTEX_DB": str(log_path.with_suffix(".db")),
            **env,
        }
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cortex", "--port", "0", "--env-file", os.devnull, *args],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue(maxsize=1000)
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.url = ""

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._lines.put_nowait(line)
            except queue.Full:
                return

    def wait_ready(self, timeout: float = 20.0) -> CortexProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"cortex exited with {self.proc.returncode}: {self.logs()[-4000:]}"
                    ) from None
                continue
            match = BANNER.search(line)
            if match:
                self.url = match.group(1)
                return self
        raise RuntimeError(f"cortex did not start in {timeout}s: {self.logs()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._pump_thread.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
        return self.proc.returncode

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == name:
                found.append(record)
        return found

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=kwargs.pop("timeout", 20), **kwargs)


@contextlib.contextmanager
def running(env: dict[str, str], log_path: Path, *args: str) -> Iterator[CortexProcess]:
    """A ready daemon for the ``with`` block (a module fixture's life); stopped after it."""
    process = CortexProcess(env, log_path, args)
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def run_cortex(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cortex ARGS`` in a clean environment to its end, output captured."""
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cortex", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def providers_json(
    primary: SimulatedOpenAI | None = None,
    backup: SimulatedOpenAI | None = None,
    local: SimulatedOllama | None = None,
    *,
    timeout: float = 5.0,
    local_url: str | None = None,
) -> str:
    """A CORTEX_PROVIDERS value for the given upstreams (priority: primary, backup, local)."""
    entries: dict[str, Any] = {}
    if primary is not None:
        entries["primary"] = {
            "type": "openai",
            "base_url": primary.base_url,
            "api_keys": list(PRIMARY_KEYS),
            "models": ["gpt-4o-mini"],
            "priority": 1,
            "timeout": timeout,
        }
    if backup is not None:
        entries["backup"] = {
            "type": "groq",
            "base_url": backup.base_url,
            "api_keys": list(BACKUP_KEYS),
            "models": ["llama-3.1-8b-instant"],
            "priority": 2,
            "timeout": timeout,
        }
    if local is not None or local_url is not None:
        url = local_url or (local.base_url if local else "")
        entries["local"] = {
            "type": "ollama",
            "base_url": url,
            "models": ["llama3.1:8b"],
            "priority": 3,
            "timeout": timeout,
        }
    return json.dumps(entries)

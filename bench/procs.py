"""Processes under test: start with a raised fd limit, wait until ready, read CPU and RSS.

CPU and memory are read from ``/proc`` for the whole process tree (LiteLLM's workers and
any helper processes count), so every target is charged for everything it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
NOFILE = 65_536


def raise_nofile() -> None:
    """Lift the open-files limit as far as allowed (thousands of streams need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (NOFILE, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
        except (ValueError, OSError):
            continue
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, hard), hard))


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_pids(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(root: int) -> float:
    """User plus system CPU seconds of the process tree so far."""
    total = 0
    for pid in tree_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def rss_bytes(root: int) -> int:
    """Resident memory of the process tree, in bytes."""
    total = 0
    for pid in tree_pids(root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except OSError:
            continue
    return total


@dataclass
class Service:
    """A started process tree on a loopback port."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: object = field(repr=False, default=None)
    companions: list[Service] = field(default_factory=list)
    """Services this one needs (a Redis), stopped after it and never charged to it."""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        for companion in self.companions:
            companion.stop(timeout)


def _preexec() -> None:
    raise_nofile()
    os.setsid()


def start_service(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_dir: Path,
    cwd: Path | None = None,
    ready_timeout: float = 120.0,
) -> Service:
    """Start ``argv`` in its own session with a raised fd limit; wait until ``port`` accepts.

    Raises:
        RuntimeError: the process exited or did not listen within ``ready_timeout``.
    """
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_preexec,  # noqa: PLW1509 - fd limit and own process group, before exec
    )
    service = Service(name, proc, port, log_path, log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {proc.returncode}: "
                f"{log_path.read_text(errors='replace')[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return service
        except OSError:
            time.sleep(0.2)
    service.stop()
    raise RuntimeError(f"{name} did not listen on {port} within {ready_timeout}s")


class PeakRss:
    """Samples a process tree's RSS every ``interval`` seconds on the running loop."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self._pid = pid
        self._interval = interval
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, await asyncio.to_thread(rss_bytes, self._pid))
            await asyncio.sleep(self._interval)

    def __enter__(self) -> PeakRss:
        self.peak = rss_bytes(self._pid)
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.peak = max(self.peak, rss_bytes(self._pid))

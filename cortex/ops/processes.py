"""Several server processes on one port: ``python -m cortex --workers N``.

A Python process uses one core, so ``--workers N`` runs N server processes that all listen
on the same port (``SO_REUSEPORT``: the kernel spreads new connections among them) under
a parent that serves nothing itself. The parent is a supervisor in OTP's sense, for OS
processes instead of actors:

- every server process is a ``permanent`` child of a ``one_for_one`` supervisor: whatever
  ends it (a crash, a kill, even a clean exit nobody asked for), the parent starts a new
  one in its place;
- one restart window for the parent, not one per child (:class:`supervisors.RestartIntensity`,
  the tree's own ``add_restart/1`` port): more than ``CORTEX_WORKERS_RESTARTS`` restarts
  within ``CORTEX_WORKERS_PERIOD`` seconds and the parent gives up, stops the others and
  exits non-zero (``reached_max_restart_intensity``), so systemd or Kubernetes decides;
- the start is synchronous: the banner is printed once every process is ready, and if one
  fails to start the others are stopped and the parent exits 1.

Signals: SIGTERM/SIGINT are forwarded as SIGTERM to every process, which drains like a
single process does (``CORTEX_SHUTDOWN_GRACE``); a second one is forwarded too and cuts
the drain short. SIGHUP is forwarded to every process, each of which re-reads the
configuration. The server processes run in their own process group, so a Ctrl-C on a
terminal reaches the parent alone and each process gets one stop signal, not two.

Each server process is ``python -m cortex`` with the parent's arguments, the concrete port
and ``--process-channel FD``: one end of a socket pair. The process writes its readiness
(its URL and start-up summary) on it once it serves; it stops gracefully when the parent's
end closes, so a parent killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

import structlog

from cortex.config.settings import Settings
from cortex.tenants.migrations import migrate
from cortex.tenants.store import connect
from supervisors import RestartIntensity

log = structlog.get_logger("cortex.processes")

CHANNEL_FLAG = "--process-channel"
START_TIMEOUT = 60.0
"""Seconds every server process gets to become ready at the parent's start."""
STOP_MARGIN = 15.0
"""Seconds past the drain grace a server process gets to exit before it is killed."""
TICK = 0.1
"""Seconds between two looks at the signals, the channels and the processes."""
READY_LIMIT = 1 << 20
"""Most bytes of a readiness report the parent reads."""


@dataclass
class ServerProcess:
    """One running server process and the parent's end of its channel."""

    slot: int
    popen: subprocess.Popen[bytes]
    channel: socket.socket
    report: bytearray = field(default_factory=bytearray)
    ready: bool = False
    reload_pending: bool = False

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid


def exit_description(code: int) -> str:
    """How a process ended, as a log line says it: ``exit 1`` or ``SIGKILL``."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
        return f"signal {-code}"
    return f"exit {code}"


def prepare_database(path: str) -> None:
    """Create the shared database file and apply its migrations once, before any child.

    The server processes then open a file already in WAL mode and up to date, instead of
    racing to create it (and to switch its journal) at the same moment.
    """
    with contextlib.closing(connect(path)) as conn:
        migrate(conn)


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to the port the server processes will share.

    With ``--port 0`` this picks the port once for all of them; in every case it keeps
    the port from being taken by another program between two restarts. The socket is in
    the same ``SO_REUSEPORT`` group as the servers' but never listens, so the kernel hands
    it no connection.

    Raises:
        OSError: the port is in use by something outside the group.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    reservation = socket.socket(family, kind, proto)
    try:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reservation.bind(address)
    except OSError:
        reservation.close()
        raise
    return reservation


class ProcessParent:
    """The parent of N server processes: starts, watches, restarts and stops them.

    Args:
        argv: the daemon's command line, passed on to every server process.
        settings: the validated settings (host, port, processes, restart window, grace).
        clock: a monotonic clock in seconds (the restart window's), injectable for tests.
    """

    def __init__(
        self,
        argv: Sequence[str],
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._argv = list(argv)
        self._settings = settings
        self._intensity = RestartIntensity(
            settings.process_restarts, settings.process_period, clock
        )
        self._children: dict[int, ServerProcess] = {}
        self._stops = 0
        self._stops_forwarded = 0
        self._reload = threading.Event()
        self._port = settings.port

    def run(self) -> int:
        """Serve until a stop signal (0) or until the processes cannot be kept up (1)."""
        settings = self._settings
        if not hasattr(socket, "SO_REUSEPORT"):
            print(
                "cortex: --workers needs SO_REUSEPORT, which this platform lacks;"
                " run one process per port behind a load balancer instead",
                file=sys.stderr,
            )
            return 1
        try:
            reservation = reserve_port(settings.host, settings.port)
        except OSError as exc:
            print(f"cortex: cannot start: {settings.host}:{settings.port}: {exc}", file=sys.stderr)
            return 1
        try:
            prepare_database(settings.db)
        except (OSError, sqlite3.Error, RuntimeError) as exc:
            reservation.close()
            print(f"cortex: cannot start: database {settings.db}: {exc}", file=sys.stderr)
            return 1
        with reservation:
            self._port = int(reservation.getsockname()[1])
            self._install_signals()
            try:
                return self._supervise()
            finally:
                self._stop_all()

    def _install_signals(self) -> None:
        def on_stop(signum: int, _: FrameType | None) -> None:
            self._stops += 1
            log.info("shutdown_requested", signal=signal.Signals(signum).name, scope="processes")

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())

    def _supervise(self) -> int:
        """Start every process (synchronously), then keep them up until told to stop."""
        for slot in range(self._settings.processes):
            self._start(slot)
        if not self._await_ready():
            return 0 if self._stops else 1
        self._announce()
        while not self._stops:
            self._forward_reload()
            self._read_channels(TICK)
            for child in self._exited():
                if not self._restart(child):
                    return 1
        return 0

    def _start(self, slot: int) -> None:
        """Start the server process of ``slot``, passing it one end of a fresh channel."""
        ours, theirs = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "cortex",
            *self._argv,
            "--port",
            str(self._port),
            CHANNEL_FLAG,
            str(theirs.fileno()),
        ]
        try:
            popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command, pass_fds=(theirs.fileno(),), process_group=0
            )
        finally:
            theirs.close()
        self._children[slot] = ServerProcess(slot, popen, ours)
        log.info("process_started", slot=slot, pid=popen.pid, port=self._port)

    def _await_ready(self) -> bool:
        """Wait until every process is ready; False (the others stopped) if one is not."""
        deadline = time.monotonic() + START_TIMEOUT
        while not all(child.ready for child in self._children.values()):
            if self._stops:
                log.info("start_interrupted", reason="stop signal")
                return False
            if time.monotonic() > deadline:
                log.error("start_error", reason="start timeout", timeout=START_TIMEOUT)
                return False
            self._read_channels(TICK)
            for child in self._children.values():
                code = child.popen.poll()
                if code is not None and not child.ready:
                    log.error(
                        "start_error", slot=child.slot, pid=child.pid, exit=exit_description(code)
                    )
                    print(
                        f"cortex: cannot start: server process {child.slot} ended"
                        f" ({exit_description(code)}) before it was ready; its log says why",
                        file=sys.stderr,
                        flush=True,
                    )
                    return False
        return True

    def _announce(self) -> None:
        """The banner, once for all processes: the first one's report, then their count."""
        report = bytes(self._children[0].report).decode(errors="replace").rstrip("\n")
        pids = [child.pid for child in self._children.values()]
        print(report, flush=True)
        print(f"Server processes: {len(pids)} on one port (pids {pids})", flush=True)
        log.info("processes_ready", processes=len(pids), pids=pids, port=self._port)

    def _read_channels(self, timeout: float) -> None:
        """Collect readiness reports; a channel at its end means that process is ready."""
        pending = {c.channel: c for c in self._children.values() if not c.ready}
        if not pending:
            time.sleep(timeout)
            return
        readable, _, _ = select.select(list(pending), [], [], timeout)
        for channel in readable:
            child = pending[channel]
            try:
                data = channel.recv(65536)
            except OSError:
                data = b""
            if data and len(child.report) < READY_LIMIT:
                child.report.extend(data)
            elif not data and child.report:
                child.ready = True
                log.info("process_ready", slot=child.slot, pid=child.pid)
                if child.reload_pending:
                    self._send(child, signal.SIGHUP)
            # A channel that ends without a report belongs to a process that died before
            # it served: its exit is handled with the other exits.

    def _exited(self) -> list[ServerProcess]:
        return [c for c in self._children.values() if c.popen.poll() is not None]

    def _restart(self, child: ServerProcess) -> bool:
        """OTP ``one_for_one``, ``permanent``: restart whatever ended it, within intensity."""
        code = child.popen.returncode
        child.channel.close()
        log.error("child_terminated", slot=child.slot, pid=child.pid, exit=exit_description(code))
        # Mirrors restart/2: the restart is counted before anything is started again.
        if not self._intensity.add_restart():
            del self._children[child.slot]
            log.error(
                "reached_max_restart_intensity",
                restarts=self._settings.process_restarts,
                period=self._settings.process_period,
                hint="the parent stops the other processes and exits 1",
            )
            return False
        self._start(child.slot)
        return True

    def _forward_reload(self) -> None:
        """SIGHUP each ready process; one still starting gets it once ready.

        A process that has not yet installed its handlers would die of a SIGHUP (the
        default action), and it may have read the configuration before the change.
        """
        if self._reload.is_set():
            self._reload.clear()
            log.info("reload_forwarded", signal="SIGHUP", processes=len(self._children))
            for child in self._children.values():
                if child.ready:
                    self._send(child, signal.SIGHUP)
                else:
                    child.reload_pending = True

    def _signal_all(self, signum: int) -> None:
        for child in self._children.values():
            self._send(child, signum)

    @staticmethod
    def _send(child: ServerProcess, signum: int) -> None:
        if child.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.popen.send_signal(signum)

    def _stop_all(self) -> None:
        """Stop every process: SIGTERM (each drains), once more per further stop signal,
        then SIGKILL to any still running after the grace and :data:`STOP_MARGIN`."""
        deadline = time.monotonic() + self._settings.shutdown_grace + STOP_MARGIN
        self._stops = max(self._stops, 1)
        while True:
            while self._stops_forwarded < self._stops:
                self._stops_forwarded += 1
                self._signal_all(signal.SIGTERM)
            running = [c for c in self._children.values() if c.popen.poll() is None]
            if not running:
                break
            if time.monotonic() > deadline:
                for child in running:
                    log.error("shutdown_error", slot=child.slot, pid=child.pid, reason="killed")
                    child.popen.kill()
                    child.popen.wait(5)
                break
            time.sleep(TICK)
        for child in self._children.values():
            child.channel.close()
            log.info(
                "process_stopped",
                slot=child.slot,
                pid=child.pid,
                exit=exit_description(child.popen.returncode),
            )
        self._children.clear()


def report_ready(fd: int, report: str, on_parent_gone: Callable[[], None]) -> None:
    """In a server process: tell the parent it serves, then watch for the parent's end.

    Args:
        fd: this process's end of the channel (``--process-channel``).
        report: what the banner shows (URL and start-up summary).
        on_parent_gone: called once the parent's end closes (the parent died).
    """
    channel = socket.socket(fileno=fd)
    channel.sendall(report.encode())
    channel.shutdown(socket.SHUT_WR)

    def watch() -> None:
        with channel:
            while True:
                try:
                    if not channel.recv(1):
                        break
                except OSError:
                    break
        on_parent_gone()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

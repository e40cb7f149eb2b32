"""Fault drills: failures an operator asks for, to watch the gateway handle them.

Only with ``CORTEX_FAULT_DRILLS=1`` (the admin API refuses otherwise). A crash drill makes
a running actor raise :class:`FaultDrill` in its own thread (``Control.crash``). A start
drill arms :class:`StartDrills` so that the next start of a named worker raises it, as a
start that fails for any reason would: its supervisor reports ``start_error`` and whoever
asked for the start (a reload, ``POST /admin/workers``, a restart) sees it fail.
"""

from __future__ import annotations

import threading


class FaultDrill(RuntimeError):
    """The exception a fault drill makes an actor, or a worker's start, raise."""


class StartDrills:
    """Worker names whose next start is to fail; each armed drill fires once."""

    def __init__(self) -> None:
        self._armed: set[str] = set()
        self._lock = threading.Lock()

    def arm(self, worker: str) -> None:
        """Make the next start of ``worker`` fail (it need not exist yet)."""
        with self._lock:
            self._armed.add(worker)

    def check(self, worker: str) -> None:
        """Called at the start of ``worker``: fire and disarm its drill if one is armed.

        Raises:
            FaultDrill: a start drill was armed for ``worker``.
        """
        with self._lock:
            if worker not in self._armed:
                return
            self._armed.discard(worker)
        raise FaultDrill(f"fault drill: the start of {worker!r} was made to fail")

"""Why an actor stopped: the port's replacement for Erlang exit reasons.

OTP exit reasons are terms; Pykka has exceptions or nothing (SUPERVISION.md 1.9), so the
port uses a small closed union:

* :class:`Normal`: the actor stopped itself (``normal``).
* :class:`Shutdown`: its supervisor (or the owner of the root) asked it to stop, or a
  supervisor gave up (``shutdown`` / ``{shutdown, Detail}``).
* :class:`Error`: an exception in ``on_start``, a told message, or ``on_stop``.
* :class:`Abandoned`: a stop did not finish within the child's shutdown timeout. Python
  threads cannot be killed, so this stands in for ``killed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Normal:
    """The actor stopped on its own, without an error (``normal``)."""

    def __str__(self) -> str:
        return "normal"


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The actor was asked to stop, or a supervisor gave up (``{shutdown, detail}``)."""

    detail: str = ""

    def __str__(self) -> str:
        return f"shutdown: {self.detail}" if self.detail else "shutdown"


@dataclass(frozen=True, slots=True)
class Error:
    """The actor crashed with ``exc``."""

    exc: BaseException

    def __str__(self) -> str:
        return f"error: {self.exc!r}"


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The actor did not stop within its shutdown timeout and was left to finish alone."""

    def __str__(self) -> str:
        return "abandoned"


ExitReason: TypeAlias = Normal | Shutdown | Error | Abandoned


def is_normal_exit(reason: ExitReason) -> bool:
    """Whether a transient child should stay down after exiting with ``reason``.

    Mirrors ``do_restart/3``: ``normal``, ``shutdown`` and ``{shutdown, _}`` are normal
    exits; everything else is abnormal.
    """
    return isinstance(reason, Normal | Shutdown)

"""Errors raised by the supervision layer.

The hierarchy, drawn as a tree::

    SupervisorError
    ├── StartError        a child (or a whole supervisor) failed to start; holds the reason
    ├── DuplicateChild    a child id is already used in this supervisor (also a ValueError)
    ├── ChildNotFound     no child with that id in this supervisor
    ├── ChildRunning      the call needs the child stopped (restart_child, delete_child)
    ├── NameTaken         the directory already maps that name to a live actor
    └── NotRunning        a Handle's name has no live incarnation right now

Errors raised by a supervisor's API reach the caller through Pykka's ask path, which
returns the exception and keeps the supervisor alive (SUPERVISION.md 2.3 #2), the way
OTP answers ``{error, Reason}`` without crashing the supervisor.
"""

from __future__ import annotations

from supervisors.reasons import Error, ExitReason


class SupervisorError(Exception):
    """Base class for every error the supervision layer raises."""


class StartError(SupervisorError):
    """A child did not start or did not answer ``Ready``; ``{failed_to_start_child, Id, R}``.

    Attributes:
        child_id: the id of the child that failed (the supervisor's name for a whole tree).
        reason: why it failed.
    """

    def __init__(self, child_id: str, reason: ExitReason) -> None:
        super().__init__(f"failed to start child {child_id!r}: {reason}")
        self.child_id = child_id
        self.reason = reason

    def root_cause(self) -> tuple[tuple[str, ...], ExitReason]:
        """The children that failed to start, outermost first, and the innermost reason.

        A supervisor whose child failed fails to start in turn, so one failure deep in a
        tree arrives wrapped once per level; this unwraps it for a one-line report.
        """
        path = [self.child_id]
        reason = self.reason
        while isinstance(reason, Error) and isinstance(reason.exc, StartError):
            path.append(reason.exc.child_id)
            reason = reason.exc.reason
        return tuple(path), reason


class DuplicateChild(SupervisorError, ValueError):
    """A child id appears twice; mirrors ``{duplicate_child_name, Id}`` and ``already_present``."""


class ChildNotFound(SupervisorError, LookupError):
    """The supervisor has no child with this id; mirrors ``{error, not_found}``."""


class ChildRunning(SupervisorError):
    """The child is running or restarting; mirrors ``{error, running | restarting}``."""


class NameTaken(SupervisorError):
    """Another live actor is registered under this name (Erlang's ``badarg`` on register)."""


class NotRunning(SupervisorError, LookupError):
    """No live actor is registered under this name right now."""

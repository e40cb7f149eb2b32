"""Typed, blocking access to a supervisor's API from any thread.

Every call is a Pykka ask with a bounded wait. Do not call it from a child's ``on_stop``
or from a handler of a child that its supervisor may be stopping: the supervisor is then
blocked in ``stop()`` on that very child (SUPERVISION.md 2.5).
"""

from __future__ import annotations

from typing import Any

import pykka

from supervisors.children import ChildCount, ChildInfo
from supervisors.spec import ChildSpec


class SupervisorClient:
    """Calls a SupervisorActor or DynamicSupervisorActor and waits for the answer.

    Errors raised by the supervisor (ChildNotFound, ChildRunning, DuplicateChild,
    StartError) are re-raised here; the supervisor itself stays alive.

    Args:
        ref: the supervisor's ref (resolve it through a Handle if it may restart).
        timeout: seconds to wait for each answer; ``start_child`` and ``restart_child``
            should get more than the supervisor's ``start_timeout``.
    """

    def __init__(self, ref: pykka.ActorRef[Any], timeout: float = 15.0) -> None:
        self.ref = ref
        self.timeout = timeout

    def which_children(self) -> list[ChildInfo]:
        """Every child in start order with its current ref (None when not running)."""
        result: list[ChildInfo] = self._call("which_children")
        return result

    def count_children(self) -> ChildCount:
        """Counts of specs, running children, supervisors and workers."""
        result: ChildCount = self._call("count_children")
        return result

    def start_child(self, spec: ChildSpec) -> pykka.ActorRef[Any]:
        """Add and start a child; returns its ref once it is ready."""
        result: pykka.ActorRef[Any] = self._call("start_child", spec)
        return result

    def terminate_child(self, child_id: str) -> None:
        """Stop a child (static supervisors keep its spec unless temporary)."""
        self._call("terminate_child", child_id)

    def restart_child(self, child_id: str) -> pykka.ActorRef[Any]:
        """Start a stopped child from its kept spec (static supervisors only)."""
        result: pykka.ActorRef[Any] = self._call("restart_child", child_id)
        return result

    def delete_child(self, child_id: str) -> None:
        """Delete a stopped child's spec (static supervisors only)."""
        self._call("delete_child", child_id)

    def _call(self, method: str, *args: object) -> Any:  # noqa: ANN401 - typed by callers
        future = getattr(self.ref.proxy(), method)(*args)
        return future.get(timeout=self.timeout)

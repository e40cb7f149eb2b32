"""The dynamic supervisor: children added at run time, like OTP's simple_one_for_one.

Follows Elixir's ``DynamicSupervisor`` rather than ``simple_one_for_one``: each child
brings its own ChildSpec (and so its own id and global name) instead of extra arguments
to one template. The rest mirrors ``supervisor.erl``: no children at init, restarts per
restart type under the supervisor's single intensity window, a child that stays down is
forgotten, and shutdown stops every child in parallel under one shared timer
(``terminate_dynamic_children/1``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pykka

from supervisors.children import Child, StartOutcome, stop_many, wait_started
from supervisors.errors import SupervisorError
from supervisors.link import Link
from supervisors.names import Directory
from supervisors.spec import Strategy, SupFlags
from supervisors.supervisor import SupervisorActor


class DynamicSupervisorActor(SupervisorActor):
    """A one_for_one supervisor whose children are all started with ``start_child``.

    Build it with :func:`start_dynamic_supervisor`. ``which_children``,
    ``count_children``, ``start_child`` and ``terminate_child`` work as on a static
    supervisor, except that ``terminate_child`` always deletes the spec.
    """

    def restart_child(self, child_id: str) -> pykka.ActorRef[Any]:
        """Rejected, as OTP answers ``{error, simple_one_for_one}``: start it anew instead.

        Raises:
            SupervisorError: always.
        """
        raise SupervisorError(f"{self.name}: restart_child({child_id!r}) on a dynamic supervisor")

    def delete_child(self, child_id: str) -> None:
        """Rejected, as OTP answers ``{error, simple_one_for_one}``: specs go with children.

        Raises:
            SupervisorError: always.
        """
        raise SupervisorError(f"{self.name}: delete_child({child_id!r}) on a dynamic supervisor")

    def _forget(self, child: Child) -> None:
        # Dynamic children keep no spec once they are down, whatever their restart type.
        self._remove(child)

    def _terminate_all(self) -> None:
        stop_many(self.name, [child for child in self._children if child.ref], self._directory)


def start_dynamic_supervisor(
    name: str,
    flags: SupFlags,
    link: Link,
    directory: Directory,
    *,
    clock: Callable[[], float] = time.monotonic,
    start_timeout: float = 10.0,
) -> pykka.ActorRef[Any]:
    """Start a dynamic supervisor with no children; returns once it is ready.

    Args:
        name: the supervisor's name in logs.
        flags: must use ``Strategy.ONE_FOR_ONE``; intensity and period as usual.
        link: the link from the parent, or a RootLink.
        directory: where children are registered by id.
        clock: monotonic clock for the restart window, injectable for tests.
        start_timeout: bounds the supervisor's own start and each child's (re)start.

    Raises:
        ValueError: if the strategy is not one_for_one.
        StartError: if the supervisor did not start in time.
    """
    if flags.strategy is not Strategy.ONE_FOR_ONE:
        raise ValueError(f"a dynamic supervisor is one_for_one, got {flags.strategy}")
    outcome = StartOutcome()
    ref = DynamicSupervisorActor.start(
        link,
        name=name,
        flags=flags,
        specs=(),
        directory=directory,
        clock=clock,
        start_timeout=start_timeout,
        outcome=outcome,
    )
    wait_started(ref, link, name, start_timeout, outcome)
    return ref

"""The supervisor actor: the state machine of OTP's ``supervisor.erl`` on Pykka.

A supervisor is an actor, so its inbox serialises child exits and API calls and no lock
is needed (OTP's supervisor is a gen_server). API calls arrive as proxy calls (asks);
their errors go back to the caller and never crash the supervisor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from supervisors.children import (
    Child,
    ChildCount,
    ChildInfo,
    StartOutcome,
    count,
    log,
    report_exit,
    report_gave_up,
    start_one,
    stop_one,
    wait_started,
)
from supervisors.errors import ChildNotFound, ChildRunning, DuplicateChild, StartError
from supervisors.intensity import RestartIntensity
from supervisors.link import ChildExited, Link, SupervisedActor
from supervisors.names import Directory
from supervisors.reasons import ExitReason, Shutdown, is_normal_exit
from supervisors.spec import ChildSpec, Restart, SupFlags, check_child_specs
from supervisors.strategies import RestartPlan, plan_restart

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class _TryAgain:
    child_id: str
    reason: ExitReason


class SupervisorActor(SupervisedActor):
    """A static supervisor: ordered children, a strategy and one restart window.

    Build it with :func:`start_supervisor`, never with ``start()`` directly. Its API
    methods run in its own thread through ``ref.proxy()`` (or :class:`SupervisorClient`).

    Pykka deviations: there are no EXIT signals, so children report their own exits
    (``ChildExited`` from :class:`SupervisedActor`); a stop is queued behind the child's
    inbox and cannot kill, so slow children are abandoned (see ``children.stop_one``);
    a restart is a new actor with a new URN, so every (re)start is written to the
    :class:`Directory`.
    """

    def __init__(
        self,
        link: Link,
        *,
        name: str,
        flags: SupFlags,
        specs: Sequence[ChildSpec],
        directory: Directory,
        clock: Clock,
        start_timeout: float,
        outcome: StartOutcome,
    ) -> None:
        super().__init__(link)
        self.name = name
        self._flags = flags
        self._directory = directory
        self._start_timeout = start_timeout
        self._outcome = outcome
        self._intensity = RestartIntensity(flags.intensity, flags.period, clock)
        # Start order; termination walks it backwards (OTP keeps "Ids in termination order").
        self._children = [Child(spec) for spec in specs]

    def on_start(self) -> None:
        """Start every child in order, each ready before the next; mirrors ``init_children/2``.

        If one fails, the started ones are stopped in reverse order (by ``on_stop``) and
        the supervisor exits with ``{shutdown, failed_to_start_child}``. The deadline
        uses the real monotonic clock: the injected clock only drives intensity.
        """
        deadline = time.monotonic() + self._start_timeout
        for child in self._children:
            try:
                self._start(child, max(deadline - time.monotonic(), 0.0))
            except StartError as exc:
                self._outcome.error = exc
                self.exit(Shutdown("failed_to_start_child"))
                return

    def on_stop(self) -> None:
        """Stop every running child in reverse start order; mirrors ``terminate/2``."""
        self._terminate_all()

    def on_failure(self, *_: object) -> None:
        """A crashed supervisor still takes its children down with it.

        In OTP the children are linked to their supervisor, so its death kills them. Pykka
        has no links, so the supervisor stops them itself, in reverse start order, before
        its own exit is reported; its restart then finds their names free.
        """
        self._terminate_all()

    def on_receive(self, message: object) -> None:
        if isinstance(message, ChildExited):
            self._child_exited(message)
        elif isinstance(message, _TryAgain):
            self._try_again(message)
        else:
            # Mirrors handle_info/2: unexpected messages are logged, never fatal.
            log.warning("unexpected_message", supervisor=self.name, message=repr(message))

    def which_children(self) -> list[ChildInfo]:
        """Every child in start order, with its current ref (None when not running)."""
        return [child.info() for child in self._children]

    def count_children(self) -> ChildCount:
        """Counts of specs, running children, supervisors and workers."""
        return count(self._children)

    def start_child(self, spec: ChildSpec) -> pykka.ActorRef[Any]:
        """Add ``spec`` last and start it; mirrors ``start_child/2``.

        Raises:
            DuplicateChild: if the id is taken (``already_present`` / ``already_started``).
            StartError: if it fails to start; the spec is not kept.
        """
        if self._find(spec.id) is not None:
            raise DuplicateChild(f"{self.name}: child {spec.id!r} already exists")
        child = Child(spec)
        ref = self._start(child, self._start_timeout)
        self._children.append(child)
        return ref

    def terminate_child(self, child_id: str) -> None:
        """Stop a child and keep its spec (temporary children lose it); ``terminate_child/2``.

        Raises:
            ChildNotFound: if there is no such child.
        """
        child = self._get(child_id)
        if child.ref is not None:
            stop_one(self.name, child, self._directory)
        child.restarting = False
        self._forget(child)

    def restart_child(self, child_id: str) -> pykka.ActorRef[Any]:
        """Start a stopped child from its kept spec; mirrors ``restart_child/2``.

        Raises:
            ChildNotFound: if there is no such child.
            ChildRunning: if it is running or restarting.
            StartError: if it fails to start.
        """
        child = self._get(child_id)
        if child.ref is not None or child.restarting:
            raise ChildRunning(f"{self.name}: child {child_id!r} is running or restarting")
        return self._start(child, self._start_timeout)

    def delete_child(self, child_id: str) -> None:
        """Delete a stopped child's spec; mirrors ``delete_child/2``.

        Raises:
            ChildNotFound: if there is no such child.
            ChildRunning: if it is running or restarting.
        """
        child = self._get(child_id)
        if child.ref is not None or child.restarting:
            raise ChildRunning(f"{self.name}: child {child_id!r} is running or restarting")
        self._children.remove(child)

    def _child_exited(self, event: ChildExited) -> None:
        """Apply the restart type to an exit; mirrors ``restart_child/3`` + ``do_restart/3``.

        Exits of unknown or older incarnations are ignored ("unknown pid"); that also
        drops the notices of children this supervisor stopped itself.
        """
        child = self._find(event.child_id)
        if child is None or not child.is_incarnation(event.urn):
            return
        self._directory.unregister(child.id, event.urn)
        child.ref, child.link = None, None
        restart, reason = child.spec.restart, event.reason
        if restart is Restart.PERMANENT or not is_normal_exit(reason):
            report_exit(self.name, child, reason)
        if restart is Restart.TEMPORARY or (
            restart is Restart.TRANSIENT and is_normal_exit(reason)
        ):
            self._forget(child)
            return
        self._restart(child, reason)

    def _try_again(self, request: _TryAgain) -> None:
        """Retry a failed restart; mirrors ``try_again_restart``. Counts against intensity."""
        child = self._find(request.child_id)
        if child is not None and child.restarting:
            self._restart(child, request.reason)

    def _restart(self, child: Child, reason: ExitReason) -> None:
        """Check intensity, then apply the strategy; mirrors ``restart/2`` and ``restart/3``.

        A failed start marks the child restarting and sends ``_TryAgain`` to self, so the
        supervisor reads its mailbox (e.g. a shutdown request) before the next try.
        """
        if not self._intensity.add_restart():
            report_gave_up(self.name, child, reason)
            self._remove(child)
            # Escalation: a shutdown-class exit; a permanent parent restarts this supervisor.
            self.exit(Shutdown("reached_max_restart_intensity"))
            return
        plan = self._plan(child)
        for sibling_id in plan.stop:
            sibling = self._get(sibling_id)
            if sibling.ref is not None:
                stop_one(self.name, sibling, self._directory)
            sibling.restarting = False
        for dropped in plan.drop:
            self._remove(self._get(dropped))
        for start_id in plan.start:
            target = self._get(start_id)
            try:
                self._start(target, self._start_timeout)
            except StartError as exc:
                target.restarting = True
                self.actor_ref.tell(_TryAgain(start_id, exc.reason))
                return

    def _plan(self, child: Child) -> RestartPlan:
        temporary = {c.id for c in self._children if c.spec.restart is Restart.TEMPORARY}
        order = [c.id for c in self._children]
        return plan_restart(self._flags.strategy, order, child.id, temporary)

    def _start(self, child: Child, timeout: float) -> pykka.ActorRef[Any]:
        start_one(self.name, child, self.actor_ref, self._directory, timeout)
        assert child.ref is not None
        return child.ref

    def _terminate_all(self) -> None:
        for child in reversed(self._children):
            if child.ref is not None:
                stop_one(self.name, child, self._directory)

    def _forget(self, child: Child) -> None:
        """A child that stays down keeps its spec unless temporary; ``del_child/2``."""
        if child.spec.restart is Restart.TEMPORARY:
            self._remove(child)

    def _remove(self, child: Child) -> None:
        if child in self._children:
            self._children.remove(child)

    def _find(self, child_id: str) -> Child | None:
        return next((child for child in self._children if child.id == child_id), None)

    def _get(self, child_id: str) -> Child:
        child = self._find(child_id)
        if child is None:
            raise ChildNotFound(f"{self.name}: no child {child_id!r}")
        return child


def start_supervisor(
    name: str,
    flags: SupFlags,
    children: Sequence[ChildSpec],
    link: Link,
    directory: Directory,
    *,
    clock: Clock = time.monotonic,
    start_timeout: float = 10.0,
) -> pykka.ActorRef[Any]:
    """Start a supervisor and all its children; returns once every child is ready.

    Mirrors ``start_link/3``: synchronous, children started in order. Use it as the
    ``start`` of a ChildSpec (``type=ChildType.SUPERVISOR``) for a child supervisor, or
    with a :class:`~supervisors.link.RootLink` at the top of the tree.

    Args:
        name: the supervisor's name in logs (usually its child id).
        flags: strategy and restart intensity.
        children: child specs in start order.
        link: the link from the parent, or a RootLink.
        directory: where children are registered by id.
        clock: monotonic clock for the restart window, injectable for tests.
        start_timeout: seconds for the whole initial start; also bounds each later
            (re)start of one child.

    Raises:
        DuplicateChild: if two specs share an id (nothing is started).
        StartError: if a child failed to start (started ones were stopped in reverse
            order) or the start did not finish in time.
    """
    specs = check_child_specs(children)
    outcome = StartOutcome()
    ref = SupervisorActor.start(
        link,
        name=name,
        flags=flags,
        specs=specs,
        directory=directory,
        clock=clock,
        start_timeout=start_timeout,
        outcome=outcome,
    )
    wait_started(ref, link, name, start_timeout, outcome)
    return ref

"""Starting and stopping one child, shared by both supervisor kinds.

Also home of the fixed log contexts borrowed from OTP's error reports (``start_error``,
``child_terminated``, ``shutdown_error``, ``reached_max_restart_intensity``) and the
``child_started`` progress report. Each event carries ``error_context`` (the same name),
``supervisor``, ``child_id`` and ``reason``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pykka
import structlog

from supervisors.errors import NameTaken, StartError
from supervisors.link import EXIT_NOTICE_GRACE, Link, Ready
from supervisors.names import Directory
from supervisors.reasons import Abandoned, Error, ExitReason, Normal, Shutdown
from supervisors.spec import BRUTAL_KILL, ChildSpec, ChildType, Restart

log = structlog.get_logger("supervisors")


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One row of ``which_children()``; ``ref`` is None when not running."""

    id: str
    ref: pykka.ActorRef[Any] | None
    type: ChildType
    restart: Restart
    restarting: bool


@dataclass(frozen=True, slots=True)
class ChildCount:
    """The result of ``count_children()``; mirrors OTP's specs/active/supervisors/workers."""

    specs: int
    active: int
    supervisors: int
    workers: int


@dataclass(slots=True)
class Child:
    """A supervisor's record of one child: its spec and its current incarnation."""

    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None
    link: Link | None = None
    restarting: bool = False

    @property
    def id(self) -> str:
        return self.spec.id

    def is_incarnation(self, urn: str) -> bool:
        """Whether ``urn`` is the current incarnation (exits of older ones are ignored)."""
        return self.ref is not None and self.ref.actor_urn == urn

    def info(self) -> ChildInfo:
        return ChildInfo(self.id, self.ref, self.spec.type, self.spec.restart, self.restarting)


@dataclass(slots=True)
class StartOutcome:
    """Why a supervisor's own start failed; written by its thread before it exits."""

    error: StartError | None = None


def count(children: Iterable[Child]) -> ChildCount:
    """Count specs, running children, supervisors and workers; mirrors ``count_children``."""
    rows = list(children)
    return ChildCount(
        specs=len(rows),
        active=sum(1 for child in rows if child.ref is not None),
        supervisors=sum(1 for child in rows if child.spec.type is ChildType.SUPERVISOR),
        workers=sum(1 for child in rows if child.spec.type is ChildType.WORKER),
    )


def start_one(
    supervisor: str,
    child: Child,
    parent: pykka.ActorRef[Any],
    directory: Directory,
    timeout: float,
) -> None:
    """Start ``child`` synchronously and register it; mirrors ``do_start_child/2``.

    Calls the spec's ``start`` with a fresh link, then asks ``Ready`` so the call returns
    only after ``on_start`` finished (Pykka's ``start()`` does not wait, 1.9). On success
    sets ``child.ref`` and ``child.link`` and logs ``child_started``.

    Raises:
        StartError: after logging ``start_error``; a half-started child is stopped
            without waiting.
    """
    link = Link(child.id, parent)
    try:
        ref = child.spec.start(link)
    except Exception as exc:  # noqa: BLE001 - any failure of user start code is a start error
        reason: ExitReason | None = Error(exc)
    else:
        reason = _await_ready(ref, link, timeout)
        if reason is None:
            try:
                directory.register(child.id, ref)
            except NameTaken as exc:
                reason = Error(exc)
        if reason is not None and isinstance(ref, pykka.ActorRef):
            link.request_shutdown()
            ref.stop(block=False)
    if reason is not None:
        _report("start_error", supervisor, child.id, reason)
        raise StartError(child.id, reason)
    child.ref, child.link, child.restarting = ref, link, False
    log.info("child_started", supervisor=supervisor, child_id=child.id, urn=ref.actor_urn)


def stop_one(supervisor: str, child: Child, directory: Directory) -> ExitReason:
    """Stop ``child`` and wait up to its shutdown timeout; mirrors ``shutdown/1``.

    Deviation (1.9): Pykka's stop is a message queued behind the inbox, not a signal,
    and a thread cannot be killed. So a child that does not stop in time is *abandoned*
    (``shutdown_error`` is logged and it finishes on its own), and brutal_kill sends the
    stop without waiting. Clears ``child.ref``; the caller decides about the spec.
    """
    return stop_many(supervisor, [child], directory)[0]


def stop_many(supervisor: str, children: list[Child], directory: Directory) -> list[ExitReason]:
    """Stop ``children`` in parallel under one shared timer (the longest shutdown).

    Mirrors ``terminate_dynamic_children/1``. Children that are not running are skipped
    and reported as Normal.
    """
    pending: list[tuple[Child, pykka.ActorRef[Any], Link, pykka.Future[bool]]] = []
    for child in children:
        if child.ref is not None and child.link is not None:
            child.link.request_shutdown()
            pending.append((child, child.ref, child.link, child.ref.stop(block=False)))
        child.ref, child.link = None, None
    deadline = _shared_deadline([child.spec.shutdown for child, *_ in pending])
    reasons: dict[str, ExitReason] = {}
    for child, ref, link, stopped in pending:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        reasons[child.id] = _finish_stop(supervisor, child, link, stopped, remaining)
        directory.unregister(child.id, ref.actor_urn)
    return [reasons.get(child.id, Normal()) for child in children]


def wait_started(
    ref: pykka.ActorRef[Any], link: Link, name: str, timeout: float, outcome: StartOutcome
) -> None:
    """Wait for a supervisor's ``on_start`` to finish; raise its start failure if any.

    Raises:
        StartError: the failure the supervisor recorded, or a timeout (the supervisor is
            then asked to stop without waiting).
    """
    try:
        # The grace lets the supervisor's own, more precise start failure arrive first.
        ref.ask(Ready(), timeout=timeout + EXIT_NOTICE_GRACE)
    except (pykka.ActorDeadError, pykka.Timeout) as exc:
        if outcome.error is not None:
            raise outcome.error from None
        if ref.is_alive():
            link.request_shutdown()
            ref.stop(block=False)
        raise StartError(name, link.reason or Error(exc)) from exc


def report_exit(supervisor: str, child: Child, reason: ExitReason) -> None:
    """Log ``child_terminated`` for an exit that OTP reports."""
    _report("child_terminated", supervisor, child.id, reason)


def report_gave_up(supervisor: str, child: Child, reason: ExitReason) -> None:
    """Log ``reached_max_restart_intensity`` when a supervisor gives up."""
    _report("reached_max_restart_intensity", supervisor, child.id, reason)


def _shared_deadline(limits: list[float | None]) -> float | None:
    finite = [limit for limit in limits if limit is not None]
    if len(finite) < len(limits):
        return None
    return time.monotonic() + max(finite, default=0.0)


def _await_ready(ref: object, link: Link, timeout: float) -> ExitReason | None:
    if not isinstance(ref, pykka.ActorRef) or ref.actor_urn != link.urn:
        problem = "start must return the ref of a SupervisedActor built with its link"
        return Error(TypeError(problem))
    try:
        ref.ask(Ready(), timeout=timeout)
    except pykka.ActorDeadError as exc:
        return link.wait(EXIT_NOTICE_GRACE) or Error(exc)
    except pykka.Timeout as exc:
        return link.reason or Error(exc)
    return None


def _finish_stop(
    supervisor: str,
    child: Child,
    link: Link,
    stopped: pykka.Future[bool],
    timeout: float | None,
) -> ExitReason:
    if child.spec.shutdown == BRUTAL_KILL:
        return link.reason or Abandoned()
    try:
        stopped.get(timeout=timeout)
    except pykka.Timeout:
        _report("shutdown_error", supervisor, child.id, Abandoned())
        return Abandoned()
    reason = link.wait(EXIT_NOTICE_GRACE) or Shutdown()
    # Mirrors do_terminate/2: shutdown is expected, normal only from non-permanent children.
    accepted = isinstance(reason, Shutdown) or (
        isinstance(reason, Normal) and child.spec.restart is not Restart.PERMANENT
    )
    if not accepted:
        _report("shutdown_error", supervisor, child.id, reason)
    return reason


def _report(context: str, supervisor: str, child_id: str, reason: ExitReason) -> None:
    log.error(
        context, error_context=context, supervisor=supervisor, child_id=child_id, reason=str(reason)
    )

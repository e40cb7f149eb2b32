"""The parent-child link, and the one actor base class that touches Pykka internals.

Pykka has no links or EXIT signals (pykka issue #42). :class:`SupervisedActor` makes
every exit of an actor reach its parent as a :class:`ChildExited` message with an
:class:`~supervisors.reasons.ExitReason`, by wrapping two private methods of
``pykka.Actor`` (``_actor_loop`` and ``_handle_failure``) plus ``_handle_receive`` and
``_stop``. Those are pinned for pykka 4.5 by ``tests/contract/test_pykka_contract.py``.
Nothing else in the package uses Pykka's private API.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from supervisors.reasons import Error, ExitReason, Normal, Shutdown

if TYPE_CHECKING:
    from types import TracebackType

EXIT_NOTICE_GRACE = 1.0
"""Seconds to wait for an exit reason once the actor is known to be stopping.

``stop(block=True)`` returns when ``on_stop`` is done; the notice follows as soon as the
inbox is drained, so this bounded wait always sees it in practice.
"""


@dataclass(frozen=True, slots=True)
class Ready:
    """Readiness probe: a SupervisedActor answers True once ``on_start`` has returned.

    Pykka's ``start()`` returns before ``on_start`` runs (SUPERVISION.md 2.3 #8), and
    messages are handled only after it, so the answer proves the start finished.
    """


@dataclass(frozen=True, slots=True)
class ChildExited:
    """Event told to a parent when a child actor exits: Erlang's ``{'EXIT', Pid, Reason}``."""

    child_id: str
    urn: str
    reason: ExitReason


@dataclass(frozen=True, slots=True)
class _Crash:
    exc: Exception


class Link:
    """What a child gets from its parent: its id and a way to report its exit.

    A link belongs to exactly one incarnation. It records the final reason and sets an
    event, so the parent can also read the reason without going through its mailbox
    (needed while the parent is blocked starting or stopping that very child).

    Args:
        child_id: the child's id in its parent.
        parent: the parent supervisor, told ``ChildExited``; None for the root.
    """

    def __init__(self, child_id: str, parent: pykka.ActorRef[Any] | None = None) -> None:
        self.child_id = child_id
        self._parent = parent
        self._urn: str | None = None
        self._reason: ExitReason | None = None
        self._exited = threading.Event()
        self._shutdown_requested = threading.Event()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.child_id!r}, urn={self._urn!r})"

    @property
    def urn(self) -> str | None:
        """The URN of the actor that took this link, or None before it was built."""
        return self._urn

    @property
    def reason(self) -> ExitReason | None:
        """The child's exit reason, or None while it runs."""
        return self._reason

    @property
    def shutdown_requested(self) -> bool:
        """Whether the parent asked the child to stop (its exit then reads Shutdown)."""
        return self._shutdown_requested.is_set()

    def attach(self, urn: str) -> None:
        """Bind the link to the actor being built; done by ``SupervisedActor.__init__``.

        Raises:
            RuntimeError: if another actor already took this link.
        """
        with self._lock:
            if self._urn is not None:
                raise RuntimeError(f"{self!r} already belongs to another actor")
            self._urn = urn

    def request_shutdown(self) -> None:
        """Mark the coming stop as asked for by the parent: OTP's ``exit(Child, shutdown)``."""
        self._shutdown_requested.set()

    def notify(self, reason: ExitReason) -> None:
        """Report the child's exit once: record it and tell the parent ``ChildExited``.

        Later calls are ignored. A parent that is already dead is not an error: it is
        shutting down and no longer cares.
        """
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
        self._exited.set()
        if self._parent is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._parent.tell(ChildExited(self.child_id, self._urn or "", reason))

    def wait(self, timeout: float | None) -> ExitReason | None:
        """Wait up to ``timeout`` seconds for the exit; returns its reason or None."""
        self._exited.wait(timeout)
        return self._reason


class RootLink(Link):
    """The link at the top of a tree: nobody restarts the root, so its owner watches it.

    The daemon waits on it and exits non-zero when the root gives up (mode's
    CrashingSupervisor: escalate to systemd or Kubernetes).
    """

    def __init__(self, name: str) -> None:
        super().__init__(name, parent=None)

    def stop(self, ref: pykka.ActorRef[Any], timeout: float | None) -> ExitReason | None:
        """Stop the root as a shutdown and wait up to ``timeout`` seconds for its exit.

        Returns:
            The root's exit reason (Shutdown when it stopped cleanly), or None if it did
            not stop in time.
        """
        self.request_shutdown()
        try:
            ref.stop(block=True, timeout=timeout)
        except pykka.Timeout:
            return None
        return self.wait(EXIT_NOTICE_GRACE)


ExitWatch = RootLink


class SupervisedActor(pykka.ThreadingActor):
    """Base class of every supervised actor; reports every exit to its link.

    Exit paths and the reason reported (SUPERVISION.md 2.6, 2.7):

    * stop by the parent (``link.request_shutdown()`` then ``stop()``): Shutdown
    * ``stop()`` by anyone else, including the actor itself: Normal
    * exception in ``on_start``, in a told message, or in ``on_stop``: Error(exc)
    * :meth:`exit` with an explicit reason (used by supervisors to escalate)

    An exception raised while handling an *ask* goes back to the caller and the actor
    lives on (Pykka's rule, 2.3 #2). An actor that finds its own state broken should call
    :meth:`crash` so that its supervisor restarts it. Never raise a ``BaseException``:
    Pykka then stops every actor in the process (2.3 #7).

    Every supervised actor runs on a daemon thread. The tree is stopped explicitly, leaves
    first, so a daemon thread is never cut short in an orderly stop; but a child that
    did not stop within its shutdown timeout is *abandoned* (Pykka cannot kill a thread,
    SUPERVISION.md 1.9), and on a non-daemon thread it would keep the process alive after
    everything else stopped. OTP's ``exit(Child, kill)`` cannot be ported; not outliving
    the process is the part of it that can.

    Args:
        link: the link its parent passed to the spec's ``start`` callable.
    """

    use_daemon_thread = True

    def __init__(self, link: Link) -> None:
        super().__init__()
        self.link = link
        self._exit_reason: ExitReason | None = None
        link.attach(self.actor_urn)

    def crash(self, exc: Exception) -> None:
        """Fail with ``exc`` through the normal tell path, as a fault drill or on purpose."""
        self.actor_ref.tell(_Crash(exc))

    def exit(self, reason: ExitReason) -> None:
        """Stop now, skipping the queued messages, and report ``reason``; call from the actor.

        Like Erlang's ``exit(Reason)``. Queued asks get ``ActorDeadError``.
        """
        if self.actor_stopped.is_set():
            return
        if self._exit_reason is None:
            self._exit_reason = reason
        self._stop()

    def _handle_receive(self, message: object) -> object:
        if isinstance(message, Ready):
            return True
        if isinstance(message, _Crash):
            raise message.exc
        try:
            return super()._handle_receive(message)
        except Exception:
            raise
        except BaseException as exc:
            # Pykka answers this with stop_all(); at least report which actor caused it.
            self._record(exc)
            raise

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exception_value is not None:
            self._record(exception_value)
        super()._handle_failure(exception_type, exception_value, traceback)

    def _actor_loop(self) -> None:
        try:
            super()._actor_loop()
        except BaseException as exc:
            self._record(exc)
            raise
        finally:
            self.link.notify(self._final_reason())

    def _record(self, exc: BaseException) -> None:
        # The first failure is the reason; later ones (e.g. in on_failure) are symptoms.
        if self._exit_reason is None:
            self._exit_reason = Error(exc)

    def _final_reason(self) -> ExitReason:
        if self._exit_reason is not None:
            return self._exit_reason
        return Shutdown() if self.link.shutdown_requested else Normal()

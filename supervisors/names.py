"""Global names: the port's registered names, which follow a child across restarts.

A Pykka restart creates a new actor with a new URN, and old refs raise
``ActorDeadError`` (SUPERVISION.md 1.9, 2.3 #5). Callers therefore hold *names*:
supervisors write the current ref of each child into a :class:`Directory` on every
(re)start and clear it on exit, and a :class:`Handle` resolves the name on every call.

Deviation: OTP's registered names are one global table. Here a directory can nest others
(:meth:`Directory.namespace`), so a supervisor whose children are named at run time (by a
user, say) registers them in a name space of their own, where no name can collide with a
fixed one.
"""

from __future__ import annotations

import threading
from typing import Any, Self

import pykka

from supervisors.errors import NameTaken, NotRunning

DEFAULT_RESTART_WAIT = 1.0
"""Seconds a Handle waits for a restarted incarnation before giving up on a retry."""


class Directory:
    """Thread-safe map of global name to the current ``ActorRef``.

    Only supervisors write to it; anyone reads it from any thread without a mailbox round
    trip. The lock is held only for dict operations, never across a Pykka call.
    """

    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._namespaces: dict[str, Self] = {}
        self._changed = threading.Condition()

    def namespace(self, name: str) -> Self:
        """The directory nested under ``name``, created on first use and then kept.

        Hand it to a supervisor as its directory and its children's names live apart from
        this directory's names: a child called like one registered here takes nothing from
        it. Looking a name up in a nested directory costs what it costs here.
        """
        with self._changed:
            nested = self._namespaces.get(name)
            if nested is None:
                nested = self._namespaces[name] = self._nested()
            return nested

    def namespaces(self) -> dict[str, Self]:
        """Every nested directory created so far, by name."""
        with self._changed:
            return dict(self._namespaces)

    def _nested(self) -> Self:
        """A new, empty directory of this directory's kind (subclasses carry their options)."""
        return type(self)()

    def register(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Map ``name`` to ``ref``, replacing a dead incarnation.

        Raises:
            NameTaken: if another live actor holds the name.
        """
        with self._changed:
            current = self._refs.get(name)
            if current is not None and current.is_alive() and current.actor_urn != ref.actor_urn:
                raise NameTaken(f"{name!r} is registered to {current}")
            self._refs[name] = ref
            self._changed.notify_all()

    def unregister(self, name: str, urn: str | None = None) -> bool:
        """Remove ``name``, only if it still maps to ``urn`` when one is given.

        Returns:
            Whether an entry was removed.
        """
        with self._changed:
            current = self._refs.get(name)
            if current is None or (urn is not None and current.actor_urn != urn):
                return False
            del self._refs[name]
            self._changed.notify_all()
            return True

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        """The ref registered under ``name``, or None. It may have died since."""
        with self._changed:
            return self._refs.get(name)

    def names(self) -> frozenset[str]:
        """Every registered name."""
        with self._changed:
            return frozenset(self._refs)

    def wait_for_successor(
        self, name: str, urn: str | None, timeout: float
    ) -> pykka.ActorRef[Any] | None:
        """Wait until ``name`` maps to a live actor other than ``urn`` (any, if None).

        Returns:
            The new ref, or None if none appeared within ``timeout`` seconds.
        """

        def successor() -> pykka.ActorRef[Any] | None:
            ref = self._refs.get(name)
            if ref is not None and ref.actor_urn != urn and ref.is_alive():
                return ref
            return None

        with self._changed:
            return self._changed.wait_for(successor, timeout=timeout)


class Handle:
    """A name-based handle that always reaches the current incarnation.

    Never cache the ``ref()`` or ``proxy()`` it returns across calls: after a restart
    they point at the dead actor.

    Args:
        directory: where supervisors register the name.
        name: the child id to reach.
        restart_wait: how long a retry waits for the supervisor to restart the child.
    """

    def __init__(
        self, directory: Directory, name: str, restart_wait: float = DEFAULT_RESTART_WAIT
    ) -> None:
        self._directory = directory
        self.name = name
        self._restart_wait = restart_wait

    def __repr__(self) -> str:
        return f"Handle({self.name!r})"

    def ref(self) -> pykka.ActorRef[Any]:
        """The current incarnation's ref.

        Raises:
            NotRunning: if nothing is registered under the name.
        """
        ref = self._directory.lookup(self.name)
        if ref is None:
            raise NotRunning(f"{self.name!r} is not running")
        return ref

    def registered(self) -> pykka.ActorRef[Any] | None:
        """The ref registered under the name right now, alive or not; never waits."""
        return self._directory.lookup(self.name)

    def proxy(self) -> pykka.ActorProxy[Any]:
        """A proxy for the current incarnation; use it for one call, then drop it.

        Raises:
            NotRunning: if nothing is registered under the name.
        """
        return self.ref().proxy()

    def tell(self, message: object) -> None:
        """Send ``message`` without waiting; at most once.

        If the current incarnation is already dead the tell was not delivered, so it is
        sent once more to the restarted incarnation. A message that was queued when the
        actor crashed is lost (Pykka drops unanswered tells on teardown).

        Raises:
            NotRunning: if no live incarnation appeared within ``restart_wait``.
        """
        ref = self._live_ref()
        try:
            ref.tell(message)
        except pykka.ActorDeadError as exc:
            self._successor(ref.actor_urn, exc).tell(message)

    def ask(self, message: object, timeout: float) -> Any:  # noqa: ANN401 - replies are untyped, as in Pykka
        """Send ``message`` and wait up to ``timeout`` seconds for the reply.

        ``ActorDeadError`` means the message was never processed (SUPERVISION.md 2.4), so
        it is retried once against the restarted incarnation. ``pykka.Timeout`` means the
        outcome is unknown, and is never retried. A missing or dead registration is
        waited on for up to ``restart_wait`` seconds first: the child may be restarting.
        An ``ActorDeadError`` that the handler itself lets escape looks the same and is
        retried too, so handlers should not let one escape.

        Raises:
            NotRunning: if no live incarnation appeared for the retry.
            pykka.Timeout: if no reply came in time.
            pykka.ActorDeadError: if the retry also found the actor dead.
            Exception: whatever the actor's handler raised.
        """
        ref = self._live_ref()
        try:
            return ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError as exc:
            return self._successor(ref.actor_urn, exc).ask(message, timeout=timeout)

    def _live_ref(self) -> pykka.ActorRef[Any]:
        # A supervisor clears the name between an exit and the restart, so a missing or
        # dead entry is waited on (bounded) before giving up.
        ref = self._directory.lookup(self.name)
        if ref is not None and ref.is_alive():
            return ref
        return self._successor(None if ref is None else ref.actor_urn, None)

    def _successor(
        self, dead_urn: str | None, exc: pykka.ActorDeadError | None
    ) -> pykka.ActorRef[Any]:
        ref = self._directory.wait_for_successor(self.name, dead_urn, self._restart_wait)
        if ref is None:
            raise NotRunning(f"{self.name!r} is not running") from exc
        return ref

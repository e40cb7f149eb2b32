"""Incarnation records: when each child of the tree started, how often, and why it exited.

The supervisors know the current ref of each child but keep no history, and Pykka gives
every restart a new actor with a new URN (SUPERVISION.md 1.9). Operators want to see
restart counts and the last exit reason, so :class:`Incarnations` watches the two places
every (re)start and exit already goes through:

* it *is* the tree's :class:`~supervisors.Directory`: supervisors register a child's ref
  on every (re)start and unregister it on every exit, which stamps start and exit times;
* :meth:`Incarnations.track` wraps a child spec's ``start`` so the incarnation's
  :class:`~supervisors.Link` is kept, and the link holds the exit reason.

A child that only ever started once has ``restarts == 0``. Every later start counts, also
when the child was restarted because its parent supervisor restarted. :meth:`forget`
resets a child whose removal was asked for (admin removal, reload), so a worker re-added
later starts from zero.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from cortex.crossing import ActorRef
from supervisors import ChildSpec, Directory, Link
from supervisors.reasons import ExitReason

MAX_TRACKED_LINKS = 4
"""Links kept per child (current plus a few predecessors whose reason may arrive late)."""


@dataclass(frozen=True, slots=True)
class Incarnation:
    """What is known about one child name, as a frozen snapshot.

    Attributes:
        name: the child id (its global name).
        urn: the current (or last) incarnation's URN.
        starts: how many incarnations were registered since it was first started.
        started_at: wall-clock time the current (or last) incarnation registered.
        exited_at: wall-clock time of the last exit, if any.
        last_exit: the last exit reason, if any incarnation has exited.
    """

    name: str
    urn: str | None = None
    starts: int = 0
    started_at: float | None = None
    exited_at: float | None = None
    last_exit: ExitReason | None = None

    @property
    def restarts(self) -> int:
        """Starts after the first one."""
        return max(0, self.starts - 1)


@dataclass(slots=True)
class _Record:
    urn: str | None = None
    starts: int = 0
    started_at: float | None = None
    exited_at: float | None = None
    exited_urn: str | None = None
    links: dict[str, Link] = dataclasses.field(default_factory=dict)


class Incarnations(Directory):
    """A Directory that also remembers each name's incarnations.

    Args:
        wall_clock: source of the times shown to operators (injectable for tests).
    """

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = wall_clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def _nested(self) -> Self:
        """A nested name space keeps its own records, on the same wall clock."""
        return type(self)(self._clock)

    def register(self, name: str, ref: ActorRef[Any]) -> None:
        """Register as a Directory does, then count a new incarnation."""
        super().register(name, ref)
        with self._lock:
            record = self._records.setdefault(name, _Record())
            if record.urn != ref.actor_urn:
                record.urn = ref.actor_urn
                record.starts += 1
                record.started_at = self._clock()

    def unregister(self, name: str, urn: str | None = None) -> bool:
        """Unregister as a Directory does, stamping the exit time of that incarnation."""
        removed = super().unregister(name, urn)
        if removed:
            with self._lock:
                record = self._records.get(name)
                if record is not None and (urn is None or urn == record.urn):
                    record.exited_at = self._clock()
                    record.exited_urn = record.urn
        return removed

    def track(self, spec: ChildSpec) -> ChildSpec:
        """Return ``spec`` with a ``start`` that keeps each incarnation's link.

        The link is what the child reports its exit reason on; keeping it lets
        :meth:`incarnation` show the last exit reason without asking any actor.
        """
        start = spec.start

        def tracked_start(link: Link) -> ActorRef[Any]:
            ref = start(link)
            if isinstance(ref, ActorRef):
                with self._lock:
                    links = self._records.setdefault(spec.id, _Record()).links
                    links[ref.actor_urn] = link
                    while len(links) > MAX_TRACKED_LINKS:
                        del links[next(iter(links))]
            return ref

        return dataclasses.replace(spec, start=tracked_start)

    def forget(self, name: str) -> None:
        """Drop a child's history (it was removed on purpose)."""
        with self._lock:
            self._records.pop(name, None)

    def incarnation(self, name: str) -> Incarnation:
        """The snapshot of one name (an empty one for names never started)."""
        with self._lock:
            record = self._records.get(name)
            if record is None:
                return Incarnation(name)
            last_exit = _last_exit(record)
            return Incarnation(
                name=name,
                urn=record.urn,
                starts=record.starts,
                started_at=record.started_at,
                exited_at=record.exited_at,
                last_exit=last_exit,
            )


def _last_exit(record: _Record) -> ExitReason | None:
    """The reason of the most recent incarnation that has exited."""
    for link in reversed(record.links.values()):
        if link.reason is not None:
            return link.reason
    return None

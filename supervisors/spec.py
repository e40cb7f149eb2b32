"""Child specifications and supervisor flags, validated on construction.

Mirrors ``check_childspec/2`` and ``check_flags/1`` of ``supervisor.erl``: a bad spec is
rejected before anything starts. ``modules`` (hot upgrades) and ``significant`` /
``auto_shutdown`` are not ported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from supervisors.errors import DuplicateChild

if TYPE_CHECKING:
    import pykka

    from supervisors.link import Link


class Restart(StrEnum):
    """When a child is restarted (OTP's ``restart`` key)."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class Strategy(StrEnum):
    """Which children restart together when one exits (OTP's ``strategy`` flag)."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class ChildType(StrEnum):
    """Whether a child is a worker or a supervisor; picks the default shutdown."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"


class _DefaultShutdown(float):
    """Marks an omitted ``shutdown`` so the default can depend on ``type``."""

    __slots__ = ()


_DEFAULT_SHUTDOWN = _DefaultShutdown(5.0)
BRUTAL_KILL = 0.0
"""``shutdown`` value meaning OTP's ``brutal_kill``: send stop, do not wait, forget."""


@dataclass(frozen=True, slots=True)
class SupFlags:
    """Supervisor flags; defaults mirror ``?default_flags`` (one_for_one, 1, 5).

    Args:
        strategy: the restart strategy.
        intensity: restarts allowed within ``period``; 0 means the first restart gives up.
        period: the sliding window in seconds, > 0.

    Raises:
        ValueError: if a value is out of range.
    """

    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 1
    period: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, Strategy):
            raise TypeError(f"strategy must be a Strategy, got {self.strategy!r}")
        if isinstance(self.intensity, bool) or not isinstance(self.intensity, int):
            raise TypeError(f"intensity must be an int, got {self.intensity!r}")
        if self.intensity < 0:
            raise ValueError(f"intensity must be >= 0, got {self.intensity}")
        if not _is_number(self.period) or not math.isfinite(self.period) or self.period <= 0:
            raise ValueError(f"period must be a finite number > 0, got {self.period!r}")


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start and stop one child; mirrors ``child_spec()``.

    Args:
        id: unique within its supervisor; also the child's global name in the Directory.
        start: called with the child's :class:`~supervisors.link.Link`; must start a
            :class:`~supervisors.link.SupervisedActor` built with that link and return its
            ref. It need not wait for readiness: the supervisor asks ``Ready`` itself.
        restart: permanent, transient or temporary.
        shutdown: seconds to wait for a graceful stop; ``None`` waits forever (the default
            for supervisors, as OTP insists); ``0`` is brutal_kill. Defaults to 5.0 for
            workers.
        type: worker or supervisor.

    Raises:
        ValueError: if ``id`` is empty or ``shutdown`` is negative or not finite.
        TypeError: if a field has the wrong type.
    """

    id: str
    start: Callable[[Link], pykka.ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = _DEFAULT_SHUTDOWN
    type: ChildType = ChildType.WORKER

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"child id must be a non-empty str, got {self.id!r}")
        if not callable(self.start):
            raise TypeError(f"start of {self.id!r} must be callable")
        if not isinstance(self.restart, Restart):
            raise TypeError(f"restart of {self.id!r} must be a Restart, got {self.restart!r}")
        if not isinstance(self.type, ChildType):
            raise TypeError(f"type of {self.id!r} must be a ChildType, got {self.type!r}")
        if isinstance(self.shutdown, _DefaultShutdown):
            default = None if self.type is ChildType.SUPERVISOR else float(self.shutdown)
            object.__setattr__(self, "shutdown", default)
        elif self.shutdown is not None and (
            not _is_number(self.shutdown) or not math.isfinite(self.shutdown) or self.shutdown < 0
        ):
            raise ValueError(
                f"shutdown of {self.id!r} must be None or a finite number >= 0, "
                f"got {self.shutdown!r}"
            )


def check_child_specs(specs: Sequence[ChildSpec]) -> tuple[ChildSpec, ...]:
    """Validate a supervisor's start spec; mirrors ``check_startspec/2``.

    Raises:
        DuplicateChild: if two specs share an id.
        TypeError: if an element is not a ChildSpec.
    """
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, ChildSpec):
            raise TypeError(f"expected a ChildSpec, got {spec!r}")
        if spec.id in seen:
            raise DuplicateChild(f"duplicate child id {spec.id!r}")
        seen.add(spec.id)
    return tuple(specs)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

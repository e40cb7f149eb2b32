"""Pure restart planning: which children a strategy stops and starts after one exits.

Mirrors ``restart/3`` of ``supervisor.erl``. Children are identified by id and given in
start order; the supervisor executes the plan (stops in the given order, then starts in
the given order).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from supervisors.spec import Strategy


@dataclass(frozen=True, slots=True)
class RestartPlan:
    """What to do after ``failed`` exited.

    Attributes:
        stop: siblings to terminate, in termination (reverse start) order.
        drop: temporary siblings among ``stop`` whose specs are deleted, not restarted
            (``terminate_children/2``: "Temporary children should not be restarted").
        start: children to start, in start order (the failed child included).
    """

    stop: tuple[str, ...]
    drop: tuple[str, ...]
    start: tuple[str, ...]


def termination_order(order: Sequence[str]) -> tuple[str, ...]:
    """Children in the order a supervisor stops them: reverse start order."""
    return tuple(reversed(order))


def plan_restart(
    strategy: Strategy, order: Sequence[str], failed: str, temporary: Collection[str] = ()
) -> RestartPlan:
    """Plan the restart of ``failed`` under ``strategy``.

    Args:
        strategy: the supervisor's strategy.
        order: every child id, in start order; must contain ``failed``.
        failed: the child that exited and is to be restarted (never temporary).
        temporary: ids of temporary children, which are stopped but never restarted.

    Returns:
        The plan. one_for_one touches only ``failed``; one_for_all stops every other
        child; rest_for_one stops the children started after ``failed``.

    Raises:
        ValueError: if ``failed`` is not in ``order``.
    """
    if failed not in order:
        raise ValueError(f"unknown child {failed!r}")
    if strategy is Strategy.ONE_FOR_ONE:
        return RestartPlan(stop=(), drop=(), start=(failed,))
    if strategy is Strategy.ONE_FOR_ALL:
        affected = [child for child in order if child != failed]
    else:
        affected = list(order[order.index(failed) + 1 :])
    stop = termination_order(affected)
    drop = tuple(child for child in stop if child in temporary)
    kept = tuple(child for child in affected if child not in temporary)
    if strategy is Strategy.ONE_FOR_ALL:
        start = tuple(child for child in order if child == failed or child in kept)
    else:
        start = (failed, *kept)
    return RestartPlan(stop=stop, drop=drop, start=start)

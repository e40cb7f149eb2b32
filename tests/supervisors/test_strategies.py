"""plan_restart mirrors restart/3: which siblings stop and start, without threads."""

from __future__ import annotations

import pytest

from supervisors import RestartPlan, Strategy, plan_restart, termination_order

ORDER = ("a", "b", "c", "d")


def test_one_for_one_restarts_only_the_failed_child() -> None:
    assert plan_restart(Strategy.ONE_FOR_ONE, ORDER, "b") == RestartPlan((), (), ("b",))


def test_one_for_all_stops_the_others_in_reverse_and_starts_all_in_order() -> None:
    plan = plan_restart(Strategy.ONE_FOR_ALL, ORDER, "b")

    assert plan == RestartPlan(stop=("d", "c", "a"), drop=(), start=("a", "b", "c", "d"))


def test_rest_for_one_stops_the_later_children_in_reverse_and_restarts_from_the_failed_one() -> (
    None
):
    plan = plan_restart(Strategy.REST_FOR_ONE, ORDER, "b")

    assert plan == RestartPlan(stop=("d", "c"), drop=(), start=("b", "c", "d"))


def test_rest_for_one_on_the_last_child_touches_no_sibling() -> None:
    assert plan_restart(Strategy.REST_FOR_ONE, ORDER, "d") == RestartPlan((), (), ("d",))


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_temporary_siblings_are_stopped_and_dropped_not_restarted(strategy: Strategy) -> None:
    plan = plan_restart(strategy, ORDER, "b", temporary={"c"})

    assert "c" in plan.stop
    assert plan.drop == ("c",)
    assert "c" not in plan.start


def test_an_unknown_child_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown child"):
        plan_restart(Strategy.ONE_FOR_ONE, ORDER, "z")


def test_termination_order_is_reverse_start_order() -> None:
    assert termination_order(ORDER) == ("d", "c", "b", "a")

"""FaultPlan: which request gets which fault, without any server."""

from __future__ import annotations

import pytest

from cortex.simulated import ErrorKind, Fault, FaultPlan


def faults_of(plan: FaultPlan, key: str | None, count: int, *, probe: bool = False) -> list[Fault]:
    rules = [plan.take(key, probe=probe) for _ in range(count)]
    return [rule.fault if rule else Fault.NONE for rule in rules]


def test_an_empty_plan_answers_every_request_normally() -> None:
    assert faults_of(FaultPlan(), "k", 3) == [Fault.NONE] * 3


def test_times_limits_how_many_requests_get_the_fault() -> None:
    plan = FaultPlan()
    plan.set_fault(Fault.SERVER_ERROR, times=2)
    assert faults_of(plan, "k", 3) == [Fault.SERVER_ERROR, Fault.SERVER_ERROR, Fault.NONE]


def test_a_fault_without_times_stays_until_cleared() -> None:
    plan = FaultPlan()
    plan.set_fault(Fault.HANG)
    assert faults_of(plan, "k", 4) == [Fault.HANG] * 4
    plan.clear()
    assert faults_of(plan, "k", 1) == [Fault.NONE]


def test_a_key_specific_fault_hits_only_that_key_and_wins_over_the_global_one() -> None:
    plan = FaultPlan()
    plan.set_fault(Fault.OVERLOADED)
    plan.set_fault(Fault.QUOTA, key="a", times=1)
    assert faults_of(plan, "a", 2) == [Fault.QUOTA, Fault.OVERLOADED]
    assert faults_of(plan, "b", 1) == [Fault.OVERLOADED]


def test_setting_none_removes_the_rule_for_that_key() -> None:
    plan = FaultPlan()
    plan.set_fault(Fault.QUOTA, key="a")
    plan.set_fault(Fault.NONE, key="a")
    assert faults_of(plan, "a", 1) == [Fault.NONE]


def test_rate_limit_every_hits_every_nth_request_of_each_key() -> None:
    plan = FaultPlan()
    plan.set_rate_limit_every(3, retry_after=2.5)
    assert faults_of(plan, "a", 6) == [Fault.NONE, Fault.NONE, Fault.RATE_LIMIT] * 2
    assert faults_of(plan, "b", 3) == [Fault.NONE, Fault.NONE, Fault.RATE_LIMIT]
    rule = [plan.take("b", probe=False) for _ in range(3)][-1]
    assert rule is not None
    assert rule.retry_after == 2.5


def test_rate_limit_every_for_one_key_spares_the_others() -> None:
    plan = FaultPlan()
    plan.set_rate_limit_every(2, key="a")
    assert faults_of(plan, "a", 2) == [Fault.NONE, Fault.RATE_LIMIT]
    assert faults_of(plan, "b", 2) == [Fault.NONE, Fault.NONE]


def test_probes_are_spared_unless_the_rule_says_so() -> None:
    plan = FaultPlan()
    plan.set_fault(Fault.SERVER_ERROR, times=1)
    plan.set_rate_limit_every(1)
    assert faults_of(plan, "k", 1, probe=True) == [Fault.NONE]
    plan.set_fault(Fault.SERVER_ERROR, times=1, probes=True)
    assert faults_of(plan, "k", 2, probe=True) == [Fault.SERVER_ERROR, Fault.NONE]


@pytest.mark.parametrize("times", [0, -1])
def test_times_must_be_positive(times: int) -> None:
    with pytest.raises(ValueError, match="times"):
        FaultPlan().set_fault(Fault.HANG, times=times)


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every"):
        FaultPlan().set_rate_limit_every(0)


def test_the_plan_counts_the_faults_it_dealt_until_cleared() -> None:
    plan = FaultPlan()
    plan.set_fault(Fault.ENDS_EARLY, times=2)
    plan.set_rate_limit_every(3)
    faults_of(plan, "k", 4)
    assert plan.dealt() == {Fault.ENDS_EARLY: 2, Fault.RATE_LIMIT: 1}
    plan.clear()
    assert plan.dealt() == {}


def test_only_status_faults_map_to_an_error_response() -> None:
    assert Fault.RATE_LIMIT.error_kind is ErrorKind.RATE_LIMIT
    assert Fault.OVERLOADED.error_kind is ErrorKind.OVERLOADED
    assert Fault.HANG.error_kind is None
    assert Fault.DROP_MID_STREAM.error_kind is None


def test_a_probe_only_fault_spares_chat_requests() -> None:
    plan = FaultPlan()
    plan.set_fault(Fault.DRIP_FEED, probes=True, chat=False)
    assert faults_of(plan, "k", 2) == [Fault.NONE] * 2
    assert faults_of(plan, "k", 2, probe=True) == [Fault.DRIP_FEED] * 2


def test_a_fault_for_neither_chat_nor_probes_is_refused() -> None:
    with pytest.raises(ValueError, match="chat requests, probes or both"):
        FaultPlan().set_fault(Fault.HANG, chat=False)

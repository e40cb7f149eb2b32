"""ChildSpec and SupFlags are validated on construction, like check_childspec/2."""

from __future__ import annotations

from typing import Any

import pytest

from supervisors import (
    ChildSpec,
    ChildType,
    DuplicateChild,
    Link,
    Restart,
    Strategy,
    SupFlags,
    check_child_specs,
)


def _start(link: Link) -> Any:
    raise AssertionError("never started")


def test_flags_default_to_one_for_one_with_one_restart_in_five_seconds() -> None:
    assert SupFlags() == SupFlags(Strategy.ONE_FOR_ONE, 1, 5.0)


@pytest.mark.parametrize("kwargs", [{"intensity": -1}, {"period": 0}, {"period": float("inf")}])
def test_flags_out_of_range_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SupFlags(**kwargs)


def test_a_worker_defaults_to_permanent_with_a_five_second_shutdown() -> None:
    spec = ChildSpec("w", _start)

    assert (spec.restart, spec.shutdown, spec.type) == (Restart.PERMANENT, 5.0, ChildType.WORKER)


def test_a_supervisor_child_defaults_to_an_infinite_shutdown() -> None:
    assert ChildSpec("s", _start, type=ChildType.SUPERVISOR).shutdown is None


def test_an_explicit_shutdown_wins_over_the_type_default() -> None:
    assert ChildSpec("s", _start, shutdown=2.0, type=ChildType.SUPERVISOR).shutdown == 2.0


@pytest.mark.parametrize("shutdown", [-1.0, float("inf"), float("nan")])
def test_a_bad_shutdown_is_rejected(shutdown: float) -> None:
    with pytest.raises(ValueError, match="shutdown"):
        ChildSpec("w", _start, shutdown=shutdown)


def test_an_empty_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        ChildSpec("", _start)


def test_a_restart_given_as_a_plain_string_is_rejected() -> None:
    with pytest.raises(TypeError, match="Restart"):
        ChildSpec("w", _start, restart="permanent")  # type: ignore[arg-type]


def test_duplicate_child_ids_are_rejected() -> None:
    with pytest.raises(DuplicateChild, match="'w'"):
        check_child_specs([ChildSpec("w", _start), ChildSpec("w", _start)])

"""Exit reasons and the transient restart rule of do_restart/3."""

from __future__ import annotations

import pytest

from supervisors import Abandoned, Error, ExitReason, Normal, Shutdown, is_normal_exit


@pytest.mark.parametrize(
    "reason", [Normal(), Shutdown(), Shutdown("reached_max_restart_intensity")]
)
def test_normal_and_shutdown_are_normal_exits(reason: ExitReason) -> None:
    assert is_normal_exit(reason)


@pytest.mark.parametrize("reason", [Error(ValueError("x")), Abandoned()])
def test_errors_and_abandoned_stops_are_abnormal_exits(reason: ExitReason) -> None:
    assert not is_normal_exit(reason)


def test_reasons_render_like_otp_terms_in_logs() -> None:
    assert [str(r) for r in (Normal(), Shutdown("x"), Error(ValueError("v")), Abandoned())] == [
        "normal",
        "shutdown: x",
        "error: ValueError('v')",
        "abandoned",
    ]

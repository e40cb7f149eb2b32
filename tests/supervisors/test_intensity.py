"""RestartIntensity mirrors add_restart/1: one window per supervisor, a fake clock."""

from __future__ import annotations

import pytest

from supervisors import RestartIntensity


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("intensity", [0, 1, 3])
def test_exactly_intensity_restarts_are_allowed_within_the_period(intensity: int) -> None:
    window = RestartIntensity(intensity, 5.0, FakeClock())

    allowed = [window.add_restart() for _ in range(intensity)]

    assert all(allowed)
    assert window.add_restart() is False


@pytest.mark.parametrize("intensity", [1, 3])
def test_restarts_older_than_the_period_are_forgotten(intensity: int) -> None:
    clock = FakeClock()
    window = RestartIntensity(intensity, 5.0, clock)
    for _ in range(intensity):
        assert window.add_restart()

    clock.now += 5.1

    assert window.add_restart()
    assert len(window.restarts) == 1


def test_a_restart_exactly_one_period_ago_still_counts() -> None:
    clock = FakeClock()
    window = RestartIntensity(1, 5.0, clock)
    assert window.add_restart()

    clock.now += 5.0

    assert window.add_restart() is False


def test_intensity_zero_refuses_the_very_first_restart() -> None:
    assert RestartIntensity(0, 5.0, FakeClock()).add_restart() is False


def test_restarts_spread_wider_than_the_period_never_give_up() -> None:
    clock = FakeClock()
    window = RestartIntensity(1, 1.0, clock)

    results = []
    for _ in range(10):
        results.append(window.add_restart())
        clock.now += 1.5

    assert all(results)

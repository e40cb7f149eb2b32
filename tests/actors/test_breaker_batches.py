"""A batch of successes leaves the breaker exactly as recording them one by one would."""

from __future__ import annotations

import pytest

from actors.breaker import WINDOW_LIMIT, Breaker, BreakerSettings

SETTINGS = BreakerSettings(window=10.0)
OPEN = Breaker(opened_at=1.0, next_trial_at=5.0, consecutive_failures=5, outcomes=((1.0, False),))
FULL = Breaker(outcomes=tuple((float(i) / 100, i % 3 != 0) for i in range(WINDOW_LIMIT)))


@pytest.mark.parametrize(
    ("start", "times"),
    [
        (Breaker(), (1.0, 2.0, 3.0)),
        (OPEN, (6.0, 6.5)),
        (Breaker(outcomes=((0.5, False), (2.0, True))), (11.0, 12.5)),
        (FULL, (2.5, 2.6, 2.7)),
        (Breaker(), (1.0, 30.0)),
        (OPEN, ()),
    ],
)
def test_a_batch_equals_its_successes_recorded_in_turn(
    start: Breaker, times: tuple[float, ...]
) -> None:
    one_by_one = start
    for at in times:
        one_by_one = one_by_one.succeeded(at, SETTINGS)
    assert start.succeeded_at(times, SETTINGS) == one_by_one

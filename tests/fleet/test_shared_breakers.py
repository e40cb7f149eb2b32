"""The pure pieces of the fleet's shared breakers: the gate, news applied, and the events."""

from __future__ import annotations

import pytest

from actors.breaker import Breaker, BreakerSettings, BreakerState
from cortex.fleet.breakers import decode_event, encode_event

SETTINGS = BreakerSettings(failure_threshold=1, cooldown=10.0)
OPEN = Breaker().failed(0.0, SETTINGS)


@pytest.mark.parametrize(
    ("breaker", "now", "state"),
    [
        (OPEN, 5.0, BreakerState.OPEN),
        (OPEN, 11.0, BreakerState.HALF_OPEN),
        (OPEN.gate(), 5.0, BreakerState.OPEN),
        (OPEN.gate(), 11.0, BreakerState.OPEN),  # the cool-down passed, no grant yet
        (OPEN.gate().allow_trial_now(2.0), 2.0, BreakerState.OPEN),  # a probe is no grant
        (OPEN.gate().granted(11.0), 11.0, BreakerState.HALF_OPEN),
        (OPEN.gate().granted(12.0), 12.0, BreakerState.HALF_OPEN),
        (Breaker().granted(3.0), 3.0, BreakerState.CLOSED),  # closed meanwhile: stays so
        (Breaker().opened_elsewhere(1.0, 4.0, "b"), 4.0, BreakerState.OPEN),
        (Breaker().opened_elsewhere(1.0, 4.0, "b"), 6.0, BreakerState.OPEN),
        (Breaker().opened_elsewhere(1.0, 4.0, "b").granted(6.0), 6.0, BreakerState.HALF_OPEN),
        (OPEN.opened_elsewhere(1.0, 4.0, "b").closed_elsewhere(), 2.0, BreakerState.CLOSED),
    ],
)
def test_a_shared_breaker_waits_for_the_fleets_grant_before_its_trial(breaker, now, state):
    assert breaker.state(now) is state


def test_a_breaker_opened_elsewhere_names_the_instance_and_its_cooldown():
    breaker = Breaker().opened_elsewhere(100.0, 2.5, "a1b2")

    assert (breaker.opened_by, breaker.next_trial_at, breaker.gated) == ("a1b2", 102.5, True)


def test_a_local_failure_after_a_remote_opening_makes_the_opening_this_instances():
    breaker = Breaker().opened_elsewhere(0.0, 5.0, "a1b2").failed(1.0, SETTINGS)

    assert (breaker.opened_by, breaker.gated, breaker.next_trial_at) == (None, False, 11.0)


def test_closing_elsewhere_keeps_this_instances_outcomes():
    assert OPEN.closed_elsewhere().outcomes == OPEN.outcomes


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (encode_event("opened", "a", "primary", 2.5), ("opened", "a", "primary", 2.5)),
        (encode_event("closed", "a", "primary"), ("closed", "a", "primary", 0.0)),
        (b"not json", None),
        (b"[1, 2]", None),
        (b'{"event": "exploded", "from": "a", "worker": "w"}', None),
        (b'{"event": "opened", "from": 1, "worker": "w"}', None),
        (b'{"event": "opened", "from": "a", "worker": null}', None),
        (b'{"event": "opened", "from": "a", "worker": "w", "cooldown_ms": -1}', None),
        (b'{"event": "opened", "from": "a", "worker": "w", "cooldown_ms": "9"}', None),
    ],
)
def test_breaker_events_are_read_back_or_refused(raw, decoded):
    assert decode_event(raw) == decoded

"""How a provider actor shares its circuit breaker with the other instances of a fleet.

``actors/`` may not import ``cortex/``, so the provider actor talks to the fleet through
:class:`BreakerPeers`, which :mod:`cortex.fleet.breakers` implements on Redis; without a
fleet the actor has none and its breaker is its own, as before.

The protocol, seen from one worker's actor:

- its breaker opens (or re-opens after a failed trial): it tells :meth:`BreakerPeers.opened`;
  when the fleet takes the breaker over, the actor *gates* it (no trial by the clock);
- its breaker closes (a trial or any attempt succeeded): it tells
  :meth:`BreakerPeers.closed`;
- the fleet tells the actor back, as messages: :class:`BreakerOpenedElsewhere` (skip the
  worker until the cool-down passes), :class:`BreakerClosedElsewhere` (route to it again),
  and :class:`TrialGranted` (this instance takes the fleet's one trial).

What the actor is told from elsewhere is applied and never reported back, so a change
travels once around the fleet, not in a loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

Deliver = Callable[[object], None]
"""Hands a message to a worker's actor (any thread; never blocks)."""


@dataclass(frozen=True, slots=True)
class BreakerOpenedElsewhere:
    """Another instance opened this worker's breaker; it may be tried again in ``cooldown_left``."""

    cooldown_left: float
    by: str


@dataclass(frozen=True, slots=True)
class BreakerClosedElsewhere:
    """Another instance's trial (or attempt) succeeded: the worker is routed to again."""

    by: str


@dataclass(frozen=True, slots=True)
class TrialGranted:
    """This instance holds the fleet's trial of the worker (or the fleet left it to decide)."""


class BreakerPeers(Protocol):
    """The rest of the fleet, as seen by the provider actors' breakers (any thread)."""

    def attach(self, worker: str, deliver: Deliver) -> None:
        """Send news about ``worker`` through ``deliver`` from now on (an actor starting)."""
        ...

    def detach(self, worker: str, deliver: Deliver) -> None:
        """Stop sending through ``deliver`` (an actor stopping; a successor may have attached)."""
        ...

    def opened(self, worker: str, cooldown: float) -> bool:
        """This instance's breaker of ``worker`` opened for ``cooldown`` seconds.

        Returns:
            Whether the fleet takes over the trial (it will send :class:`TrialGranted`);
            False when the shared store is not reachable now, and the breaker stays local.
        """
        ...

    def closed(self, worker: str) -> None:
        """This instance's breaker of ``worker`` closed."""
        ...

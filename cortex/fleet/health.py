"""The shared store's health as counters: what ``/metrics`` and ``/api/fleet`` report.

Kept apart from :mod:`cortex.fleet.store` so reading it (a scrape, a status page) never
imports redis. Only the store's event loop writes it; readers on other threads see plain
integers and a flag, each read whole.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StoreHealth:
    """Whether Redis answers now, and what an outage or overload has cost.

    Attributes:
        available: the last command succeeded (False from the first failure until a ping
            answers again).
        errors: commands that failed or ran out of budget.
        overflowed: writes dropped because the write queue was full.
        dropped: writes dropped because Redis was unavailable (resynchronisation on
            restore makes up for them).
        outages: times the store became unavailable.
    """

    available: bool = True
    errors: int = 0
    overflowed: int = 0
    dropped: int = 0
    outages: int = 0

    def as_json(self) -> dict[str, object]:
        """The counters as a status view shows them."""
        return {
            "available": self.available,
            "errors": self.errors,
            "writes_overflowed": self.overflowed,
            "writes_dropped": self.dropped,
            "outages": self.outages,
        }

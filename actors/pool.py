"""The pool actor: turns a request's model and strategy into an ordered failover plan.

It reads worker views from the board (no round trip to each provider) and applies the
pure planning functions of :mod:`actors.planning`. It remembers its last few plans so
operators can see why a request went where it went.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from actors.board import Board
from actors.messages import PlanRoute
from actors.planning import Candidate, NoWorkerAvailable, RoutingStrategy, build_plan
from actors.workers import HealthStatus
from supervisors import Link, SupervisedActor

RECENT_PLANS = 20


class PoolActor(SupervisedActor):
    """Routes requests across the registered workers."""

    def __init__(self, link: Link, board: Board, strategy: RoutingStrategy) -> None:
        super().__init__(link)
        self._board = board
        self._strategy = strategy
        self.recent: deque[tuple[str | None, tuple[str, ...]]] = deque(maxlen=RECENT_PLANS)

    def on_receive(self, message: object) -> object:
        """Build a plan; planning errors go back to the asker as request errors."""
        match message:
            case PlanRoute(model=model, strategy=strategy):
                plan = self._plan(model, strategy or self._strategy)
                self.recent.append((model, tuple(c.worker for c in plan)))
                return plan
            case _:
                return super().on_receive(message)

    def _plan(self, model: str | None, strategy: RoutingStrategy) -> tuple[Candidate, ...]:
        """Plan over healthy workers; when none is healthy, try them all as a last resort.

        Health is only as fresh as the last probe or attempt, so refusing outright when
        every worker looks down would turn a stale view into an outage. Workers whose keys
        are all resting cost nothing to try: the key manager answers at once.
        """
        views = self._board.views()
        try:
            return build_plan(views, model, strategy)
        except NoWorkerAvailable:
            if not views:
                raise
            hopeful = [dataclasses.replace(v, status=HealthStatus.DEGRADED) for v in views]
            return build_plan(hopeful, model, strategy)

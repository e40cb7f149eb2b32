"""The pool actor: turns a request's model and strategy into an ordered failover plan.

It reads worker views from the board (no round trip to each provider) and applies the
pure planning functions of :mod:`actors.planning`. It owns the few decisions that need
memory across requests: the round-robin turn, which half-open workers already have their
one trial request, and the configured model routes. It remembers its last few plans so
operators can see why a request went where it went.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import deque
from collections.abc import Callable, Mapping

from actors.board import Board
from actors.inventory import canonical
from actors.memory_budget import budgeted
from actors.messages import DescribePool, PlanRoute, SetRouting
from actors.planning import (
    Candidate,
    NoWorkerAvailable,
    Plan,
    PlanContext,
    Route,
    RoutingStrategy,
    build_plan,
    route_fallbacks,
)
from actors.workers import HealthStatus, PlanKind, WorkerView
from supervisors import Link, SupervisedActor

RECENT_PLANS = 20


@dataclasses.dataclass(frozen=True, slots=True)
class PoolSummary:
    """The pool's state for operators: its default strategy and its last plans.

    ``recent`` holds ``(requested model, workers in plan order)``, oldest first.
    """

    strategy: RoutingStrategy
    recent: tuple[tuple[str | None, tuple[str, ...]], ...]


TRIAL_GRANT_SECONDS = 60.0
"""How long a granted half-open trial is awaited before another request may try."""


class PoolActor(SupervisedActor):
    """Routes requests across the registered workers."""

    def __init__(
        self,
        link: Link,
        board: Board,
        strategy: RoutingStrategy,
        routes: Mapping[str, Route] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(link)
        self._board = board
        self._strategy = strategy
        self._routes: Mapping[str, Route] = dict(routes or {})
        self._clock = clock
        self._rng = rng or random.Random()
        self._turn = 0
        self._trials: dict[str, tuple[float, float]] = {}
        # worker -> model -> when a plan last put it first: least recently used to unload.
        self._used: dict[str, dict[str, float]] = {}
        self.recent: deque[tuple[str | None, tuple[str, ...]]] = deque(maxlen=RECENT_PLANS)

    def on_receive(self, message: object) -> object:
        """Build a plan; planning errors go back to the asker as request errors."""
        match message:
            case PlanRoute(model=model, strategy=strategy, pin=pin, kind=kind):
                candidates = self._plan(model, strategy or self._strategy, pin, kind)
                # A pinned request names its worker itself: no route applies to it.
                route = self._routes.get(model) if model and pin is None else None
                candidates = budgeted(
                    candidates, self._board.views(), routed=route is not None, recent=self._used
                )
                self._note_use(candidates)
                self.recent.append((model, tuple(c.worker for c in candidates)))
                fallbacks = route_fallbacks(self._board.views(), route)
                return Plan(
                    candidates,
                    fallbacks,
                    route.continuation if route else None,
                    routed=route is not None,
                )
            case SetRouting(strategy=strategy, routes=routes):
                self._strategy = strategy
                self._routes = dict(routes)
                return None
            case DescribePool():
                return PoolSummary(self._strategy, tuple(self.recent))
            case _:
                return super().on_receive(message)

    def _note_use(self, candidates: tuple[Candidate, ...]) -> None:
        """Remember that the plan's first worker is about to use its model (memory budget)."""
        if candidates:
            first = candidates[0]
            self._used.setdefault(first.worker, {})[canonical(first.model)] = self._clock()

    def _plan(
        self, model: str | None, strategy: RoutingStrategy, pin: str | None, kind: PlanKind
    ) -> tuple[Candidate, ...]:
        """Plan over healthy workers; when none is healthy, try them all as a last resort.

        Health is only as fresh as the last probe or attempt, so refusing outright when
        every worker looks down would turn a stale view into an outage. Workers whose keys
        are all resting cost nothing to try: the key manager answers at once. Open
        breakers are respected even then: they exist so a failing worker costs no time.
        """
        views = self._board.views()
        context = self._context(views)
        self._turn += 1
        try:
            plan = build_plan(views, model, strategy, context, pin=pin, kind=kind)
        except NoWorkerAvailable as exc:
            if not views or all(
                reason not in {s.value for s in HealthStatus} for reason in exc.reasons.values()
            ):
                raise
            hopeful = [
                dataclasses.replace(v, status=HealthStatus.DEGRADED)
                if v.status is not HealthStatus.AVAILABLE
                else v
                for v in views
            ]
            plan = build_plan(hopeful, model, strategy, context, pin=pin, kind=kind)
        by_name = {v.name: v for v in views}
        for candidate in plan:
            opened_at = by_name[candidate.worker].breaker.opened_at
            if candidate.trial and opened_at is not None:
                self._trials[candidate.worker] = (opened_at, context.now)
        return plan

    def _context(self, views: tuple[WorkerView, ...]) -> PlanContext:
        now = self._clock()
        taken = set()
        for view in views:
            grant = self._trials.get(view.name)
            if grant is None:
                continue
            opened_at, granted = grant
            if view.breaker.opened_at == opened_at and now - granted < TRIAL_GRANT_SECONDS:
                taken.add(view.name)
            else:
                del self._trials[view.name]
        return PlanContext(
            now=now,
            turn=self._turn,
            rng=self._rng,
            routes=self._routes,
            trials_taken=frozenset(taken),
        )

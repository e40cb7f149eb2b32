"""Tests of the pool actor: plans built from the board, with a last resort."""

from __future__ import annotations

import pykka
import pytest

from actors.board import Board
from actors.messages import PlanRoute, SetRouting
from actors.planning import Candidate, NoWorkerAvailable, Plan, Route, RoutingStrategy
from actors.pool import PoolActor
from actors.workers import HealthStatus, WorkerConfig, WorkerHealth
from supervisors import Link

WAIT = 5.0
CLOUD = WorkerConfig(
    name="cloud",
    type="groq",
    base_url="http://c",
    api_keys=("k",),
    models=("m",),
    priority=1,
)
LOCAL = WorkerConfig(
    name="local", type="ollama", base_url="http://l", models=("m",), is_local=True, needs_key=False
)


@pytest.fixture
def board() -> Board:
    board = Board()
    board.put_config(CLOUD)
    board.put_config(LOCAL)
    return board


def start_pool(
    board: Board, strategy: RoutingStrategy = RoutingStrategy.PRIORITY
) -> pykka.ActorRef[PoolActor]:
    return PoolActor.start(Link("pool"), board, strategy)


def plan(
    ref: pykka.ActorRef[PoolActor],
    model: str | None = None,
    strategy: RoutingStrategy | None = None,
) -> list[str]:
    result = ref.ask(PlanRoute(model, strategy), timeout=WAIT)
    assert isinstance(result, Plan)
    return [c.worker for c in result.candidates if isinstance(c, Candidate)]


def set_status(board: Board, config: WorkerConfig, status: HealthStatus) -> None:
    board.publish_health(config.name, WorkerHealth(status=status))


def test_a_plan_orders_healthy_workers_by_the_default_strategy(board: Board) -> None:
    assert plan(start_pool(board)) == ["cloud", "local"]


def test_a_strategy_in_the_request_overrides_the_default(board: Board) -> None:
    assert plan(start_pool(board), strategy=RoutingStrategy.LOCAL_FIRST) == ["local", "cloud"]


def test_the_default_strategy_comes_from_the_pool(board: Board) -> None:
    assert plan(start_pool(board, RoutingStrategy.LOCAL_FIRST)) == ["local", "cloud"]


def test_unhealthy_workers_are_left_out_while_another_is_healthy(board: Board) -> None:
    set_status(board, CLOUD, HealthStatus.UNAVAILABLE)
    assert plan(start_pool(board)) == ["local"]


def test_the_plan_follows_the_board_without_a_restart(board: Board) -> None:
    pool = start_pool(board)
    assert plan(pool) == ["cloud", "local"]
    set_status(board, CLOUD, HealthStatus.RATE_LIMITED)
    assert plan(pool) == ["local"]


def test_when_every_worker_is_unavailable_all_are_tried_as_a_last_resort(board: Board) -> None:
    set_status(board, CLOUD, HealthStatus.UNAVAILABLE)
    set_status(board, LOCAL, HealthStatus.QUOTA_EXCEEDED)
    assert plan(start_pool(board)) == ["cloud", "local"]


def test_with_no_worker_at_all_the_asker_gets_no_worker_available() -> None:
    with pytest.raises(NoWorkerAvailable):
        plan(start_pool(Board()))


def test_a_planning_error_leaves_the_pool_running() -> None:
    pool = start_pool(Board())
    with pytest.raises(NoWorkerAvailable):
        plan(pool)
    assert pool.is_alive()


def test_the_pool_remembers_its_recent_plans(board: Board) -> None:
    pool = start_pool(board)
    plan(pool, "m")
    recent = pool.proxy().recent.get(timeout=WAIT)
    assert list(recent) == [("m", ("cloud", "local"))]


def test_round_robin_turns_advance_with_every_plan(board: Board) -> None:
    ref = start_pool(board, RoutingStrategy.ROUND_ROBIN)
    firsts = [plan(ref)[0] for _ in range(4)]
    assert firsts[0] != firsts[1]
    assert firsts[0] == firsts[2]


def test_a_route_plan_carries_the_fallbacks_the_route_names(board: Board) -> None:
    route = Route(
        "smart", ((CLOUD.name, "small"),), {"context_length_exceeded": (LOCAL.name, "big")}
    )
    ref = PoolActor.start(Link("pool"), board, RoutingStrategy.PRIORITY, {"smart": route})
    result = ref.ask(PlanRoute("smart", None), timeout=WAIT)
    assert [(c.worker, c.model) for c in result.candidates] == [(CLOUD.name, "small")]
    assert result.fallbacks["context_length_exceeded"].model == "big"
    assert result.routed is True


def test_a_plan_for_a_model_name_that_is_no_route_is_not_routed(board: Board) -> None:
    result = start_pool(board).ask(PlanRoute("m", None), timeout=WAIT)
    assert isinstance(result, Plan)
    assert result.routed is False


def test_a_pinned_request_asks_its_worker_for_the_model_even_when_a_route_has_that_name(
    board: Board,
) -> None:
    route = Route("smart", ((CLOUD.name, "small"),), {"context_length_exceeded": (CLOUD.name, "b")})
    ref = PoolActor.start(Link("pool"), board, RoutingStrategy.PRIORITY, {"smart": route})
    result = ref.ask(PlanRoute("smart", None, pin=LOCAL.name), timeout=WAIT)
    assert isinstance(result, Plan)
    assert [(c.worker, c.model) for c in result.candidates] == [(LOCAL.name, "smart")]
    assert (dict(result.fallbacks), result.routed) == ({}, False)


def test_set_routing_replaces_the_strategy_and_routes(board: Board) -> None:
    ref = start_pool(board)
    ref.ask(SetRouting(RoutingStrategy.LOCAL_FIRST, {}), timeout=WAIT)
    assert plan(ref)[0] == LOCAL.name

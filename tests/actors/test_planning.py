"""Unit tests for failover planning: model resolution, health filtering and ordering."""

from __future__ import annotations

import pytest

from actors.planning import (
    NO_MODELS,
    ORDERINGS,
    Candidate,
    NoRouteForModel,
    NoWorkerAvailable,
    PlanError,
    RoutingStrategy,
    UnknownWorker,
    build_plan,
)
from actors.workers import HealthStatus, WorkerConfig, WorkerView
from cortex.providers.profiles import PROFILES

PRIORITY = RoutingStrategy.PRIORITY
SKIPPED_STATUSES = [
    HealthStatus.UNAVAILABLE,
    HealthStatus.RATE_LIMITED,
    HealthStatus.QUOTA_EXCEEDED,
]


def worker(
    name: str,
    type_: str = "groq",
    *,
    models: tuple[str, ...] = ("m-default",),
    priority: int | None = None,
    status: HealthStatus = HealthStatus.AVAILABLE,
    discovered: tuple[str, ...] = (),
) -> WorkerView:
    profile = PROFILES[type_]
    config = WorkerConfig(
        name=name,
        type=type_,
        base_url=profile.base_url or "http://upstream",
        api_keys=("secret-key-value-123",),
        models=models,
        priority=profile.priority if priority is None else priority,
        timeout=12.5,
        is_local=profile.local,
        needs_key=profile.needs_key,
    )
    return WorkerView(config=config, status=status, discovered_models=discovered)


def names(plan: tuple[Candidate, ...]) -> list[str]:
    return [c.worker for c in plan]


def reasons_of(
    views: list[WorkerView], model: str | None, pin: str | None = None
) -> dict[str, str]:
    with pytest.raises(NoWorkerAvailable) as caught:
        build_plan(views, model, PRIORITY, pin=pin)
    return caught.value.reasons


DETERMINISTIC = [s for s in RoutingStrategy if s is not RoutingStrategy.RANDOM]

FLEET = [
    worker("ollama-1", "ollama", models=("llama3", "qwen2")),
    worker("groq", "groq", models=("llama3", "mixtral")),
    worker("openai", "openai", models=("gpt-4o",)),
]


# --- model resolution --------------------------------------------------------------


@pytest.mark.parametrize("model", [None, "auto"])
def test_automatic_choice_uses_every_worker(model: str | None) -> None:
    assert names(build_plan(FLEET, model, PRIORITY)) == ["openai", "groq", "ollama-1"]


@pytest.mark.parametrize("model", [None, "auto"])
def test_automatic_choice_asks_each_worker_for_its_default_model(model: str | None) -> None:
    plan = build_plan(FLEET, model, PRIORITY)
    assert [c.model for c in plan] == ["gpt-4o", "llama3", "llama3"]


def test_automatic_choice_skips_workers_without_models() -> None:
    views = [worker("bare", models=()), worker("groq")]
    assert names(build_plan(views, None, PRIORITY)) == ["groq"]


def test_automatic_choice_falls_back_to_discovered_models() -> None:
    views = [worker("ollama-1", "ollama", models=(), discovered=("phi3",))]
    assert [c.model for c in build_plan(views, "auto", PRIORITY)] == ["phi3"]


def test_bare_model_name_routes_to_workers_that_serve_it() -> None:
    plan = build_plan(FLEET, "llama3", PRIORITY)
    assert [(c.worker, c.model) for c in plan] == [("groq", "llama3"), ("ollama-1", "llama3")]


def test_bare_model_name_matches_discovered_models() -> None:
    views = [worker("ollama-1", "ollama", models=("a",), discovered=("phi3",))]
    assert names(build_plan(views, "phi3", PRIORITY)) == ["ollama-1"]


def test_pinned_worker_gets_only_that_worker_with_that_model() -> None:
    plan = build_plan(FLEET, "some-unlisted-model", PRIORITY, pin="groq")
    assert [(c.worker, c.model) for c in plan] == [("groq", "some-unlisted-model")]


def test_a_pinned_workers_model_passes_through_as_is() -> None:
    plan = build_plan(FLEET, "meta-llama/Llama-3", PRIORITY, pin="groq")
    assert [(c.worker, c.model) for c in plan] == [("groq", "meta-llama/Llama-3")]


@pytest.mark.parametrize("model", [None, "auto"])
def test_pin_with_no_or_auto_model_uses_the_workers_default(model: str | None) -> None:
    plan = build_plan(FLEET, model, PRIORITY, pin="groq")
    assert [(c.worker, c.model) for c in plan] == [("groq", "llama3")]


def test_slashed_name_without_such_worker_is_a_bare_model_name() -> None:
    views = [worker("together", models=("meta-llama/Llama-3",)), worker("groq")]
    plan = build_plan(views, "meta-llama/Llama-3", PRIORITY)
    assert [(c.worker, c.model) for c in plan] == [("together", "meta-llama/Llama-3")]


def test_candidate_carries_the_workers_settings() -> None:
    (candidate,) = build_plan(FLEET, "gpt-4o", PRIORITY)
    assert candidate == Candidate(
        worker="openai",
        type="openai",
        base_url=PROFILES["openai"].base_url or "",
        model="gpt-4o",
        timeout=12.5,
        needs_key=True,
    )


@pytest.mark.parametrize(
    ("pin", "needs_key"),
    [("ollama-1", False), ("groq", True)],
)
def test_candidate_says_whether_a_key_is_needed(pin: str, needs_key: bool) -> None:
    (candidate,) = build_plan(FLEET, "llama3", PRIORITY, pin=pin)
    assert candidate.needs_key is needs_key


# --- errors ------------------------------------------------------------------------


def test_unserved_model_raises_no_route_for_model() -> None:
    with pytest.raises(NoRouteForModel, match="'gpt-5'") as caught:
        build_plan(FLEET, "gpt-5", PRIORITY)
    assert caught.value.model == "gpt-5"


def test_pin_to_a_missing_worker_raises_unknown_worker() -> None:
    with pytest.raises(UnknownWorker, match="'anthropic'") as caught:
        build_plan(FLEET, "claude-3", PRIORITY, pin="anthropic")
    assert (caught.value.worker, caught.value.model) == ("anthropic", "claude-3")


def test_unknown_worker_is_also_a_missing_route() -> None:
    with pytest.raises(NoRouteForModel):
        build_plan(FLEET, "claude-3", PRIORITY, pin="anthropic")


@pytest.mark.parametrize("error", [NoRouteForModel, UnknownWorker, NoWorkerAvailable])
def test_every_planning_error_is_a_plan_error(error: type[Exception]) -> None:
    assert issubclass(error, PlanError)


@pytest.mark.parametrize("status", SKIPPED_STATUSES)
def test_unhealthy_pinned_worker_raises_with_its_reason(status: HealthStatus) -> None:
    views = [worker("groq", status=status), worker("openai", "openai")]
    assert reasons_of(views, "llama3", pin="groq") == {"groq": status.value}


def test_unhealthy_workers_for_a_model_raise_with_each_reason() -> None:
    views = [
        worker("groq", models=("llama3",), status=HealthStatus.RATE_LIMITED),
        worker("ollama-1", "ollama", models=("llama3",), status=HealthStatus.UNAVAILABLE),
        worker("openai", "openai", models=("gpt-4o",)),
    ]
    assert reasons_of(views, "llama3") == {"groq": "rate_limited", "ollama-1": "unavailable"}


def test_automatic_choice_with_nothing_healthy_lists_every_worker() -> None:
    views = [worker("groq", status=HealthStatus.QUOTA_EXCEEDED), worker("bare", models=())]
    assert reasons_of(views, None) == {"groq": "quota_exceeded", "bare": NO_MODELS}


def test_pin_to_a_worker_without_models_and_no_model_raises() -> None:
    assert reasons_of([worker("bare", models=())], None, pin="bare") == {"bare": NO_MODELS}


def test_no_workers_at_all_raises_no_worker_available() -> None:
    with pytest.raises(NoWorkerAvailable, match="no worker is configured"):
        build_plan([], None, PRIORITY)


def test_no_worker_available_message_names_model_and_reasons() -> None:
    views = [worker("groq", models=("llama3",), status=HealthStatus.RATE_LIMITED)]
    with pytest.raises(NoWorkerAvailable) as caught:
        build_plan(views, "llama3", PRIORITY)
    assert str(caught.value) == "no worker available for model 'llama3': groq=rate_limited"


@pytest.mark.parametrize(("model", "expected"), [(None, None), ("auto", None), ("x", "x")])
def test_no_worker_available_records_the_requested_model(
    model: str | None, expected: str | None
) -> None:
    views = [worker("groq", models=("x",), status=HealthStatus.UNAVAILABLE)]
    with pytest.raises(NoWorkerAvailable) as caught:
        build_plan(views, model, PRIORITY)
    assert caught.value.model == expected


# --- health ------------------------------------------------------------------------


@pytest.mark.parametrize("status", SKIPPED_STATUSES)
def test_unhealthy_workers_are_left_out(status: HealthStatus) -> None:
    views = [worker("a", priority=1, status=status), worker("b", priority=2)]
    assert names(build_plan(views, None, PRIORITY)) == ["b"]


@pytest.mark.parametrize("strategy", DETERMINISTIC)
def test_a_degraded_worker_keeps_its_place_so_one_failure_never_abandons_it(
    strategy: RoutingStrategy,
) -> None:
    healthy = [worker(name, priority=i) for i, name in enumerate("abcd", start=1)]
    degraded = [
        worker(v.name, priority=v.config.priority, status=HealthStatus.DEGRADED)
        if v.name in "ac"
        else v
        for v in healthy
    ]
    assert names(build_plan(degraded, None, strategy)) == names(build_plan(healthy, None, strategy))


def test_degraded_workers_are_used_when_nothing_else_is_healthy() -> None:
    views = [
        worker("a", status=HealthStatus.DEGRADED),
        worker("b", status=HealthStatus.UNAVAILABLE),
    ]
    assert names(build_plan(views, None, PRIORITY)) == ["a"]


# --- ordering ----------------------------------------------------------------------


def test_every_strategy_has_an_ordering() -> None:
    assert set(ORDERINGS) == set(RoutingStrategy)


def test_default_strategy_value_is_priority() -> None:
    assert RoutingStrategy("priority") is RoutingStrategy.PRIORITY


def test_priority_orders_by_ascending_priority_then_name() -> None:
    views = [worker("z", priority=5), worker("b", priority=9), worker("a", priority=5)]
    assert names(build_plan(views, None, PRIORITY)) == ["a", "z", "b"]


def test_local_first_puts_local_workers_first_then_priority() -> None:
    views = [
        worker("groq", "groq", priority=1),
        worker("ollama-2", "ollama", priority=60),
        worker("openai", "openai", priority=5),
        worker("ollama-1", "ollama", priority=60),
    ]
    plan = build_plan(views, None, RoutingStrategy.LOCAL_FIRST)
    assert names(plan) == ["ollama-1", "ollama-2", "groq", "openai"]


@pytest.mark.parametrize("strategy", DETERMINISTIC)
def test_plan_does_not_depend_on_input_order(strategy: RoutingStrategy) -> None:
    assert build_plan(FLEET, None, strategy) == build_plan(FLEET[::-1], None, strategy)

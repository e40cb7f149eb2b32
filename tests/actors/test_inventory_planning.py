"""Planning over Ollama inventories: skip instances without the model, loaded ones first."""

from __future__ import annotations

import dataclasses

import pytest

from actors.inventory import ModelEntry, ModelInventory, canonical
from actors.planning import NoRouteForModel, RoutingStrategy, build_plan
from actors.workers import WorkerConfig, WorkerView

PRIORITY = RoutingStrategy.PRIORITY


def ollama(
    name: str,
    *,
    disk: tuple[str, ...] | None,
    loaded: tuple[str, ...] = (),
    models: tuple[str, ...] = ("llama3.1:8b",),
    priority: int = 10,
    similar: bool = False,
) -> WorkerView:
    config = WorkerConfig(
        name,
        "ollama",
        "http://o",
        models=models,
        priority=priority,
        needs_key=False,
        similar_models=similar,
    )
    inventory = (
        None
        if disk is None
        else ModelInventory(
            tuple(ModelEntry(m) for m in disk), tuple(ModelEntry(m) for m in loaded)
        )
    )
    return WorkerView(config=config, inventory=inventory)


def cloud(name: str, model: str, priority: int) -> WorkerView:
    config = WorkerConfig(name, "openai", "http://c", ("k",), models=(model,), priority=priority)
    return WorkerView(config=config)


def plan_for(views: list[WorkerView], model: str) -> list[str]:
    return [c.worker for c in build_plan(views, model, PRIORITY)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama3", "llama3:latest"),
        ("llama3:latest", "llama3:latest"),
        ("llama3.1:8b", "llama3.1:8b"),
        ("library/llama3", "library/llama3:latest"),
        ("host:11434/ns/phi3", "host:11434/ns/phi3:latest"),
    ],
)
def test_canonical_adds_latest_only_without_a_tag(name: str, expected: str) -> None:
    assert canonical(name) == expected


def test_a_model_on_one_instance_of_three_goes_only_there() -> None:
    views = [
        ollama("o1", disk=("qwen2.5:7b",)),
        ollama("o2", disk=("phi3:mini", "qwen2.5:7b")),
        ollama("o3", disk=("llama3.1:8b",)),
    ]
    assert plan_for(views, "phi3:mini") == ["o2"]


def test_an_instance_without_the_model_is_skipped_even_when_configured_with_it() -> None:
    views = [ollama("o1", disk=("qwen2.5:7b",)), ollama("o2", disk=("llama3.1:8b",))]
    assert plan_for(views, "llama3.1:8b") == ["o2"]


def test_no_instance_with_the_model_is_no_route() -> None:
    views = [ollama("o1", disk=("qwen2.5:7b",))]
    with pytest.raises(NoRouteForModel, match=r"llama3\.1:8b"):
        plan_for(views, "llama3.1:8b")


def test_an_unknown_inventory_trusts_the_configured_models() -> None:
    views = [ollama("o1", disk=None), ollama("o2", disk=("qwen2.5:7b",))]
    assert plan_for(views, "llama3.1:8b") == ["o1"]


def test_loaded_instances_come_before_those_with_the_model_on_disk() -> None:
    views = [
        ollama("o1", disk=("m:7b",), priority=1),
        ollama("o2", disk=("m:7b",), loaded=("m:7b",), priority=2),
        ollama("o3", disk=("m:7b",), priority=3),
    ]
    assert plan_for(views, "m:7b") == ["o2", "o1", "o3"]


def test_loaded_first_keeps_other_workers_in_their_places() -> None:
    views = [
        cloud("c", "m:7b", priority=0),
        ollama("o1", disk=("m:7b",), priority=1),
        ollama("o2", disk=("m:7b",), loaded=("m:7b",), priority=2),
    ]
    assert plan_for(views, "m:7b") == ["c", "o2", "o1"]


def test_a_name_without_tag_matches_its_latest() -> None:
    views = [ollama("o1", disk=("mistral:latest",)), ollama("o2", disk=("mistral:7b",))]
    assert plan_for(views, "mistral") == ["o1"]


def test_a_pin_still_goes_to_its_worker() -> None:
    views = [ollama("o1", disk=("qwen2.5:7b",))]
    assert [c.worker for c in build_plan(views, "phi3", PRIORITY, pin="o1")] == ["o1"]


def test_views_keep_their_inventory_when_marked_degraded() -> None:
    view = ollama("o1", disk=("m:7b",))
    assert dataclasses.replace(view, in_flight=1).inventory == view.inventory


def test_a_missing_model_falls_back_to_the_closest_on_workers_that_allow_it() -> None:
    views = [
        ollama("o1", disk=("llama3:8b",), similar=True),
        ollama("o2", disk=("llama3.1:latest",), similar=True),
        ollama("o3", disk=("llama3.1:latest",)),
    ]
    plan = build_plan(views, "llama3.1:8b", PRIORITY)
    assert [(c.worker, c.model, c.substituted_for) for c in plan] == [
        ("o2", "llama3.1:latest", "llama3.1:8b")
    ]


def test_without_similar_models_a_missing_model_is_no_route() -> None:
    views = [ollama("o1", disk=("llama3.1:latest",))]
    with pytest.raises(NoRouteForModel):
        build_plan(views, "llama3.1:8b", PRIORITY)


def test_a_present_model_is_never_substituted() -> None:
    views = [ollama("o1", disk=("llama3.1:8b",), similar=True)]
    (candidate,) = build_plan(views, "llama3.1:8b", PRIORITY)
    assert candidate.substituted_for is None


def test_no_model_of_the_same_lineage_is_no_route() -> None:
    views = [ollama("o1", disk=("qwen2.5:7b",), similar=True)]
    with pytest.raises(NoRouteForModel):
        build_plan(views, "llama3.1:8b", PRIORITY)

"""Memory budgets of Ollama instances: what to unload, which instance first, what to refuse."""

from __future__ import annotations

import dataclasses

import pytest

from actors.inventory import ModelEntry, ModelInventory
from actors.memory_budget import (
    MIB,
    LoadingCandidate,
    ModelTooLarge,
    budgeted,
    free_memory,
    least_recently_used,
    pull_target,
    unloads_for,
)
from actors.planning import Candidate
from actors.workers import HealthStatus, WorkerConfig, WorkerView

GB = 1000 * MIB  # round numbers of MiB keep the tables readable


def entry(name: str, size: int = 3 * GB, expires_at: float | None = None) -> ModelEntry:
    return ModelEntry(name, size=size, expires_at=expires_at)


def inventory(disk: dict[str, int], loaded: dict[str, float | None]) -> ModelInventory:
    """Models on disk with their sizes; loaded ones with their expiry."""
    return ModelInventory(
        tuple(entry(m, s) for m, s in disk.items()),
        tuple(entry(m, disk[m], e) for m, e in loaded.items()),
    )


DISK = {"a:7b": 3 * GB, "b:7b": 3 * GB, "c:7b": 3 * GB, "big:13b": 6 * GB, "huge:70b": 9 * GB}


@pytest.mark.parametrize(
    ("loaded", "model", "budget_gb", "recent", "expected"),
    [
        ({"a:7b": 1.0}, "a:7b", 8, {}, ()),  # loaded already
        ({"a:7b": 1.0}, "b:7b", 8, {}, ()),  # fits next to it
        ({"a:7b": 1.0, "b:7b": 2.0}, "c:7b", 8, {}, ("a:7b",)),  # a expires first
        ({"a:7b": 2.0, "b:7b": 1.0}, "c:7b", 8, {}, ("b:7b",)),
        ({"a:7b": 1.0, "b:7b": 2.0}, "c:7b", 8, {"a:7b:latest": 1.0, "a:7b": 5.0}, ("b:7b",)),
        ({"a:7b": None, "b:7b": 1.0}, "c:7b", 8, {}, ("a:7b",)),  # unknown expiry: oldest
        ({"a:7b": 1.0, "b:7b": 2.0}, "big:13b", 8, {}, ("a:7b", "b:7b")),
        ({"a:7b": 1.0, "b:7b": 2.0}, "big:13b", 9, {}, ("a:7b",)),
        ({}, "huge:70b", 8, {}, None),  # larger than the whole budget
        ({}, "huge:70b", 9, {}, ()),  # exactly the budget fits
        ({"a:7b": 1.0}, "unknown:1b", 8, {}, ()),  # no size known: nothing to make room for
    ],
)
def test_unloads_for_picks_the_least_recently_used_until_the_model_fits(
    loaded: dict[str, float | None],
    model: str,
    budget_gb: int,
    recent: dict[str, float],
    expected: tuple[str, ...] | None,
) -> None:
    held = inventory(DISK, loaded)
    assert unloads_for(held, model, budget_gb * GB, recent) == expected


def test_a_model_the_gateway_used_is_more_recent_than_one_it_never_sent() -> None:
    listed = [entry("a:7b", expires_at=9.0), entry("b:7b", expires_at=1.0), entry("c:7b")]
    order = least_recently_used(listed, {"a:7b": 3.0, "b:7b": 2.0})
    assert [e.name for e in order] == ["c:7b", "b:7b", "a:7b"]


def ollama(name: str, held: ModelInventory | None, budget_mb: int | None = 8 * 1000) -> WorkerView:
    config = WorkerConfig(name, "ollama", "http://o", needs_key=False, max_memory_mb=budget_mb)
    return WorkerView(config=config, inventory=held)


def candidate(worker: str, model: str) -> Candidate:
    return Candidate(worker, "ollama", "http://o", model, 5.0, needs_key=False)


FULL = inventory(DISK, {"a:7b": 1.0, "b:7b": 2.0})
EMPTY = inventory(DISK, {})


def test_a_plan_prefers_an_instance_with_room_and_names_what_the_other_unloads() -> None:
    views = [ollama("full", FULL), ollama("empty", EMPTY), ollama("unknown", None)]
    plan = budgeted(tuple(candidate(v.name, "c:7b") for v in views), views)
    assert [c.worker for c in plan] == ["empty", "full", "unknown"]
    assert [type(c) for c in plan] == [LoadingCandidate, LoadingCandidate, Candidate]
    assert [getattr(c, "unload", None) for c in plan] == [(), ("a:7b",), None]


def test_a_routed_plan_keeps_its_order() -> None:
    views = [ollama("full", FULL), ollama("empty", EMPTY)]
    plan = budgeted(tuple(candidate(v.name, "c:7b") for v in views), views, routed=True)
    assert [c.worker for c in plan] == ["full", "empty"]


def test_a_loaded_model_needs_nothing_and_a_worker_without_budget_is_left_alone() -> None:
    views = [ollama("full", FULL), ollama("free", FULL, budget_mb=None)]
    plan = budgeted((candidate("full", "a:7b"), candidate("free", "c:7b")), views)
    assert [type(c) for c in plan] == [Candidate, Candidate]


def test_a_model_too_large_for_one_instance_goes_to_another() -> None:
    views = [ollama("small", EMPTY), ollama("large", EMPTY, budget_mb=16 * 1000)]
    plan = budgeted(tuple(candidate(v.name, "huge:70b") for v in views), views)
    assert [c.worker for c in plan] == ["large"]


def test_a_model_too_large_for_every_instance_is_refused_with_its_size_and_budget() -> None:
    views = [ollama("small", EMPTY)]
    with pytest.raises(ModelTooLarge) as refused:
        budgeted((candidate("small", "huge:70b"),), views)
    assert str(refused.value) == (
        "model 'huge:70b' needs 9000 MB of memory, more than the 8000 MB memory budget "
        "of small (max_memory_mb)"
    )


@pytest.mark.parametrize(
    ("view", "free"),
    [
        (ollama("w", FULL), 2 * GB),
        (ollama("w", EMPTY), 8 * GB),
        (ollama("w", None), 0),
        (ollama("w", FULL, budget_mb=None), 0),
        (ollama("w", inventory(DISK, {"huge:70b": 1.0})), 0),
    ],
)
def test_free_memory_is_the_budget_less_what_is_loaded(view: WorkerView, free: int) -> None:
    assert free_memory(view) == free


def named(view: WorkerView, name: str, priority: int = 50) -> WorkerView:
    config = WorkerConfig(
        name,
        "ollama",
        "http://o",
        needs_key=False,
        priority=priority,
        max_memory_mb=view.config.max_memory_mb,
    )
    return WorkerView(config=config, inventory=view.inventory, status=view.status)


@pytest.mark.parametrize(
    ("views", "expected"),
    [
        ([named(ollama("", FULL), "full"), named(ollama("", EMPTY), "empty")], "empty"),
        ([named(ollama("", EMPTY), "b"), named(ollama("", EMPTY), "a")], "a"),  # tie: name
        ([named(ollama("", EMPTY), "a", 60), named(ollama("", EMPTY), "b", 10)], "b"),
        ([named(ollama("", FULL), "full"), named(ollama("", None), "unknown")], "full"),
        ([named(ollama("", inventory({**DISK, "new:1b": MIB}, {})), "has")], None),
        ([], None),
    ],
)
def test_a_pull_goes_to_the_instance_with_the_most_free_memory(
    views: list[WorkerView], expected: str | None
) -> None:
    target = pull_target(views, "new:1b")
    assert (target.name if target else None) == expected


def test_an_unhealthy_instance_or_another_type_gets_no_pull() -> None:
    down = dataclasses.replace(named(ollama("", EMPTY), "down"), status=HealthStatus.UNAVAILABLE)
    cloud = WorkerView(config=WorkerConfig("cloud", "openai", "http://c", ("k",)))
    assert pull_target([down, cloud, named(ollama("", FULL), "full")], "new:1b").name == "full"

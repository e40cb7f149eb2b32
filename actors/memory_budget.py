"""Keeping a local model server within its memory budget (Ollama's ``max_memory_mb``).

An Ollama instance loads a model into memory on its first request and keeps it there
for a while; several large models loaded at once can exhaust the machine. A worker with
a budget lets Cortex decide before a request is sent, from the sizes its inventory
reports (:mod:`actors.inventory`):

- an instance with the model loaded needs nothing;
- otherwise the model must fit next to the loaded ones; when it does not, the least
  recently used loaded models are unloaded first (:func:`unloads_for`), and an instance
  that has room without unloading is preferred to one that must unload;
- a model larger than the whole budget can never be loaded there: that candidate is
  refused, and when every candidate is, the request fails with :class:`ModelTooLarge`
  naming the model, its size and the budget, without any upstream call.

The pool applies :func:`budgeted` to the plan :func:`actors.planning.build_plan` made; the
data plane carries out the unloads a :class:`LoadingCandidate` names before its attempt.
Budgets are in MiB (``8192`` is 8 GiB), sizes in bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from actors.inventory import ModelEntry, ModelInventory, canonical
from actors.planning import Candidate, PlanError
from actors.workers import HealthStatus, WorkerView

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoadingCandidate(Candidate):
    """A candidate whose model is not loaded on its instance yet.

    Attributes:
        unload: loaded models to unload first (least recently used first) so it fits.
    """

    unload: tuple[str, ...] = ()


class ModelTooLarge(PlanError):
    """The model is larger than the memory budget of every instance that has it."""

    def __init__(self, model: str, size: int, worker: str, budget_mb: int) -> None:
        super().__init__(
            f"model {model!r} needs {_mib(size)} MB of memory, more than the "
            f"{budget_mb} MB memory budget of {worker} (max_memory_mb)"
        )
        self.model = model
        self.size = size
        self.budget_mb = budget_mb


def _mib(size: int) -> int:
    return -(-size // MIB)


Recency = Mapping[str, float]
"""When the gateway last sent each model to one instance (any clock that only grows), by
canonical name: fresher than the instance's ``expires_at``, which a probe reads."""


def least_recently_used(loaded: Sequence[ModelEntry], recent: Recency) -> list[ModelEntry]:
    """Loaded models, least recently used first.

    A model the gateway sent requests to counts by when it last did, and as more recent
    than any it never sent; among those, the soonest to expire went unused longest (an
    unknown expiry is the oldest). Ties keep the listed order.
    """
    never = float("-inf")

    def last_use(entry: ModelEntry) -> tuple[float, float]:
        expires = never if entry.expires_at is None else entry.expires_at
        return recent.get(canonical(entry.name), never), expires

    return sorted(loaded, key=last_use)


def unloads_for(
    inventory: ModelInventory, model: str, budget: int, recent: Recency | None = None
) -> tuple[str, ...] | None:
    """The loaded models to unload so ``model`` fits in ``budget`` bytes next to the rest.

    Returns:
        ``()`` when it is loaded or fits as is; the least recently used models whose
        unloading makes room otherwise; None when the model alone exceeds the budget.
    """
    if inventory.is_loaded(model):
        return ()
    entry = inventory.entry(model)
    size = entry.size if entry is not None else 0
    if size > budget:
        return None
    used = sum(e.size for e in inventory.loaded)
    unload: list[str] = []
    for victim in least_recently_used(inventory.loaded, recent or {}):
        if used + size <= budget:
            break
        unload.append(victim.name)
        used -= victim.size
    return tuple(unload)


def free_memory(view: WorkerView) -> int:
    """Bytes of the worker's budget its loaded models leave free (0 without a budget)."""
    if view.config.max_memory_mb is None or view.inventory is None:
        return 0
    used = sum(e.size for e in view.inventory.loaded)
    return max(0, view.config.max_memory_mb * MIB - used)


def pull_target(views: Sequence[WorkerView], model: str) -> WorkerView | None:
    """The Ollama instance to pull ``model`` on: the one with the most free memory budget.

    Only healthy instances that reported their models (and lack this one) qualify; ties
    go to the lower priority, then the name. None when there is none.
    """
    able = [
        v
        for v in views
        if v.config.type == "ollama"
        and v.inventory is not None
        and not v.inventory.has(model)
        and v.status in (HealthStatus.AVAILABLE, HealthStatus.DEGRADED)
    ]
    if not able:
        return None
    return min(able, key=lambda v: (-free_memory(v), v.config.priority, v.name))


def budgeted(
    candidates: tuple[Candidate, ...],
    views: Sequence[WorkerView],
    *,
    routed: bool = False,
    recent: Mapping[str, Recency] | None = None,
) -> tuple[Candidate, ...]:
    """The plan's candidates within their instances' memory budgets.

    A candidate whose model is not loaded becomes a :class:`LoadingCandidate` naming what
    to unload (by ``recent`` use, per worker, and then expiry); one whose model exceeds
    the budget is dropped. Unless the plan is a
    route's ordered chain, among budgeted candidates those needing no unload go first.

    Raises:
        ModelTooLarge: every candidate was dropped for exceeding its budget.
    """
    by_name = {v.name: v for v in views}
    kept: list[Candidate] = []
    refused: ModelTooLarge | None = None
    for candidate in candidates:
        view = by_name.get(candidate.worker)
        budget = view.config.max_memory_mb if view is not None else None
        if view is None or view.inventory is None or budget is None:
            kept.append(candidate)
            continue
        used = (recent or {}).get(candidate.worker, {})
        unload = unloads_for(view.inventory, candidate.model, budget * MIB, used)
        if unload is None:
            entry = view.inventory.entry(candidate.model)
            size = entry.size if entry is not None else 0
            refused = ModelTooLarge(candidate.model, size, candidate.worker, budget)
        elif view.inventory.is_loaded(candidate.model):
            kept.append(candidate)
        else:
            copied: dict[str, Any] = {f.name: getattr(candidate, f.name) for f in fields(Candidate)}
            kept.append(LoadingCandidate(**copied, unload=unload))
    if not kept and refused is not None:
        raise refused
    if routed:
        return tuple(kept)
    known = {v.name for v in views if v.config.max_memory_mb is not None and v.inventory}
    return _roomy_first(kept, known)


def _roomy_first(candidates: list[Candidate], budgeted: set[str]) -> tuple[Candidate, ...]:
    """Among budgeted workers, those that must unload something go after the others.

    They swap only among the places budgeted workers that reported their models hold, so
    other workers keep theirs.
    """
    places = [i for i, c in enumerate(candidates) if c.worker in budgeted]
    ordered = sorted((candidates[i] for i in places), key=_must_unload)
    result = list(candidates)
    for place, candidate in zip(places, ordered, strict=True):
        result[place] = candidate
    return tuple(result)


def _must_unload(candidate: Candidate) -> bool:
    return isinstance(candidate, LoadingCandidate) and bool(candidate.unload)

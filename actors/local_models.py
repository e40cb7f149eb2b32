"""Routing by what local model servers (Ollama) hold: loaded models first, similar ones.

The planner (:mod:`actors.planning`) calls these on workers whose provider actor
publishes a :class:`~actors.inventory.ModelInventory`: :func:`loaded_first` puts an
instance with the model in memory before one that must load it from disk, and
:func:`similar_pairs` picks a stand-in (:mod:`actors.similar`) when no instance has the
model at all, among the workers configured with ``similar_models``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from actors.similar import closest_model
from actors.workers import WorkerView

_Entry = TypeVar("_Entry", bound=tuple[WorkerView, str, bool])


def loaded_first(usable: list[_Entry]) -> list[_Entry]:
    """Among workers that report their inventory, those with the model loaded go first.

    ``usable`` holds ``(worker, model, trial)`` entries in the strategy's order. The
    reporting workers swap only among the places they hold, so a loaded Ollama instance
    is preferred to one that must load the model while other workers keep their places.
    """
    places = [i for i, (view, _, _) in enumerate(usable) if view.inventory is not None]
    if len(places) < 2:
        return usable
    reported = sorted((usable[i] for i in places), key=lambda entry: not _is_loaded(entry))
    ordered = list(usable)
    for place, entry in zip(places, reported, strict=True):
        ordered[place] = entry
    return ordered


def _is_loaded(entry: tuple[WorkerView, str, bool]) -> bool:
    view, model, _ = entry
    return view.inventory is not None and view.inventory.is_loaded(model)


def similar_pairs(views: Sequence[WorkerView], requested: str) -> list[tuple[WorkerView, str]]:
    """The workers that allow a substitute and hold the closest model to ``requested``.

    Returns:
        ``(worker, stand-in model)`` pairs; empty when no such worker holds a model of
        the same lineage.
    """
    willing = [v for v in views if v.config.similar_models and v.inventory is not None]
    present = sorted({m for v in willing if v.inventory for m in v.inventory.names()})
    stand_in = closest_model(requested, present)
    if stand_in is None:
        return []
    return [(v, stand_in) for v in willing if v.inventory and v.inventory.has(stand_in)]

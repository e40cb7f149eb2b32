"""What models a local model server (Ollama) holds: on disk, and loaded in memory.

A provider actor whose wire can list both (:class:`actors.wire.InventoryWire`) publishes a
:class:`ModelInventory` with its worker's health at every probe, so the planner can send a
request to an instance that has the model loaded before one that only has it on disk, and
skip instances that do not have it at all, without asking them.

Ollama resolves a name without a tag as ``<name>:latest``; :func:`canonical` does the same,
so ``llama3`` and ``llama3:latest`` are one model here too.
"""

from __future__ import annotations

from dataclasses import dataclass


def canonical(model: str) -> str:
    """The model name as Ollama resolves it: ``:latest`` when no tag is given."""
    tail = model.rsplit("/", 1)[-1]
    return model if ":" in tail else f"{model}:latest"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model an instance holds.

    Attributes:
        name: the model's name as the server lists it (``llama3.1:8b``).
        size: bytes on disk (``/api/tags``) or in memory (``/api/ps``); 0 when not given.
        family: the model family the server reports (``llama``), if any.
        parameter_size: the parameter count the server reports (``8.0B``), if any.
        expires_at: for a loaded model, when the server will unload it (seconds since
            the epoch, from ``/api/ps``): every use pushes it back by the same
            ``keep_alive``, so the soonest to expire is the least recently used.
    """

    name: str
    size: int = 0
    family: str | None = None
    parameter_size: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class ModelInventory:
    """The models one instance has on disk and the ones it has loaded, at the last probe."""

    on_disk: tuple[ModelEntry, ...] = ()
    loaded: tuple[ModelEntry, ...] = ()

    def has(self, model: str) -> bool:
        """Whether the instance can serve ``model`` without pulling it first."""
        wanted = canonical(model)
        return any(canonical(e.name) == wanted for e in (*self.on_disk, *self.loaded))

    def is_loaded(self, model: str) -> bool:
        """Whether ``model`` is in the instance's memory now (no load time to pay)."""
        wanted = canonical(model)
        return any(canonical(e.name) == wanted for e in self.loaded)

    def entry(self, model: str) -> ModelEntry | None:
        """The instance's entry for ``model``, loaded first (its size is the memory it takes)."""
        wanted = canonical(model)
        return next((e for e in (*self.loaded, *self.on_disk) if canonical(e.name) == wanted), None)

    def names(self) -> tuple[str, ...]:
        """Every model the instance can serve, on disk first, each once."""
        return tuple(dict.fromkeys(e.name for e in (*self.on_disk, *self.loaded)))

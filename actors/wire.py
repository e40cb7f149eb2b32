"""What the actors need of a provider's wire format: an HTTP call as data, and a probe.

A provider actor judges its worker's health by listing the upstream's models. It needs
only the three pure functions of :class:`ProbeWire`; the wire adapters (in
:mod:`cortex.providers`) implement them, and the composition root hands each actor its
adapter, so the actors never import the application package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from actors.inventory import ModelInventory
from actors.outcomes import UpstreamFailure


@dataclass(frozen=True, slots=True)
class HttpCall:
    """An HTTP request an adapter wants made, described as data."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, object] | None = None


class ProbeWire(Protocol):
    """The part of a wire format a health probe uses. Implementations are pure."""

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFailure:
        """Classify an unsuccessful HTTP response (status >= 400)."""
        ...

    def models_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build the cheapest request that proves the upstream is up: list its models."""
        ...

    def parse_models(self, body: bytes) -> tuple[str, ...]:
        """Read model names from a successful ``models_call`` response.

        Raises:
            ValueError: the body is not a valid model listing of this format.
        """
        ...


@runtime_checkable
class InventoryWire(Protocol):
    """A wire whose probe also reads which models are on disk and loaded (Ollama).

    The provider actor makes :meth:`loaded_call` after a successful model listing, within
    the same probe deadline, and publishes what :meth:`parse_inventory` reads from both.
    """

    def loaded_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build the request that lists the models loaded in memory."""
        ...

    def warm_call(self, base_url: str, api_key: str | None, model: str) -> HttpCall:
        """Build the request that loads ``model`` and keeps it loaded (no prompt)."""
        ...

    def parse_inventory(self, listing: bytes, loaded: bytes | None) -> ModelInventory:
        """Read the inventory from the model listing and the loaded list (None: unknown).

        Raises:
            ValueError: ``listing`` is not a valid model listing of this format.
        """
        ...

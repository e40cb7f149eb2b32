"""Which adapter speaks for which provider type.

Provider types name a configured worker's API (``"groq"``), not its wire format: several
types share one format. Adapters are stateless, so a fresh instance per call is as good
as a shared one and keeps this module free of module-level objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from cortex.providers.anthropic import AnthropicAdapter
from cortex.providers.base import Adapter
from cortex.providers.cohere import CohereAdapter
from cortex.providers.gemini import GeminiAdapter
from cortex.providers.ollama import OllamaAdapter
from cortex.providers.openai import OpenAIAdapter

_FACTORIES: Mapping[str, Callable[[], Adapter]] = MappingProxyType(
    {
        "openai": OpenAIAdapter,
        "groq": OpenAIAdapter,
        "xai": OpenAIAdapter,
        "ollama": OllamaAdapter,
        "anthropic": AnthropicAdapter,
        "gemini": GeminiAdapter,
        "cohere": CohereAdapter,
    }
)


def provider_types() -> tuple[str, ...]:
    """Every provider type :func:`adapter_for` accepts, sorted."""
    return tuple(sorted(_FACTORIES))


def adapter_for(provider_type: str) -> Adapter:
    """The adapter for a provider type; case and surrounding spaces are ignored.

    Raises:
        ValueError: the type is unknown (the message lists the known ones).
    """
    factory = _FACTORIES.get(provider_type.strip().lower())
    if factory is None:
        known = ", ".join(provider_types())
        raise ValueError(f"unknown provider type {provider_type!r} (known: {known})")
    return factory()

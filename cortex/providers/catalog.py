"""Which adapter speaks for which provider type.

A provider type's profile (:mod:`cortex.providers.profiles`) names its wire format; this
module maps each wire format to the adapter that speaks it, configured by the profile.
Adapters are stateless, so one instance per provider type is shared by every request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType

from cortex.providers.anthropic import AnthropicAdapter
from cortex.providers.base import Adapter
from cortex.providers.cohere import CohereAdapter
from cortex.providers.gemini import GeminiAdapter
from cortex.providers.ollama import OllamaAdapter
from cortex.providers.openai import OpenAIAdapter
from cortex.providers.profiles import PROFILES, ProviderProfile, profile_for

_WIRES: Mapping[str, Callable[[ProviderProfile], Adapter]] = MappingProxyType(
    {
        "openai": lambda profile: OpenAIAdapter(
            endpoints=profile.endpoints, choices=profile.choices
        ),
        "ollama": lambda _profile: OllamaAdapter(),
        "anthropic": lambda _profile: AnthropicAdapter(),
        "gemini": lambda _profile: GeminiAdapter(),
        "cohere": lambda _profile: CohereAdapter(),
    }
)


def wire_formats() -> tuple[str, ...]:
    """Every wire format a profile may name, sorted."""
    return tuple(sorted(_WIRES))


def provider_types() -> tuple[str, ...]:
    """Every provider type :func:`adapter_for` accepts, sorted."""
    return tuple(sorted(PROFILES))


@functools.cache
def adapter_for(provider_type: str) -> Adapter:
    """The adapter for a provider type; case and surrounding spaces are ignored.

    Adapters are stateless, so one per type serves every request (cached: the data plane
    asks for one per attempt and per fit check).

    Raises:
        ValueError: the type is unknown (the message lists the known ones).
    """
    try:
        profile = profile_for(provider_type)
    except ValueError:
        known = ", ".join(provider_types())
        raise ValueError(f"unknown provider type {provider_type!r} (known: {known})") from None
    return _WIRES[profile.wire](profile)

"""Every provider type Cortex knows, as one row of data each.

A provider type names a configured worker's API (``"groq"``), not its wire format: most
types speak OpenAI's Chat Completions and differ only in where they live, how they take
their key and which model they default to. Everything that depends on the type reads it
from here: the catalog's adapter, the settings' defaults and checks, the legacy
environment variables and ``--help``. Adding an OpenAI-compatible provider is one
:class:`ProviderProfile` row in :data:`PROFILES` (plus its README line); a new wire format
adds one adapter module and its name in :mod:`cortex.providers.catalog`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cortex.providers.openai import OpenAIEndpoints

AZURE_API_VERSION = "2024-10-21"
"""Azure OpenAI's newest generally available data-plane API version."""


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """One provider type.

    Attributes:
        type: the name users configure (``type = "mistral"``).
        wire: the wire format that speaks to it (a name in the catalog).
        base_url: where its API lives; None when every user's is different, so the
            configuration must name one.
        priority: default place in the ``priority`` strategy (lower first).
        model: default model when the configuration names none (None: use what the
            upstream lists).
        local: it runs on the user's own hardware (free, slower first token).
        needs_key: every request must carry an API key.
        env_prefix: prefix of its environment variables (``MISTRAL`` for
            ``MISTRAL_API_KEYS``, ``MISTRAL_MODEL``, ``MISTRAL_BASE_URL``, ...).
        endpoints: for the ``openai`` wire, its paths, auth header and fixed query;
            None for wires whose format fixes them.
        choices: it answers ``n`` > 1 alternative answers in one call (Groq, for one,
            takes ``n`` = 1 only).
    """

    type: str
    wire: str
    base_url: str | None
    priority: int
    model: str | None
    local: bool
    needs_key: bool
    env_prefix: str
    endpoints: OpenAIEndpoints | None = None
    choices: bool = False

    @property
    def key_variable(self) -> str:
        """The environment variable whose comma-separated keys make a worker of this type."""
        return f"{self.env_prefix}_API_KEYS"


def _cloud(type_: str, wire: str, base_url: str, priority: int, model: str) -> ProviderProfile:
    """A hosted provider that needs a key, with environment variables named after its type."""
    return ProviderProfile(type_, wire, base_url, priority, model, False, True, type_.upper())


_AZURE = OpenAIEndpoints(
    chat_path="/openai/deployments/{model}/chat/completions",
    models_path="/openai/models",
    embeddings_path="/openai/deployments/{model}/embeddings",
    auth_header="api-key",
    auth_prefix="",
    query=(("api-version", AZURE_API_VERSION),),
)

PROFILES: Mapping[str, ProviderProfile] = MappingProxyType(
    {
        profile.type: profile
        for profile in (
            dataclasses.replace(
                _cloud("openai", "openai", "https://api.openai.com/v1", 5, "gpt-4o-mini"),
                choices=True,
            ),
            _cloud("anthropic", "anthropic", "https://api.anthropic.com", 10, "claude-haiku-4-5"),
            _cloud("groq", "openai", "https://api.groq.com/openai/v1", 15, "llama-3.1-8b-instant"),
            _cloud(
                "gemini",
                "gemini",
                "https://generativelanguage.googleapis.com",
                20,
                "gemini-2.5-flash",
            ),
            dataclasses.replace(
                _cloud("xai", "openai", "https://api.x.ai/v1", 25, "grok-3-mini"), choices=True
            ),
            _cloud("cohere", "cohere", "https://api.cohere.com", 30, "command-a-03-2025"),
            _cloud("mistral", "openai", "https://api.mistral.ai/v1", 35, "mistral-small-latest"),
            _cloud("deepseek", "openai", "https://api.deepseek.com", 36, "deepseek-chat"),
            _cloud("openrouter", "openai", "https://openrouter.ai/api/v1", 37, "openrouter/auto"),
            _cloud(
                "together",
                "openai",
                "https://api.together.xyz/v1",
                38,
                "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            ),
            _cloud(
                "fireworks",
                "openai",
                "https://api.fireworks.ai/inference/v1",
                39,
                "accounts/fireworks/models/llama-v3p1-8b-instruct",
            ),
            ProviderProfile(
                "azure_openai",
                "openai",
                base_url=None,  # each resource has its own: https://<resource>.openai.azure.com
                priority=40,
                model=None,  # the model is the user's deployment name
                local=False,
                needs_key=True,
                env_prefix="AZURE_OPENAI",
                endpoints=_AZURE,
                choices=True,
            ),
            ProviderProfile(
                "openai_compatible",  # vLLM, LM Studio, llama.cpp's server, ...
                "openai",
                base_url=None,
                priority=45,
                model=None,
                local=True,  # self-hosted like Ollama: free, and slower to a first token
                needs_key=False,
                env_prefix="OPENAI_COMPATIBLE",
                choices=True,  # vLLM and llama.cpp's server take n; a server that does not says so
            ),
            ProviderProfile(
                "ollama",
                "ollama",
                base_url="http://localhost:11434",
                priority=50,
                model=None,
                local=True,
                needs_key=False,
                env_prefix="OLLAMA",
            ),
        )
    }
)
"""Every provider type, in the order ``--help`` and error messages list them."""


def profile_for(provider_type: str) -> ProviderProfile:
    """The profile of a provider type; case and surrounding spaces are ignored.

    Raises:
        ValueError: the type is unknown (the message lists the known ones).
    """
    profile = PROFILES.get(provider_type.strip().lower())
    if profile is None:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown type {provider_type!r} (known: {known})")
    return profile

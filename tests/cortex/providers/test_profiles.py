"""Provider profiles: each type's calls go where its API lives, with its own auth header."""

from __future__ import annotations

import pytest

from cortex.chat import ChatRequest, Message
from cortex.providers.base import Target
from cortex.providers.catalog import adapter_for
from cortex.providers.profiles import AZURE_API_VERSION, PROFILES, profile_for

REQUEST = ChatRequest(messages=(Message("user", "hi"),))
AZURE = "https://res.openai.azure.com"


@pytest.mark.parametrize(
    ("provider_type", "base_url", "chat_url", "models_url", "auth"),
    [
        (
            "mistral",
            "https://api.mistral.ai/v1",
            "https://api.mistral.ai/v1/chat/completions",
            "https://api.mistral.ai/v1/models",
            ("Authorization", "Bearer k"),
        ),
        (
            "deepseek",
            "https://api.deepseek.com",
            "https://api.deepseek.com/chat/completions",
            "https://api.deepseek.com/models",
            ("Authorization", "Bearer k"),
        ),
        (
            "openrouter",
            "https://openrouter.ai/api/v1",
            "https://openrouter.ai/api/v1/chat/completions",
            "https://openrouter.ai/api/v1/models",
            ("Authorization", "Bearer k"),
        ),
        (
            "together",
            "https://api.together.xyz/v1",
            "https://api.together.xyz/v1/chat/completions",
            "https://api.together.xyz/v1/models",
            ("Authorization", "Bearer k"),
        ),
        (
            "fireworks",
            "https://api.fireworks.ai/inference/v1",
            "https://api.fireworks.ai/inference/v1/chat/completions",
            "https://api.fireworks.ai/inference/v1/models",
            ("Authorization", "Bearer k"),
        ),
        (
            "azure_openai",
            AZURE,
            f"{AZURE}/openai/deployments/gpt-4o%2Fmini/chat/completions"
            f"?api-version={AZURE_API_VERSION}",
            f"{AZURE}/openai/models?api-version={AZURE_API_VERSION}",
            ("api-key", "k"),
        ),
        (
            "openai_compatible",
            "http://box:8000/v1",
            "http://box:8000/v1/chat/completions",
            "http://box:8000/v1/models",
            ("Authorization", "Bearer k"),
        ),
    ],
)
def test_each_openai_compatible_type_calls_its_own_paths_with_its_auth_header(
    provider_type: str,
    base_url: str,
    chat_url: str,
    models_url: str,
    auth: tuple[str, str],
) -> None:
    adapter = adapter_for(provider_type)
    chat = adapter.chat_call(Target(base_url, "gpt-4o/mini", "k"), REQUEST, stream=True)
    probe = adapter.models_call(base_url, "k")
    assert (chat.url, dict(chat.headers)) == (chat_url, dict([auth]))
    assert (probe.url, dict(probe.headers)) == (models_url, dict([auth]))


def test_a_keyless_call_carries_no_auth_header() -> None:
    call = adapter_for("azure_openai").models_call(AZURE, None)
    assert dict(call.headers) == {}


@pytest.mark.parametrize(
    ("provider_type", "base_url", "needs_key", "local"),
    [
        ("mistral", "https://api.mistral.ai/v1", True, False),
        ("deepseek", "https://api.deepseek.com", True, False),
        ("openrouter", "https://openrouter.ai/api/v1", True, False),
        ("together", "https://api.together.xyz/v1", True, False),
        ("fireworks", "https://api.fireworks.ai/inference/v1", True, False),
        ("azure_openai", None, True, False),
        ("openai_compatible", None, False, True),
        ("ollama", "http://localhost:11434", False, True),
    ],
)
def test_profile_defaults(
    provider_type: str, base_url: str | None, needs_key: bool, local: bool
) -> None:
    profile = profile_for(provider_type)
    assert (profile.base_url, profile.needs_key, profile.local) == (base_url, needs_key, local)


def test_every_profile_has_a_distinct_environment_prefix_and_key_variable() -> None:
    prefixes = [profile.env_prefix for profile in PROFILES.values()]
    assert len(set(prefixes)) == len(prefixes)
    assert PROFILES["azure_openai"].key_variable == "AZURE_OPENAI_API_KEYS"


def test_an_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown type 'mistrall' \(known: openai, "):
        profile_for("mistrall")

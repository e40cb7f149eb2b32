"""Settings read every provider type from its profile: defaults, key rules, variables."""

from __future__ import annotations

import json

import pytest

from cortex.config.settings import ConfigError, load_settings
from cortex.providers.profiles import PROFILES, ProviderProfile

KEYED = [profile for profile in PROFILES.values() if profile.needs_key and profile.base_url]


@pytest.mark.parametrize("profile", KEYED, ids=[p.type for p in KEYED])
def test_a_keyed_type_takes_its_defaults_from_its_profile(profile: ProviderProfile) -> None:
    env = {profile.key_variable: "k-one,k-two"}
    (worker,) = load_settings(environ=env).workers
    assert (worker.name, worker.type, worker.base_url) == (
        profile.type,
        profile.type,
        profile.base_url,
    )
    assert (worker.priority, worker.models) == (profile.priority, (profile.model,))
    assert (worker.api_keys, worker.needs_key, worker.is_local) == (("k-one", "k-two"), True, False)


def test_azure_without_a_base_url_is_a_problem_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"AZURE_OPENAI_API_KEYS": "k"})
    assert caught.value.problems == [
        "provider 'azure_openai': type 'azure_openai' has no default base_url: set one"
    ]


def test_azure_takes_its_resource_url_and_deployment_from_its_variables() -> None:
    env = {
        "AZURE_OPENAI_API_KEYS": "k",
        "AZURE_OPENAI_BASE_URL": "https://res.openai.azure.com/",
        "AZURE_OPENAI_MODEL": "prod-gpt-4o",
    }
    (worker,) = load_settings(environ=env).workers
    assert (worker.base_url, worker.models) == ("https://res.openai.azure.com", ("prod-gpt-4o",))


def test_an_openai_compatible_server_is_local_and_needs_no_key() -> None:
    env = {"OPENAI_COMPATIBLE_BASE_URL": "http://box:8000/v1"}
    (worker,) = load_settings(environ=env).workers
    assert (worker.name, worker.type, worker.models) == (
        "openai_compatible",
        "openai_compatible",
        (),
    )
    assert (worker.needs_key, worker.is_local, worker.api_keys) == (False, True, ())


def test_a_key_given_to_an_openai_compatible_server_is_sent() -> None:
    env = {"OPENAI_COMPATIBLE_BASE_URL": "http://box:8000/v1", "OPENAI_COMPATIBLE_API_KEYS": "k"}
    (worker,) = load_settings(environ=env).workers
    assert (worker.needs_key, worker.api_keys) == (True, ("k",))


def test_several_openai_compatible_urls_make_numbered_workers() -> None:
    env = {"OPENAI_COMPATIBLE_BASE_URLS": "http://a:1/v1,http://b:2/v1"}
    workers = load_settings(environ=env).workers
    assert [w.name for w in workers] == ["openai_compatible-1", "openai_compatible-2"]


def test_an_openai_compatible_entry_without_a_base_url_is_a_problem() -> None:
    env = {"CORTEX_PROVIDERS": json.dumps({"vllm": {"type": "openai_compatible"}})}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    assert caught.value.problems == [
        "provider 'vllm': type 'openai_compatible' has no default base_url: set one"
    ]


def test_an_unknown_type_lists_every_profile() -> None:
    env = {"CORTEX_PROVIDERS": json.dumps({"x": {"type": "mistrall", "api_keys": ["k"]}})}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    known = ", ".join(PROFILES)
    assert caught.value.problems == [f"provider 'x': unknown type 'mistrall' (known: {known})"]


def test_ollama_stays_local_and_keyless() -> None:
    (worker,) = load_settings(environ={"OLLAMA_BASE_URL": "http://gpu:11434"}).workers
    assert (worker.is_local, worker.needs_key, worker.time_to_first_token) == (True, False, 45.0)

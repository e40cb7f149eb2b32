"""A worker's ``embedding_models`` from every configuration source, and what it may hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cortex.config.settings import ConfigError, load_settings


def test_embedding_models_are_read_from_cortex_providers() -> None:
    entry = {
        "type": "ollama",
        "base_url": "http://o:11434",
        "embedding_models": ["all-minilm", "all-minilm"],
    }
    settings = load_settings(environ={"CORTEX_PROVIDERS": json.dumps({"o": entry})})
    (worker,) = settings.workers
    assert worker.embedding_models == ("all-minilm",)


def test_embedding_models_are_read_from_the_toml_table(tmp_path: Path) -> None:
    path = tmp_path / "cortex.toml"
    path.write_text(
        '[providers.g]\ntype = "gemini"\napi_keys = ["k"]\n'
        'embedding_models = ["gemini-embedding-001"]\n'
    )
    (worker,) = load_settings(environ={}, config_file=path).workers
    assert worker.embedding_models == ("gemini-embedding-001",)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            {"type": "anthropic", "api_keys": ["k"], "embedding_models": ["x"]},
            "no embeddings endpoint",
        ),
        (
            {"type": "openai", "api_keys": ["k"], "embedding_models": "text-embedding-3-small"},
            "not a string",
        ),
        ({"type": "openai", "api_keys": ["k"], "embedding_models": [""]}, "non-empty strings"),
    ],
)
def test_bad_embedding_models_are_configuration_problems(
    entry: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"CORTEX_PROVIDERS": json.dumps({"w": entry})})
    assert any(problem in p for p in caught.value.problems), caught.value.problems

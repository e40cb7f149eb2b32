"""The Ollama model management fields of a worker entry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cortex.config.settings import ConfigError, load_settings


def entry(**fields: Any) -> dict[str, str]:
    worker = {"type": "ollama", "base_url": "http://127.0.0.1:11434", **fields}
    return {"CORTEX_PROVIDERS": json.dumps({"ollama-1": worker})}


def test_the_fields_default_to_off_and_nothing_warm() -> None:
    (worker,) = load_settings(environ=entry()).workers
    assert (worker.similar_models, worker.warm) == (False, ())


def test_the_fields_are_read() -> None:
    environ = entry(similar_models=True, warm=["llama3.1:8b", "phi3", "llama3.1:8b"])
    (worker,) = load_settings(environ=environ).workers
    assert (worker.similar_models, worker.warm) == (True, ("llama3.1:8b", "phi3"))


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        (entry(similar_models="yes"), "similar_models must be true or false"),
        (entry(warm="llama3"), "warm must be a list of strings"),
        (
            {
                "CORTEX_PROVIDERS": json.dumps(
                    {"groq": {"api_keys": ["gsk-0000000001"], "similar_models": True}}
                )
            },
            "apply to ollama workers only",
        ),
    ],
)
def test_bad_values_are_problems(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert any(problem in p for p in caught.value.problems), caught.value.problems

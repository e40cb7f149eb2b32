"""The example configuration files load as they are and document every setting they show."""

from __future__ import annotations

import io
import re
from pathlib import Path

from dotenv import dotenv_values

from actors.planning import RoutingStrategy
from cortex.config.settings import load_settings

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_the_example_config_file_loads_with_its_workers_and_routes() -> None:
    settings = load_settings(environ={}, config_file=CONFIG / "cortex.example.toml")

    assert {w.name for w in settings.workers} >= {"groq", "anthropic", "gemini", "cohere"}
    assert settings.routes["smart"].fallbacks["context_length_exceeded"] == (
        "gemini",
        "gemini-2.5-flash",
    )
    groq = next(w for w in settings.workers if w.name == "groq")
    assert groq.max_concurrent == 16


def test_the_example_env_file_loads_as_it_is() -> None:
    settings = load_settings(environ={}, env_file=CONFIG / ".env.example")

    assert settings.request_timeout == 60
    assert settings.continuation is True
    assert settings.breaker.failure_threshold == 5


def test_every_commented_out_env_example_is_itself_valid() -> None:
    commented = "\n".join(
        line.lstrip("# ")
        for line in (CONFIG / ".env.example").read_text().splitlines()
        if re.match(r"# [A-Z_]+=", line)
    )
    environ = {k: v for k, v in dotenv_values(stream=io.StringIO(commented)).items() if v}

    settings = load_settings(environ=environ)

    assert len(settings.workers) >= 7
    assert "smart" in settings.routes


def test_the_env_example_names_every_routing_strategy() -> None:
    text = (CONFIG / ".env.example").read_text()
    assert all(strategy.value in text for strategy in RoutingStrategy)

"""End-to-end fixtures: fresh simulated upstreams and daemons for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import BACKUP_KEYS, PRIMARY_KEYS, CortexProcess

from cortex.simulated import SimulatedOllama, SimulatedOpenAI


@pytest.fixture
def primary() -> Iterator[SimulatedOpenAI]:
    """The first-choice OpenAI-format upstream, with two keys."""
    with SimulatedOpenAI("primary", keys=PRIMARY_KEYS, chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def backup() -> Iterator[SimulatedOpenAI]:
    """A second OpenAI-format upstream (Groq-typed), tried after the primary."""
    with SimulatedOpenAI(
        "backup", keys=BACKUP_KEYS, models=("llama-3.1-8b-instant",), chunk_delay=0.0
    ) as server:
        yield server


@pytest.fixture
def local() -> Iterator[SimulatedOllama]:
    """A native Ollama upstream, tried last."""
    with SimulatedOllama("local", chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def cortex_daemon(tmp_path: Path) -> Iterator[Any]:
    """Factory: start a daemon with the given environment; every one is stopped afterwards."""
    started: list[CortexProcess] = []

    def start(env: dict[str, str], *args: str) -> CortexProcess:
        process = CortexProcess(env, tmp_path / f"cortex-{len(started)}.log", args)
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        process.stop()

"""Fixtures for the simulated providers: one fresh server per test, always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cortex.simulated import SimulatedOllama, SimulatedOpenAI

@pytest.fixture
def openai_server() -> Iterator[SimulatedOpenAI]:
    with SimulatedOpenAI(chunk_delay=0.0) as server:
        yield server


@pytest.fixture
def ollama_server() -> Iterator[SimulatedOllama]:
    with SimulatedOllama(chunk_delay=0.0) as server:
        yield server

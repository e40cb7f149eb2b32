"""Fixtures for the simulated providers.

Each provider's server (and each test module's SDK client) lives for one test
module, because building SDK clients dominates the run time. The per-test
``*_server`` fixture, which any test that scripts faults or reads the request
log must use, resets the server before and after, so tests stay independent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import httpx
import pytest

from cortex.simulated import (
    SimulatedAnthropic,
    SimulatedCohere,
    SimulatedGemini,
    SimulatedOllama,
    SimulatedOpenAI,
    SimulatedServer,
)

S = TypeVar("S", bound=SimulatedServer)


def _serve(server: S) -> Iterator[S]:
    with server:
        yield server


def _fresh(server: S) -> Iterator[S]:
    """Reset before and after, so no fault or log entry leaks into another test."""
    server.reset()
    yield server
    server.reset()


@pytest.fixture(scope="module")
def openai_module() -> Iterator[SimulatedOpenAI]:
    yield from _serve(SimulatedOpenAI(chunk_delay=0.0))


@pytest.fixture(scope="module")
def ollama_module() -> Iterator[SimulatedOllama]:
    yield from _serve(SimulatedOllama(chunk_delay=0.0))


@pytest.fixture(scope="module")
def anthropic_module() -> Iterator[SimulatedAnthropic]:
    yield from _serve(SimulatedAnthropic(chunk_delay=0.0))


@pytest.fixture(scope="module")
def gemini_module() -> Iterator[SimulatedGemini]:
    yield from _serve(SimulatedGemini(chunk_delay=0.0))


@pytest.fixture(scope="module")
def cohere_module() -> Iterator[SimulatedCohere]:
    yield from _serve(SimulatedCohere(chunk_delay=0.0))


@pytest.fixture
def openai_server(openai_module: SimulatedOpenAI) -> Iterator[SimulatedOpenAI]:
    yield from _fresh(openai_module)


@pytest.fixture
def ollama_server(ollama_module: SimulatedOllama) -> Iterator[SimulatedOllama]:
    yield from _fresh(ollama_module)


@pytest.fixture
def anthropic_server(anthropic_module: SimulatedAnthropic) -> Iterator[SimulatedAnthropic]:
    yield from _fresh(anthropic_module)


@pytest.fixture
def gemini_server(gemini_module: SimulatedGemini) -> Iterator[SimulatedGemini]:
    yield from _fresh(gemini_module)


@pytest.fixture
def cohere_server(cohere_module: SimulatedCohere) -> Iterator[SimulatedCohere]:
    yield from _fresh(cohere_module)


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client for raw wire checks; building one costs more than a request."""
    with httpx.Client(timeout=5) as client:
        yield client

"""Fixtures for the supervisor tests: every actor is stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest

from supervisors import Directory, RootLink


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=5.0)


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def root() -> RootLink:
    return RootLink("root")


@pytest.fixture
def events() -> list[str]:
    return []

"""Tests of the registry actor under a supervisor, reached by name through a Handle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.board import Board
from actors.messages import RegisterWorker, UnregisterWorker
from actors.registry import DuplicateWorker, RegistryActor
from actors.workers import WorkerConfig
from supervisors import ChildSpec, Directory, Handle, RootLink, SupFlags, start_supervisor

WAIT = 5.0
OLLAMA = WorkerConfig(
    name="ollama", type="ollama", base_url="http://o", is_local=True, needs_key=False
)


@pytest.fixture
def board() -> Board:
    return Board()


@pytest.fixture
def registry(board: Board) -> Iterator[Handle]:
    directory, root = Directory(), RootLink("root")
    spec = ChildSpec("registry", lambda link: RegistryActor.start(link, board))
    ref = start_supervisor("root", SupFlags(), [spec], root, directory)
    yield Handle(directory, "registry")
    root.stop(ref, timeout=WAIT)


def test_registering_a_worker_puts_its_config_on_the_board(registry: Handle, board: Board) -> None:
    assert registry.ask(RegisterWorker(OLLAMA), timeout=WAIT) is None
    assert board.configs() == (OLLAMA,)


def test_registering_a_name_twice_is_rejected(registry: Handle, board: Board) -> None:
    registry.ask(RegisterWorker(OLLAMA), timeout=WAIT)
    other = WorkerConfig(
        name="ollama", type="ollama", base_url="http://other", is_local=True, needs_key=False
    )
    with pytest.raises(DuplicateWorker, match="'ollama' already exists"):
        registry.ask(RegisterWorker(other), timeout=WAIT)
    assert board.configs() == (OLLAMA,)


def test_a_rejected_registration_leaves_the_registry_running(registry: Handle) -> None:
    registry.ask(RegisterWorker(OLLAMA), timeout=WAIT)
    with pytest.raises(DuplicateWorker):
        registry.ask(RegisterWorker(OLLAMA), timeout=WAIT)
    assert registry.ask(UnregisterWorker("ollama"), timeout=WAIT) is True


def test_unregistering_a_worker_removes_it_and_answers_true(registry: Handle, board: Board) -> None:
    registry.ask(RegisterWorker(OLLAMA), timeout=WAIT)
    assert registry.ask(UnregisterWorker("ollama"), timeout=WAIT) is True
    assert board.configs() == ()


def test_unregistering_an_unknown_worker_answers_false(registry: Handle) -> None:
    assert registry.ask(UnregisterWorker("nobody"), timeout=WAIT) is False

"""Unit tests for the board: published worker configurations and views."""

from __future__ import annotations

from actors.board import Board
from actors.workers import HealthStatus, ProviderType, WorkerConfig, WorkerView

GROQ = WorkerConfig(name="groq", type=ProviderType.GROQ, base_url="http://g", api_keys=("k",))
OLLAMA = WorkerConfig(name="ollama", type=ProviderType.OLLAMA, base_url="http://o")


def board_with(*configs: WorkerConfig) -> Board:
    board = Board()
    for config in configs:
        board.put_config(config)
    return board


def test_configs_keep_registration_order() -> None:
    assert board_with(OLLAMA, GROQ).configs() == (OLLAMA, GROQ)


def test_put_config_replaces_a_config_of_the_same_name() -> None:
    moved = WorkerConfig(name="ollama", type=ProviderType.OLLAMA, base_url="http://elsewhere")
    board = board_with(OLLAMA)
    board.put_config(moved)
    assert board.configs() == (moved,)


def test_publish_of_an_unregistered_worker_is_dropped() -> None:
    board = board_with(OLLAMA)
    board.publish(WorkerView(config=GROQ, status=HealthStatus.DEGRADED))
    assert board.view("groq") is None
    assert [v.name for v in board.views()] == ["ollama"]


def test_a_published_view_is_what_readers_get() -> None:
    board = board_with(OLLAMA)
    view = WorkerView(config=OLLAMA, status=HealthStatus.UNAVAILABLE, requests=3)
    board.publish(view)
    assert board.view("ollama") == view
    assert board.views() == (view,)


def test_views_gives_a_default_view_for_configs_without_a_published_view() -> None:
    board = board_with(OLLAMA, GROQ)
    published = WorkerView(config=GROQ, status=HealthStatus.RATE_LIMITED)
    board.publish(published)
    assert board.views() == (WorkerView(config=OLLAMA), published)


def test_view_of_a_registered_worker_without_a_published_view_is_the_default() -> None:
    assert board_with(OLLAMA).view("ollama") == WorkerView(config=OLLAMA)


def test_remove_drops_the_config_and_the_view() -> None:
    board = board_with(OLLAMA, GROQ)
    board.publish(WorkerView(config=OLLAMA, status=HealthStatus.DEGRADED))
    board.remove("ollama")
    assert board.config("ollama") is None
    assert board.view("ollama") is None
    assert board.views() == (WorkerView(config=GROQ),)


def test_a_removed_worker_registered_again_starts_from_a_default_view() -> None:
    board = board_with(OLLAMA)
    board.publish(WorkerView(config=OLLAMA, status=HealthStatus.UNAVAILABLE))
    board.remove("ollama")
    board.put_config(OLLAMA)
    assert board.view("ollama") == WorkerView(config=OLLAMA)


def test_removing_an_unknown_worker_changes_nothing() -> None:
    board = board_with(OLLAMA)
    board.remove("nobody")
    assert board.configs() == (OLLAMA,)

"""The dynamic supervisor: children added at run time (simple_one_for_one / DynamicSupervisor)."""

from __future__ import annotations

import time

import pytest
from sup_helpers import WAIT, crash, ref_of, restarted, wait_until, worker_spec

from supervisors import (
    Directory,
    DuplicateChild,
    Restart,
    RootLink,
    Shutdown,
    StartError,
    Strategy,
    SupervisorClient,
    SupervisorError,
    SupFlags,
    start_dynamic_supervisor,
)


@pytest.fixture
def client(directory: Directory, root: RootLink) -> SupervisorClient:
    ref = start_dynamic_supervisor("pool", SupFlags(intensity=3), root, directory)
    return SupervisorClient(ref, WAIT)


def test_a_dynamic_supervisor_starts_with_no_children(client: SupervisorClient) -> None:
    assert client.which_children() == []


def test_start_child_adds_a_registered_running_child(
    client: SupervisorClient, directory: Directory
) -> None:
    ref = client.start_child(worker_spec("w1"))

    assert ref_of(directory, "w1") is ref
    assert [row.id for row in client.which_children()] == ["w1"]


def test_start_child_with_a_taken_id_raises_duplicate_child(client: SupervisorClient) -> None:
    client.start_child(worker_spec("w1"))

    with pytest.raises(DuplicateChild):
        client.start_child(worker_spec("w1"))


def test_start_child_that_fails_raises_start_error(client: SupervisorClient) -> None:
    with pytest.raises(StartError):
        client.start_child(worker_spec("w1", fail_on_start=RuntimeError("bad key")))

    assert client.which_children() == []


def test_terminate_child_stops_it_and_forgets_its_spec(
    client: SupervisorClient, directory: Directory
) -> None:
    client.start_child(worker_spec("w1"))

    client.terminate_child("w1")

    assert client.which_children() == []
    assert directory.lookup("w1") is None


def test_a_crashed_permanent_child_is_restarted(
    client: SupervisorClient, directory: Directory
) -> None:
    client.start_child(worker_spec("w1"))

    assert restarted(directory, "w1", crash(directory, "w1")).is_alive()


def test_a_crashed_temporary_child_is_forgotten(
    client: SupervisorClient, directory: Directory
) -> None:
    client.start_child(worker_spec("w1", restart=Restart.TEMPORARY))

    crash(directory, "w1")

    assert wait_until(lambda: client.which_children() == [])


def test_a_transient_child_that_exits_normally_is_forgotten(
    client: SupervisorClient, directory: Directory
) -> None:
    client.start_child(worker_spec("w1", restart=Restart.TRANSIENT))

    ref_of(directory, "w1").stop(block=True, timeout=WAIT)

    assert wait_until(lambda: client.which_children() == [])


def test_too_many_restarts_make_the_dynamic_supervisor_give_up(
    directory: Directory, root: RootLink
) -> None:
    ref = start_dynamic_supervisor("pool", SupFlags(intensity=0), root, directory)
    SupervisorClient(ref, WAIT).start_child(worker_spec("w1"))

    crash(directory, "w1")

    assert root.wait(WAIT) == Shutdown("reached_max_restart_intensity")


def test_shutdown_stops_children_in_parallel_under_one_timer(
    client: SupervisorClient, root: RootLink, events: list[str]
) -> None:
    for name in ("w1", "w2", "w3"):
        client.start_child(worker_spec(name, events, stop_delay=1.0))

    started = time.monotonic()
    assert root.stop(client.ref, timeout=WAIT) == Shutdown()

    # One after another would take 3 s; in parallel about 1 s, with room for a busy machine.
    assert time.monotonic() - started < 2.5
    assert sorted(events[3:]) == ["stop:w1", "stop:w2", "stop:w3"]


def test_restart_child_is_rejected_as_in_simple_one_for_one(client: SupervisorClient) -> None:
    with pytest.raises(SupervisorError, match="dynamic"):
        client.restart_child("w1")


def test_a_strategy_other_than_one_for_one_is_rejected(
    directory: Directory, root: RootLink
) -> None:
    with pytest.raises(ValueError, match="one_for_one"):
        start_dynamic_supervisor("pool", SupFlags(Strategy.ONE_FOR_ALL), root, directory)

"""Strategies with real actors: which siblings restart, and in which order (restart/3)."""

from __future__ import annotations

from sup_helpers import WAIT, crash, ref_of, restarted, wait_until, worker_spec

from supervisors import (
    Directory,
    Restart,
    RootLink,
    Strategy,
    SupervisorClient,
    SupFlags,
    start_supervisor,
)


def _start(
    directory: Directory, root: RootLink, events: list[str], strategy: Strategy, intensity: int = 3
) -> None:
    specs = [worker_spec(name, events) for name in ("a", "b", "c")]
    start_supervisor("sup", SupFlags(strategy, intensity, 5.0), specs, root, directory)
    events.clear()


def test_one_for_one_leaves_the_siblings_running(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    _start(directory, root, events, Strategy.ONE_FOR_ONE)
    siblings = [ref_of(directory, "a"), ref_of(directory, "c")]

    restarted(directory, "b", crash(directory, "b"))

    assert [ref_of(directory, "a"), ref_of(directory, "c")] == siblings
    assert events == ["start:b"]


def test_one_for_all_stops_the_siblings_in_reverse_and_restarts_all_in_order(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    _start(directory, root, events, Strategy.ONE_FOR_ALL)

    restarted(directory, "b", crash(directory, "b"))

    assert wait_until(lambda: len(events) == 5)
    assert events == ["stop:c", "stop:a", "start:a", "start:b", "start:c"]


def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    _start(directory, root, events, Strategy.REST_FOR_ONE)
    first = ref_of(directory, "a")

    restarted(directory, "b", crash(directory, "b"))

    assert wait_until(lambda: len(events) == 3)
    assert events == ["stop:c", "start:b", "start:c"]
    assert ref_of(directory, "a") is first


def test_one_crash_counts_once_even_when_one_for_all_restarts_every_child(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    _start(directory, root, events, Strategy.ONE_FOR_ALL, intensity=1)

    restarted(directory, "b", crash(directory, "b"))

    assert root.wait(0.2) is None


def test_one_for_all_drops_a_temporary_sibling_instead_of_restarting_it(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    specs = [worker_spec("a", events), worker_spec("tmp", events, restart=Restart.TEMPORARY)]
    ref = start_supervisor("sup", SupFlags(Strategy.ONE_FOR_ALL, 3), specs, root, directory)

    restarted(directory, "a", crash(directory, "a"))

    assert [row.id for row in SupervisorClient(ref, WAIT).which_children()] == ["a"]
    assert directory.lookup("tmp") is None

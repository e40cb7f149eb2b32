"""Restart types under every strategy, with real actors (do_restart/3, checklist 1 and 7)."""

from __future__ import annotations

import pytest
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

STRATEGIES = list(Strategy)


def _start(
    directory: Directory, root: RootLink, strategy: Strategy, restart: Restart
) -> SupervisorClient:
    specs = [worker_spec("first"), worker_spec("child", restart=restart), worker_spec("last")]
    ref = start_supervisor("sup", SupFlags(strategy, 5, 5.0), specs, root, directory)
    return SupervisorClient(ref, timeout=WAIT)


def _stop_normally(directory: Directory, name: str) -> str:
    ref = ref_of(directory, name)
    ref.stop(block=True, timeout=WAIT)
    return ref.actor_urn


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_permanent_child_is_restarted_after_a_normal_exit(
    directory: Directory, root: RootLink, strategy: Strategy
) -> None:
    _start(directory, root, strategy, Restart.PERMANENT)

    old = _stop_normally(directory, "child")

    assert restarted(directory, "child", old).is_alive()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_permanent_child_is_restarted_after_a_crash(
    directory: Directory, root: RootLink, strategy: Strategy
) -> None:
    _start(directory, root, strategy, Restart.PERMANENT)

    old = crash(directory, "child")

    assert restarted(directory, "child", old).is_alive()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_transient_child_stays_down_after_a_normal_exit_and_keeps_its_spec(
    directory: Directory, root: RootLink, strategy: Strategy
) -> None:
    client = _start(directory, root, strategy, Restart.TRANSIENT)

    _stop_normally(directory, "child")

    assert wait_until(lambda: directory.lookup("child") is None)
    rows = {row.id: row for row in client.which_children()}
    assert rows["child"].ref is None
    assert rows["first"].ref is not None
    assert rows["last"].ref is not None


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_transient_child_is_restarted_after_a_crash(
    directory: Directory, root: RootLink, strategy: Strategy
) -> None:
    _start(directory, root, strategy, Restart.TRANSIENT)

    old = crash(directory, "child")

    assert restarted(directory, "child", old).is_alive()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_temporary_child_is_never_restarted_and_its_spec_is_deleted(
    directory: Directory, root: RootLink, strategy: Strategy
) -> None:
    client = _start(directory, root, strategy, Restart.TEMPORARY)
    first = ref_of(directory, "first")

    crash(directory, "child")

    assert wait_until(lambda: [row.id for row in client.which_children()] == ["first", "last"])
    assert directory.lookup("child") is None
    assert ref_of(directory, "first") is first

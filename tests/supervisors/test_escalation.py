"""Restart intensity, try_again and escalation up the tree (checklist 2, 5, 6)."""

from __future__ import annotations

from typing import Any

import pykka
from structlog.testing import capture_logs
from sup_helpers import WAIT, Worker, crash, ref_of, restarted, worker_spec

from supervisors import (
    ChildSpec,
    ChildType,
    Directory,
    Link,
    RootLink,
    Shutdown,
    Strategy,
    SupFlags,
    start_supervisor,
)

GAVE_UP = Shutdown("reached_max_restart_intensity")


def test_a_supervisor_that_exceeds_its_intensity_exits_with_shutdown_to_its_watch(
    directory: Directory, root: RootLink
) -> None:
    start_supervisor("root", SupFlags(intensity=1), [worker_spec("w")], root, directory)

    restarted(directory, "w", crash(directory, "w"))
    crash(directory, "w")

    assert root.wait(WAIT) == GAVE_UP


def test_intensity_zero_gives_up_on_the_first_crash(directory: Directory, root: RootLink) -> None:
    start_supervisor("root", SupFlags(intensity=0), [worker_spec("w")], root, directory)

    crash(directory, "w")

    assert root.wait(WAIT) == GAVE_UP


def test_giving_up_logs_reached_max_restart_intensity_and_stops_the_siblings(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    specs = [worker_spec("a", events), worker_spec("b", events)]
    start_supervisor("root", SupFlags(intensity=0), specs, root, directory)

    with capture_logs() as logs:
        crash(directory, "b")
        root.wait(WAIT)

    gave_up = [e for e in logs if e["event"] == "reached_max_restart_intensity"]
    assert gave_up[0]["child_id"] == "b"
    assert gave_up[0]["supervisor"] == "root"
    assert events[-1] == "stop:a"
    assert directory.names() == frozenset()


def _child_supervisor(directory: Directory, intensity: int) -> ChildSpec:
    def start(link: Link) -> pykka.ActorRef[Any]:
        flags = SupFlags(intensity=intensity)
        return start_supervisor("inner", flags, [worker_spec("leaf")], link, directory)

    return ChildSpec("inner", start, type=ChildType.SUPERVISOR)


def test_a_child_supervisor_that_gives_up_is_restarted_by_its_parent(
    directory: Directory, root: RootLink
) -> None:
    start_supervisor(
        "outer", SupFlags(intensity=1), [_child_supervisor(directory, 0)], root, directory
    )
    inner = directory.lookup("inner")
    assert inner is not None

    old_leaf = crash(directory, "leaf")

    assert restarted(directory, "inner", inner.actor_urn).is_alive()
    assert restarted(directory, "leaf", old_leaf).is_alive()
    assert root.wait(0.1) is None


def test_repeated_escalation_makes_the_parent_give_up_too(
    directory: Directory, root: RootLink
) -> None:
    start_supervisor(
        "outer", SupFlags(intensity=1), [_child_supervisor(directory, 0)], root, directory
    )

    old_leaf = crash(directory, "leaf")
    restarted(directory, "leaf", old_leaf)
    crash(directory, "leaf")

    assert root.wait(WAIT) == GAVE_UP


def test_a_failed_restart_is_retried_by_message_and_counts_against_intensity(
    directory: Directory, root: RootLink
) -> None:
    attempts: list[int] = []

    def start(link: Link) -> pykka.ActorRef[Any]:
        attempts.append(1)
        if len(attempts) > 1:
            raise OSError("dependency down")
        return Worker.start(link, [])

    start_supervisor(
        "root", SupFlags(Strategy.ONE_FOR_ONE, 3, 5.0), [ChildSpec("w", start)], root, directory
    )

    with capture_logs() as logs:
        crash(directory, "w")
        reason = root.wait(WAIT)

    assert reason == GAVE_UP
    assert len(attempts) == 1 + 3
    assert [e["event"] for e in logs].count("start_error") == 3


def test_a_crashed_child_supervisor_takes_its_children_down_and_restarts_them(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    def start_sub(link: Link) -> pykka.ActorRef[Any]:
        specs = [worker_spec("a", events), worker_spec("b", events)]
        return start_supervisor("sub", SupFlags(), specs, link, directory)

    spec = ChildSpec("sub", start_sub, type=ChildType.SUPERVISOR)
    start_supervisor("root", SupFlags(intensity=3), [spec], root, directory)
    old_a = ref_of(directory, "a").actor_urn

    restarted(directory, "sub", crash(directory, "sub"))

    assert "stop:b" in events
    assert "stop:a" in events
    assert events.index("stop:b") < events.index("stop:a")
    assert restarted(directory, "a", old_a).is_alive()
    assert root.wait(0.2) is None

"""Every way a child can die reaches its supervisor with an Error reason (SUPERVISION 2.7)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pykka
from structlog.testing import capture_logs
from sup_helpers import WAIT, Worker, crash, ref_of, restarted, wait_until, worker_spec

from supervisors import (
    ChildExited,
    ChildSpec,
    Directory,
    Link,
    Normal,
    RootLink,
    SupervisorClient,
    SupFlags,
    start_supervisor,
)


def _events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def test_a_crash_in_a_told_message_is_logged_as_child_terminated_with_the_error(
    directory: Directory, root: RootLink
) -> None:
    start_supervisor("sup", SupFlags(), [worker_spec("w")], root, directory)

    with capture_logs() as logs:
        restarted(directory, "w", crash(directory, "w"))

    [entry] = _events(logs, "child_terminated")
    assert (entry["child_id"], entry["reason"]) == ("w", "error: ValueError('drill w')")


def test_a_crash_in_on_start_during_a_restart_is_a_start_error_with_the_error(
    directory: Directory, root: RootLink
) -> None:
    incarnations: list[int] = []

    def start(link: Link) -> pykka.ActorRef[Any]:
        incarnations.append(1)
        failure = RuntimeError("on_start") if len(incarnations) == 2 else None
        return Worker.start(link, [], fail_on_start=failure)

    start_supervisor("sup", SupFlags(intensity=3), [ChildSpec("w", start)], root, directory)

    with capture_logs() as logs:
        crash(directory, "w")
        assert wait_until(lambda: len(incarnations) == 3 and directory.lookup("w") is not None)

    [entry] = _events(logs, "start_error")
    assert entry["reason"] == "error: RuntimeError('on_start')"


def test_a_crash_in_on_stop_after_a_normal_stop_is_logged_with_the_error(
    directory: Directory, root: RootLink
) -> None:
    start_supervisor(
        "sup", SupFlags(), [worker_spec("w", fail_on_stop=OSError("on_stop"))], root, directory
    )
    old = ref_of(directory, "w")

    with capture_logs() as logs:
        old.stop(block=True, timeout=WAIT)
        restarted(directory, "w", old.actor_urn)

    [entry] = _events(logs, "child_terminated")
    assert entry["reason"] == "error: OSError('on_stop')"


def test_a_crash_in_on_stop_during_terminate_child_is_a_shutdown_error(
    directory: Directory, root: RootLink
) -> None:
    ref = start_supervisor(
        "sup", SupFlags(), [worker_spec("w", fail_on_stop=OSError("on_stop"))], root, directory
    )

    with capture_logs() as logs:
        SupervisorClient(ref, WAIT).terminate_child("w")

    [entry] = _events(logs, "shutdown_error")
    assert entry["reason"] == "error: OSError('on_stop')"


def test_an_exit_of_an_old_incarnation_is_ignored(directory: Directory, root: RootLink) -> None:
    ref = start_supervisor("sup", SupFlags(intensity=0), [worker_spec("w")], root, directory)
    current = ref_of(directory, "w")

    ref.tell(ChildExited("w", "urn:uuid:stale", Normal()))

    assert SupervisorClient(ref, WAIT).which_children()[0].ref is current
    assert root.wait(0.05) is None

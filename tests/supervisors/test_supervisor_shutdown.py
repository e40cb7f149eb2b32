"""Reverse-order shutdown with per-child timeouts (terminate/2, shutdown/1, checklist 3)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pykka
from structlog.testing import capture_logs
from sup_helpers import WAIT, ref_of, worker_spec

from supervisors import (
    BRUTAL_KILL,
    Abandoned,
    ChildSpec,
    ChildType,
    Directory,
    Link,
    RootLink,
    Shutdown,
    SupervisorClient,
    SupFlags,
    start_supervisor,
)

REPO = Path(__file__).resolve().parents[2]


def test_children_stop_in_reverse_start_order(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    specs = [worker_spec(name, events) for name in ("a", "b", "c")]
    ref = start_supervisor("sup", SupFlags(), specs, root, directory)

    assert root.stop(ref, timeout=WAIT) == Shutdown()
    assert events[3:] == ["stop:c", "stop:b", "stop:a"]
    assert directory.names() == frozenset()


def test_a_nested_tree_stops_leaves_first(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    def inner(link: Link) -> pykka.ActorRef[Any]:
        leaves = [worker_spec("leaf1", events), worker_spec("leaf2", events)]
        return start_supervisor("inner", SupFlags(), leaves, link, directory)

    specs = [
        worker_spec("first", events),
        ChildSpec("inner", inner, type=ChildType.SUPERVISOR),
        worker_spec("last", events),
    ]
    ref = start_supervisor("outer", SupFlags(), specs, root, directory)

    root.stop(ref, timeout=WAIT)

    assert events[4:] == ["stop:last", "stop:leaf2", "stop:leaf1", "stop:first"]


def test_a_child_that_outlives_its_shutdown_timeout_is_abandoned_and_logged(
    directory: Directory, root: RootLink
) -> None:
    specs = [worker_spec("slow", shutdown=0.1, stop_delay=0.5)]
    ref = start_supervisor("sup", SupFlags(), specs, root, directory)

    with capture_logs() as logs:
        SupervisorClient(ref, WAIT).terminate_child("slow")

    assert {
        "event": "shutdown_error",
        "error_context": "shutdown_error",
        "supervisor": "sup",
        "child_id": "slow",
        "reason": str(Abandoned()),
        "log_level": "error",
    } in logs
    assert directory.lookup("slow") is None


def test_a_child_that_is_busy_past_its_timeout_does_not_hang_the_supervisor_shutdown(
    directory: Directory, root: RootLink
) -> None:
    specs = [worker_spec("busy", shutdown=0.1)]
    ref = start_supervisor("sup", SupFlags(), specs, root, directory)
    ref_of(directory, "busy").proxy().sleep(0.5)

    assert root.stop(ref, timeout=0.4) == Shutdown()


def test_brutal_kill_sends_the_stop_without_waiting(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    specs = [worker_spec("w", events, shutdown=BRUTAL_KILL, stop_delay=0.3)]
    ref = start_supervisor("sup", SupFlags(), specs, root, directory)

    with capture_logs() as logs:
        assert root.stop(ref, timeout=0.2) == Shutdown()

    assert not [e for e in logs if e["event"] == "shutdown_error"]


ABANDONING_PROGRAM = textwrap.dedent(
    """
    import threading
    from supervisors import ChildSpec, Directory, RootLink, SupervisedActor, SupFlags
    from supervisors import start_supervisor

    class Stuck(SupervisedActor):
        def hold(self):
            threading.Event().wait()  # busy for good: its stop is never handled

    directory = Directory()
    root = RootLink("root")
    spec = ChildSpec("stuck", lambda link: Stuck.start(link), shutdown=0.2)
    ref = start_supervisor("sup", SupFlags(), [spec], root, directory)
    directory.lookup("stuck").proxy().hold()
    print(root.stop(ref, timeout=5.0), flush=True)
    """
)


def test_an_abandoned_child_does_not_keep_the_process_alive() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ABANDONING_PROGRAM],
        cwd=REPO,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(Shutdown())
    assert "shutdown_error" in done.stdout

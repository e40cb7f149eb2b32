"""Synchronous, ordered start with rollback on failure (init_children/2, checklist 4)."""

from __future__ import annotations

from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs
from sup_helpers import WAIT, Worker, ref_of, worker_spec

from supervisors import (
    ChildSpec,
    Directory,
    DuplicateChild,
    Error,
    Link,
    RootLink,
    Shutdown,
    StartError,
    SupFlags,
    start_supervisor,
)


def test_children_start_in_order_and_are_ready_when_start_supervisor_returns(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    specs = [worker_spec(name, events, start_delay=0.05) for name in ("a", "b", "c")]

    start_supervisor("sup", SupFlags(), specs, root, directory)

    assert events == ["start:a", "start:b", "start:c"]
    assert all(ref_of(directory, n).proxy().is_started().get(timeout=WAIT) for n in "abc")


def test_a_child_that_fails_to_start_rolls_back_the_started_ones_in_reverse(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    boom = RuntimeError("no config")
    specs = [
        worker_spec("a", events),
        worker_spec("b", events),
        worker_spec("c", events, fail_on_start=boom),
        worker_spec("d", events),
    ]

    with pytest.raises(StartError) as caught:
        start_supervisor("sup", SupFlags(), specs, root, directory)

    assert (caught.value.child_id, caught.value.reason) == ("c", Error(boom))
    assert events == ["start:a", "start:b", "start:c", "stop:b", "stop:a"]
    assert directory.names() == frozenset()
    assert root.wait(WAIT) == Shutdown("failed_to_start_child")


def test_a_start_failure_is_logged_as_start_error(directory: Directory, root: RootLink) -> None:
    with capture_logs() as logs, pytest.raises(StartError):
        start_supervisor(
            "sup", SupFlags(), [worker_spec("a", fail_on_start=OSError("x"))], root, directory
        )

    errors = [e for e in logs if e["event"] == "start_error"]
    assert errors == [
        {
            "event": "start_error",
            "error_context": "start_error",
            "supervisor": "sup",
            "child_id": "a",
            "reason": "error: OSError('x')",
            "log_level": "error",
        }
    ]


def test_a_start_callable_that_raises_is_a_start_error(
    directory: Directory, root: RootLink
) -> None:
    def start(link: Link) -> pykka.ActorRef[Any]:
        raise LookupError("no such model")

    with pytest.raises(StartError, match="no such model"):
        start_supervisor("sup", SupFlags(), [ChildSpec("a", start)], root, directory)


def test_a_start_callable_that_ignores_its_link_is_a_start_error(
    directory: Directory, root: RootLink
) -> None:
    def start(link: Link) -> pykka.ActorRef[Any]:
        return Worker.start(Link("stranger"), [])

    with pytest.raises(StartError, match="built with its link"):
        start_supervisor("sup", SupFlags(), [ChildSpec("a", start)], root, directory)


def test_duplicate_child_ids_fail_before_anything_starts(
    directory: Directory, root: RootLink, events: list[str]
) -> None:
    with pytest.raises(DuplicateChild):
        start_supervisor(
            "sup", SupFlags(), [worker_spec("a", events), worker_spec("a", events)], root, directory
        )

    assert events == []
    assert pykka.ActorRegistry.get_all() == []


def test_a_child_slower_than_the_start_timeout_fails_the_start(
    directory: Directory, root: RootLink
) -> None:
    specs = [worker_spec("slow", start_delay=0.5)]

    with pytest.raises(StartError) as caught:
        start_supervisor("sup", SupFlags(), specs, root, directory, start_timeout=0.1)

    assert caught.value.child_id == "slow"
    assert isinstance(caught.value.reason, Error)
    assert isinstance(caught.value.reason.exc, pykka.Timeout)

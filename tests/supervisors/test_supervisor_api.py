"""The supervisor's run-time API, mirroring start_child/2 ... delete_child/2."""

from __future__ import annotations

from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs
from sup_helpers import WAIT, crash, ref_of, restarted, worker_spec

from supervisors import (
    ChildCount,
    ChildNotFound,
    ChildRunning,
    ChildSpec,
    ChildType,
    Directory,
    DuplicateChild,
    Link,
    Restart,
    RootLink,
    StartError,
    SupervisorClient,
    SupFlags,
    start_supervisor,
)


@pytest.fixture
def client(directory: Directory, root: RootLink) -> SupervisorClient:
    specs = [worker_spec("a"), worker_spec("tmp", restart=Restart.TEMPORARY)]
    return SupervisorClient(start_supervisor("sup", SupFlags(), specs, root, directory), WAIT)


def test_which_children_lists_children_in_start_order_with_their_refs(
    client: SupervisorClient, directory: Directory
) -> None:
    rows = client.which_children()

    assert [(row.id, row.ref) for row in rows] == [
        ("a", ref_of(directory, "a")),
        ("tmp", ref_of(directory, "tmp")),
    ]


def test_count_children_counts_specs_active_supervisors_and_workers(
    client: SupervisorClient,
) -> None:
    client.terminate_child("a")

    assert client.count_children() == ChildCount(specs=2, active=1, supervisors=0, workers=2)


def test_start_child_appends_a_running_child(
    client: SupervisorClient, directory: Directory
) -> None:
    ref = client.start_child(worker_spec("b"))

    assert ref_of(directory, "b") is ref
    assert [row.id for row in client.which_children()] == ["a", "tmp", "b"]


def test_start_child_with_a_taken_id_raises_duplicate_child(client: SupervisorClient) -> None:
    with pytest.raises(DuplicateChild):
        client.start_child(worker_spec("a"))


def test_start_child_that_fails_raises_start_error_and_keeps_no_spec(
    client: SupervisorClient,
) -> None:
    with pytest.raises(StartError):
        client.start_child(worker_spec("b", fail_on_start=RuntimeError("x")))

    assert [row.id for row in client.which_children()] == ["a", "tmp"]


def test_terminate_child_stops_it_but_keeps_its_spec(
    client: SupervisorClient, directory: Directory
) -> None:
    client.terminate_child("a")

    assert directory.lookup("a") is None
    assert client.which_children()[0].ref is None


def test_terminate_child_deletes_a_temporary_childs_spec(client: SupervisorClient) -> None:
    client.terminate_child("tmp")

    assert [row.id for row in client.which_children()] == ["a"]


def test_restart_child_starts_a_terminated_child_again(
    client: SupervisorClient, directory: Directory
) -> None:
    client.terminate_child("a")

    ref = client.restart_child("a")

    assert ref_of(directory, "a") is ref


def test_restart_child_refuses_a_running_child(client: SupervisorClient) -> None:
    with pytest.raises(ChildRunning):
        client.restart_child("a")


def test_delete_child_removes_a_stopped_childs_spec(client: SupervisorClient) -> None:
    client.terminate_child("a")

    client.delete_child("a")

    assert [row.id for row in client.which_children()] == ["tmp"]


def test_delete_child_refuses_a_running_child(client: SupervisorClient) -> None:
    with pytest.raises(ChildRunning):
        client.delete_child("a")


def test_calls_about_an_unknown_child_raise_child_not_found(client: SupervisorClient) -> None:
    with pytest.raises(ChildNotFound):
        client.terminate_child("nobody")


def test_api_errors_do_not_crash_the_supervisor(client: SupervisorClient, root: RootLink) -> None:
    with pytest.raises(ChildNotFound):
        client.delete_child("nobody")

    assert client.ref.is_alive()
    assert root.reason is None


def test_a_supervisor_child_is_counted_as_a_supervisor(
    client: SupervisorClient, directory: Directory
) -> None:
    def start_inner(link: Link) -> pykka.ActorRef[Any]:
        return start_supervisor("inner", SupFlags(), [], link, directory)

    client.start_child(ChildSpec("inner", start_inner, type=ChildType.SUPERVISOR))

    assert client.count_children().supervisors == 1


def test_an_unexpected_message_is_logged_and_ignored(
    client: SupervisorClient, directory: Directory
) -> None:
    with capture_logs() as logs:
        client.ref.tell("what is this")
        restarted(directory, "a", crash(directory, "a"))

    assert [e["message"] for e in logs if e["event"] == "unexpected_message"] == ["'what is this'"]

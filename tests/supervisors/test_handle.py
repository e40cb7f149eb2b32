"""Names follow restarts: Directory and Handle (registered names, SUPERVISION 1.9 and 2.4)."""

from __future__ import annotations

import threading

import pykka
import pytest
from sup_helpers import WAIT, Worker, crash, ref_of, restarted, worker_spec

from supervisors import (
    Directory,
    Handle,
    Link,
    NameTaken,
    NotRunning,
    RootLink,
    SupFlags,
    start_supervisor,
)


def _supervised(directory: Directory, root: RootLink) -> Handle:
    start_supervisor("sup", SupFlags(intensity=3), [worker_spec("w")], root, directory)
    return Handle(directory, "w")


def test_a_handle_reaches_the_new_incarnation_after_a_restart(
    directory: Directory, root: RootLink
) -> None:
    handle = _supervised(directory, root)
    old = crash(directory, "w")
    new = restarted(directory, "w", old)

    assert handle.proxy().whoami().get(timeout=WAIT) == new.actor_urn


def test_an_ask_queued_behind_a_crash_is_retried_once_on_the_new_incarnation(
    directory: Directory, root: RootLink
) -> None:
    handle = _supervised(directory, root)
    ref = ref_of(directory, "w")
    busy = threading.Event()
    ref.proxy().crash_while_busy(ValueError("drill"), busy, 0.1)
    assert busy.wait(WAIT)

    answer = handle.ask(pykka.messages.ProxyCall(("whoami",), (), {}), timeout=WAIT)

    assert answer != ref.actor_urn
    assert answer == ref_of(directory, "w").actor_urn


def test_an_ask_that_times_out_is_not_retried(directory: Directory, root: RootLink) -> None:
    handle = _supervised(directory, root)
    ref_of(directory, "w").proxy().sleep(0.3)

    with pytest.raises(pykka.Timeout):
        handle.ask(pykka.messages.ProxyCall(("whoami",), (), {}), timeout=0.05)


def test_a_tell_to_a_dead_incarnation_is_sent_to_the_restarted_one(
    directory: Directory, root: RootLink
) -> None:
    handle = _supervised(directory, root)
    old = ref_of(directory, "w")
    old.proxy().crash(ValueError("drill")).get(timeout=WAIT)
    assert old.actor_stopped.wait(WAIT)

    handle.tell(pykka.messages.ProxyCall(("sleep",), (0.0,), {}))

    assert ref_of(directory, "w").actor_urn != old.actor_urn


def test_a_handle_to_an_unregistered_name_raises_not_running(directory: Directory) -> None:
    with pytest.raises(NotRunning):
        Handle(directory, "nobody").ref()


def test_a_dead_actor_that_is_never_restarted_raises_not_running(directory: Directory) -> None:
    ref = Worker.start(Link("w"), [])
    directory.register("w", ref)
    ref.stop(block=True, timeout=WAIT)

    with pytest.raises(NotRunning):
        Handle(directory, "w", restart_wait=0.05).ask("anything", timeout=WAIT)


def test_unregister_leaves_a_newer_incarnation_in_place(directory: Directory) -> None:
    old = Worker.start(Link("w"), [])
    directory.register("w", old)
    old.stop(block=True, timeout=WAIT)
    new = Worker.start(Link("w"), [])
    directory.register("w", new)

    assert directory.unregister("w", old.actor_urn) is False
    assert directory.lookup("w") is new


def test_a_name_held_by_a_live_actor_cannot_be_taken(directory: Directory) -> None:
    directory.register("w", Worker.start(Link("w"), []))

    with pytest.raises(NameTaken):
        directory.register("w", Worker.start(Link("w"), []))


def test_a_nested_name_space_keeps_a_childs_name_apart_from_the_same_name_outside(
    directory: Directory, root: RootLink
) -> None:
    workers = directory.namespace("workers")
    outer = Worker.start(Link("w"), [])
    directory.register("w", outer)

    start_supervisor("workers", SupFlags(), [worker_spec("w")], root, workers)

    inner = ref_of(workers, "w")
    assert inner.actor_urn != outer.actor_urn
    assert directory.lookup("w") is outer
    assert directory.namespace("workers") is workers
    assert directory.namespaces() == {"workers": workers}


def test_a_restart_in_a_name_space_leaves_the_outer_name_alone(
    directory: Directory, root: RootLink
) -> None:
    workers = directory.namespace("workers")
    outer = Worker.start(Link("w"), [])
    directory.register("w", outer)
    start_supervisor("workers", SupFlags(intensity=3), [worker_spec("w")], root, workers)

    new = restarted(workers, "w", crash(workers, "w"))

    assert Handle(workers, "w").proxy().whoami().get(timeout=WAIT) == new.actor_urn
    assert directory.lookup("w") is outer

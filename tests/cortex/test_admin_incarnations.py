"""Incarnations: start and exit history of named children, kept by watching the Directory."""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest

from cortex.observability.incarnations import Incarnations
from supervisors import ChildSpec, Link, SupervisedActor
from supervisors.reasons import Error


class _Worker(SupervisedActor):
    pass


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=5.0)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _start(incarnations: Incarnations, name: str = "w") -> tuple[pykka.ActorRef, Link]:
    link = Link(name)
    spec = incarnations.track(ChildSpec(name, _Worker.start))
    ref = spec.start(link)
    incarnations.register(name, ref)
    return ref, link


def test_a_name_never_started_has_an_empty_record():
    record = Incarnations().incarnation("nobody")

    assert (record.starts, record.restarts, record.last_exit) == (0, 0, None)


def test_the_first_start_is_not_a_restart():
    clock = _Clock()
    incarnations = Incarnations(wall_clock=clock)

    ref, _ = _start(incarnations)

    record = incarnations.incarnation("w")
    assert (record.urn, record.starts, record.restarts) == (ref.actor_urn, 1, 0)
    assert record.started_at == 1000.0


def test_each_later_start_counts_as_a_restart_and_keeps_the_exit_reason_and_time():
    clock = _Clock()
    incarnations = Incarnations(wall_clock=clock)
    ref, link = _start(incarnations)
    link.notify(Error(RuntimeError("boom")))
    clock.now = 1005.0
    incarnations.unregister("w", ref.actor_urn)
    ref.stop()

    clock.now = 1006.0
    _start(incarnations)

    record = incarnations.incarnation("w")
    assert record.restarts == 1
    assert str(record.last_exit) == "error: RuntimeError('boom')"
    assert (record.exited_at, record.started_at) == (1005.0, 1006.0)


def test_registering_the_same_incarnation_twice_counts_once():
    incarnations = Incarnations()
    ref, _ = _start(incarnations)

    incarnations.register("w", ref)

    assert incarnations.incarnation("w").starts == 1


def test_an_unregister_for_an_older_incarnation_leaves_the_exit_time_alone():
    incarnations = Incarnations()
    _start(incarnations)

    incarnations.unregister("w", "urn:someone-else")

    assert incarnations.incarnation("w").exited_at is None


def test_forget_resets_a_removed_child():
    incarnations = Incarnations()
    _start(incarnations)

    incarnations.forget("w")

    assert incarnations.incarnation("w").starts == 0


def test_a_nested_name_space_keeps_its_own_history_on_the_same_clock():
    clock = _Clock()
    incarnations = Incarnations(wall_clock=clock)
    workers = incarnations.namespace("providers")
    _start(incarnations, "cache")
    clock.now += 5.0

    _start(workers, "cache")

    assert isinstance(workers, Incarnations)
    assert workers.incarnation("cache").started_at == clock.now
    assert incarnations.incarnation("cache").started_at == clock.now - 5.0
    workers.forget("cache")
    assert incarnations.incarnation("cache").starts == 1

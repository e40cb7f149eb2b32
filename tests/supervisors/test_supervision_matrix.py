"""The supervision matrix: every strategy x restart type x kind of exit, with real actors.

One table row per case of SUPERVISION.md 1.4 and 1.6 (checklist 1 and 7): the middle child
``b`` of ``[a, b, c]`` exits, and the test checks exactly which children got a new
incarnation, which are running, and whether ``b``'s spec is kept. The other tests here
cover what the per-topic files leave out: one intensity window shared by all children
(checklist 2) and escalation that stops at a non-permanent child supervisor (1.5).
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest
from sup_helpers import WAIT, crash, ref_of, restarted, wait_until, worker_spec

from supervisors import (
    ChildInfo,
    ChildSpec,
    ChildType,
    Directory,
    Link,
    Restart,
    RootLink,
    Shutdown,
    Strategy,
    SupervisorClient,
    SupFlags,
    start_supervisor,
)

NAMES = ("a", "b", "c")
EXITS = ("crash", "normal", "shutdown")
SWEPT = {
    # who gets a new incarnation when b is restarted (restart/3)
    Strategy.ONE_FOR_ONE: {"b"},
    Strategy.ONE_FOR_ALL: {"a", "b", "c"},
    Strategy.REST_FOR_ONE: {"b", "c"},
}
GAVE_UP = Shutdown("reached_max_restart_intensity")


def _is_restarted(restart: Restart, how: str) -> bool:
    """do_restart/3: permanent always; transient only after an abnormal exit; never temporary."""
    if restart is Restart.PERMANENT:
        return True
    return restart is Restart.TRANSIENT and how == "crash"


def _exit(directory: Directory, name: str, how: str) -> str:
    """Make ``name`` exit with an error, a normal stop or a shutdown; returns its URN."""
    if how == "crash":
        return crash(directory, name)
    ref = ref_of(directory, name)
    if how == "normal":
        ref.stop(block=True, timeout=WAIT)
    else:
        ref.proxy().exit(Shutdown("done")).get(timeout=WAIT)
    return ref.actor_urn


def _children(client: SupervisorClient) -> dict[str, ChildInfo]:
    return {info.id: info for info in client.which_children()}


def _urn(info: ChildInfo | None) -> str | None:
    return None if info is None or info.ref is None else info.ref.actor_urn


@pytest.mark.parametrize("how", EXITS)
@pytest.mark.parametrize("restart", list(Restart), ids=lambda r: r.value)
@pytest.mark.parametrize("strategy", list(Strategy), ids=lambda s: s.value)
def test_an_exit_restarts_exactly_the_children_otp_would(
    directory: Directory, root: RootLink, strategy: Strategy, restart: Restart, how: str
) -> None:
    specs = [
        worker_spec(name, restart=restart if name == "b" else Restart.PERMANENT) for name in NAMES
    ]
    ref = start_supervisor("sup", SupFlags(strategy, 5, 5.0), specs, root, directory)
    client = SupervisorClient(ref, timeout=WAIT)
    before = {name: _urn(info) for name, info in _children(client).items()}

    old_b = _exit(directory, "b", how)
    # The supervisor handles one exit in one message, so once b's row changed it is done.
    assert wait_until(lambda: _urn(_children(client).get("b")) != old_b)
    after = _children(client)

    expected_new = SWEPT[strategy] if _is_restarted(restart, how) else set()
    new = {name for name in NAMES if name in after and _urn(after[name]) != before[name]}
    running = {name for name, info in after.items() if info.ref is not None}
    assert new - {"b"} == expected_new - {"b"}
    assert ("b" in running) is _is_restarted(restart, how)
    assert ("b" in after) is (restart is not Restart.TEMPORARY)
    assert running >= {"a", "c"}
    assert root.wait(0.0) is None


def test_the_intensity_window_is_shared_by_all_children_of_a_supervisor(
    directory: Directory, root: RootLink
) -> None:
    specs = [worker_spec(name) for name in NAMES]
    start_supervisor("sup", SupFlags(Strategy.ONE_FOR_ONE, 2, 5.0), specs, root, directory)

    restarted(directory, "a", crash(directory, "a"))
    restarted(directory, "b", crash(directory, "b"))
    crash(directory, "c")

    assert root.wait(WAIT) == GAVE_UP


def _inner(directory: Directory, restart: Restart) -> ChildSpec:
    def start(link: Link) -> pykka.ActorRef[Any]:
        return start_supervisor(
            "inner", SupFlags(intensity=0), [worker_spec("leaf")], link, directory
        )

    return ChildSpec("inner", start, restart=restart, type=ChildType.SUPERVISOR)


@pytest.mark.parametrize("restart", [Restart.TRANSIENT, Restart.TEMPORARY], ids=lambda r: r.value)
def test_escalation_stops_silently_at_a_child_supervisor_that_is_not_permanent(
    directory: Directory, root: RootLink, restart: Restart
) -> None:
    specs = [worker_spec("sibling"), _inner(directory, restart)]
    ref = start_supervisor("outer", SupFlags(intensity=0), specs, root, directory)
    client = SupervisorClient(ref, timeout=WAIT)
    sibling = ref_of(directory, "sibling")

    crash(directory, "leaf")

    assert wait_until(lambda: _urn(_children(client).get("inner")) is None)
    assert root.wait(0.2) is None
    assert ref_of(directory, "sibling") is sibling
    assert directory.lookup("leaf") is None

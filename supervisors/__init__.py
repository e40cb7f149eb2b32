"""A generic OTP-style supervision tree on Pykka actors.

Port of Erlang/OTP's ``supervisor`` (see ``SUPERVISION.md``): child specs, restart types,
strategies, one restart-intensity window per supervisor, synchronous ordered start with
rollback, reverse-order shutdown and escalation. It knows nothing about LLMs.

Usage::

    directory = Directory()
    root = RootLink("root")
    ref = start_supervisor("root", SupFlags(), [ChildSpec("cache", CacheActor.start)],
                           root, directory)
    Handle(directory, "cache").ask(Get("k"), timeout=1.0)   # survives restarts
    SupervisorClient(ref).which_children()                  # the supervisor's API
    root.stop(ref, timeout=30.0)                            # reverse-order shutdown

Actors under supervision subclass :class:`SupervisedActor` and take the ``Link`` their
spec's ``start`` callable receives. The supervisor API (``which_children``,
``count_children``, ``start_child``, ``terminate_child``, ``restart_child``,
``delete_child``) is reached through :class:`SupervisorClient` or ``ref.proxy()``.
"""

from __future__ import annotations

from supervisors.children import ChildCount, ChildInfo
from supervisors.client import SupervisorClient
from supervisors.dynamic import DynamicSupervisorActor, start_dynamic_supervisor
from supervisors.errors import (
    ChildNotFound,
    ChildRunning,
    DuplicateChild,
    NameTaken,
    NotRunning,
    StartError,
    SupervisorError,
)
from supervisors.intensity import RestartIntensity
from supervisors.link import ChildExited, ExitWatch, Link, Ready, RootLink, SupervisedActor
from supervisors.names import Directory, Handle
from supervisors.reasons import Abandoned, Error, ExitReason, Normal, Shutdown, is_normal_exit
from supervisors.spec import (
    BRUTAL_KILL,
    ChildSpec,
    ChildType,
    Restart,
    Strategy,
    SupFlags,
    check_child_specs,
)
from supervisors.strategies import RestartPlan, plan_restart, termination_order
from supervisors.supervisor import SupervisorActor, start_supervisor

__all__ = [
    "BRUTAL_KILL",
    "Abandoned",
    "ChildCount",
    "ChildExited",
    "ChildInfo",
    "ChildNotFound",
    "ChildRunning",
    "ChildSpec",
    "ChildType",
    "Directory",
    "DuplicateChild",
    "DynamicSupervisorActor",
    "Error",
    "ExitReason",
    "ExitWatch",
    "Handle",
    "Link",
    "NameTaken",
    "Normal",
    "NotRunning",
    "Ready",
    "Restart",
    "RestartIntensity",
    "RestartPlan",
    "RootLink",
    "Shutdown",
    "StartError",
    "Strategy",
    "SupFlags",
    "SupervisedActor",
    "SupervisorActor",
    "SupervisorClient",
    "SupervisorError",
    "check_child_specs",
    "is_normal_exit",
    "plan_restart",
    "start_dynamic_supervisor",
    "start_supervisor",
    "termination_order",
]

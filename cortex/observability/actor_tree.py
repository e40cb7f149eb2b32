"""The live supervision tree as JSON, for ``GET /admin/actors``.

The walk starts at the root and asks each supervisor ``which_children()`` (a bounded ask),
so what it shows is what the supervisors believe right now. Each node carries its kind,
restart policy, liveness, incarnation (the actor URN), restart count and last exit
(from :class:`~cortex.observability.incarnations.Incarnations`), uptime, mailbox depth,
and a summary of the actor's own state read from the shared tables (Board, KeyLedger, the
cache store) or, for the pool, from a ``DescribePool`` ask. Nothing here ever shows a
secret: keys appear masked, by id.

Every call blocks on actor asks: run it off the event loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from actors.board import Board
from actors.keys import KeyLedger, KeyView
from actors.response_store import ResponseStore
from cortex.chat import CachedAnswer
from cortex.crossing import ActorGone, ActorRef, AskTimeout, mailbox_depth
from cortex.observability.incarnations import Incarnations
from supervisors import (
    ChildInfo,
    ChildType,
    ExitReason,
    Restart,
    RootLink,
    SupervisorClient,
    SupFlags,
)

WHICH_CHILDREN_TIMEOUT = 2.0
"""Seconds one supervisor may take to list its children (it may be busy restarting)."""

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TreeSources:
    """Where the description of each node comes from.

    Attributes:
        root: the root supervisor's ref.
        root_link: the root's link (its exit reason, if it gave up).
        started_at: wall-clock time the tree started (the root's start).
        incarnations: start and exit history of the root's children, with the name
            spaces of supervisors that have one (the workers').
        flags: restart flags of each supervisor, by name.
        board: worker configurations and views.
        ledger: key usage and blocks.
        pool_state: the pool's own summary (strategy, last plans), or None if unreachable.
        cache: the response cache's store (its counters survive the cache actor).
        front_port: the HTTP port the front is bound to now, or None (not serving).
    """

    root: ActorRef[Any]
    root_link: RootLink
    started_at: float
    incarnations: Incarnations
    flags: Mapping[str, SupFlags]
    board: Board
    ledger: KeyLedger
    pool_state: Callable[[], Json | None]
    cache: ResponseStore[CachedAnswer]
    front_port: Callable[[], int | None]


def describe_tree(sources: TreeSources) -> Json:
    """The whole tree, root first; supervisors carry their ``children``."""
    root: Json = {
        "name": "root",
        "kind": "supervisor",
        "restart": Restart.PERMANENT.value,
        "alive": sources.root.is_alive(),
        "restarting": False,
        "incarnation": sources.root.actor_urn,
        "restarts": 0,
        "started_at": _iso(sources.started_at),
        "uptime_seconds": round(time.time() - sources.started_at, 3),
        "last_exit": _exit(_reason(sources.root_link.reason), None),
        "mailbox": mailbox_depth(sources.root),
    }
    _add_supervisor_fields(root, sources, sources.root, sources.incarnations)
    return root


def find_node(tree: Json, name: str) -> Json | None:
    """The node called ``name`` in a described tree, or None.

    Names are unique among siblings only (workers have their own name space, so a worker
    may be called ``cache``). A bare name finds the shallowest node of that name, so a
    core actor wins over a worker named like it; ``supervisor/child`` (``providers/cache``)
    finds that supervisor's child, whatever its name.
    """
    parent, slash, child = name.partition("/")
    if slash:
        supervisor = find_node(tree, parent)
        children = (supervisor or {}).get("children") or ()
        return next((node for node in children if node.get("name") == child), None)
    level = [tree]
    while level:
        found = next((node for node in level if node.get("name") == name), None)
        if found is not None:
            return found
        level = [child for node in level for child in node.get("children") or ()]
    return None


def _describe_child(info: ChildInfo, sources: TreeSources, names: Incarnations) -> Json:
    record = names.incarnation(info.id)
    ref = info.ref
    alive = ref is not None and ref.is_alive()
    started = record.started_at if alive else None
    node: Json = {
        "name": info.id,
        "kind": "supervisor" if info.type is ChildType.SUPERVISOR else "worker",
        "restart": info.restart.value,
        "alive": alive,
        "restarting": info.restarting,
        "incarnation": ref.actor_urn if ref is not None else None,
        "restarts": record.restarts,
        "started_at": _iso(started),
        "uptime_seconds": round(time.time() - started, 3) if started is not None else None,
        "last_exit": _exit(_reason(record.last_exit), record.exited_at),
        "mailbox": mailbox_depth(ref) if alive and ref is not None else None,
    }
    if info.type is ChildType.SUPERVISOR:
        if alive and ref is not None:
            # A supervisor given a name space of its own registers its children there.
            _add_supervisor_fields(node, sources, ref, names.namespaces().get(info.id, names))
        else:
            node["children"] = []
    else:
        node["state"] = _state(info.id, sources, core=names is sources.incarnations)
    return node


def _add_supervisor_fields(
    node: Json, sources: TreeSources, ref: ActorRef[Any], names: Incarnations
) -> None:
    flags = sources.flags.get(node["name"])
    if flags is not None:
        node["strategy"] = flags.strategy.value
        node["intensity"] = flags.intensity
        node["period"] = flags.period
    try:
        children = SupervisorClient(ref, WHICH_CHILDREN_TIMEOUT).which_children()
    except (AskTimeout, ActorGone):
        node["children"] = None
        node["error"] = "the supervisor did not answer in time (busy restarting, or stopped)"
        return
    node["children"] = [_describe_child(info, sources, names) for info in children]


def _state(name: str, sources: TreeSources, *, core: bool) -> Json | None:
    """The actor's own state, from the shared tables it writes (never a secret).

    The root's fixed children (``core``) have their own summary; every other worker is a
    provider, whatever its name.
    """
    summaries: dict[str, Callable[[TreeSources], Json | None]] = {
        "keys": _keys_state,
        "registry": lambda s: {"workers": [config.name for config in s.board.configs()]},
        "pool": lambda s: s.pool_state(),
        "cache": _cache_state,
        "front": _front_state,
    }
    summary = summaries.get(name) if core else None
    return summary(sources) if summary is not None else _provider_state(name, sources)


def _keys_state(sources: TreeSources) -> Json:
    return {
        "rotation": sources.ledger.strategy.value,
        "workers": {
            worker: [_key(view) for view in views]
            for worker, views in sources.ledger.snapshot().items()
        },
    }


def _cache_state(sources: TreeSources) -> Json:
    stats = sources.cache.stats()
    return {
        "entries": stats.entries,
        "bytes": stats.bytes,
        "hits": stats.hits,
        "misses": stats.misses,
        "evictions": stats.evictions,
    }


def _front_state(sources: TreeSources) -> Json:
    port = sources.front_port()
    return {"serving": port is not None, "port": port}


def _provider_state(name: str, sources: TreeSources) -> Json | None:
    view = sources.board.view(name)
    if view is None:
        return None
    now = time.monotonic()
    return {
        "type": view.config.type,
        "status": view.status.value,
        "breaker": view.breaker.state(now).value,
        "consecutive_failures": view.breaker.consecutive_failures,
        "in_flight": view.in_flight,
        "requests": view.requests,
        "successes": view.successes,
        "failures": view.failures,
        "client_errors": view.client_errors,
        "cancelled": view.cancelled,
        "latency_ms": view.latency_ms,
        "last_error": view.last_error,
        "last_check": _iso(view.last_check),
    }


def _key(view: KeyView) -> Json:
    return {
        "key_id": view.key_id,
        "key": view.masked,
        "requests": view.requests,
        "successes": view.successes,
        "failures": view.failures,
        "blocked": view.blocked_until is not None,
        "blocked_until": _iso(view.blocked_until),
        "block_reason": view.block_reason.value if view.block_reason else None,
    }


def _reason(reason: ExitReason | None) -> str | None:
    return None if reason is None else str(reason)


def _exit(reason: str | None, at: float | None) -> Json | None:
    if reason is None:
        return None
    return {"reason": reason, "at": _iso(at)}


def _iso(timestamp: float | None) -> str | None:
    """An ISO time, or None for no time and for a block that lasts until reload (inf)."""
    if timestamp is None or not math.isfinite(timestamp):
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat()

"""Cortex's supervision tree, declared as data.

::

    root (one_for_one)
    ├── keys        KeyManagerActor
    ├── registry    RegistryActor
    ├── providers   supervisor (one_for_one): one ProviderActor per worker
    ├── pool        PoolActor
    ├── cache       CacheActor (the response cache's owner)
    └── front       HttpFrontActor (event loop, HTTP server, upstream connection pool)

The root is ``one_for_one``, not the ``rest_for_one`` first sketched in DESIGN.md: every
actor reaches the others by name through the directory, and every piece of state that must
survive a crash lives on the board or the key ledger, so a restarted key manager leaves
nothing stale behind it. Restarting the front because the key manager crashed would only
cut every client's stream for nothing.

The response cache's store is created here too, next to the board and the ledger, so a
crash of the cache actor keeps its entries (each an immutable, validated answer) and its
counters; the restarted incarnation is handed the same store.

The providers supervisor builds its children from the board's registered workers, so
after it restarts it brings back exactly the workers that existed, including those added
at run time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pykka

from actors.board import Board
from actors.cache import CacheActor
from actors.key_manager import KeyManagerActor
from actors.keys import KeyLedger
from actors.pool import PoolActor
from actors.provider import ProbeSettings, ProviderActor
from actors.providers.catalog import adapter_for
from actors.registry import RegistryActor
from actors.response_store import ResponseStore
from actors.workers import WorkerConfig
from cortex.front import EngineSlot, HttpFrontActor
from cortex.incarnations import Incarnations
from cortex.runtime import Runtime
from cortex.settings import Settings
from supervisors import ChildSpec, ChildType, Directory, Link, RootLink, SupFlags, start_supervisor

ROOT_FLAGS = SupFlags(intensity=5, period=10.0)
PROVIDER_FLAGS = SupFlags(intensity=10, period=10.0)
ACTOR_SHUTDOWN = 5.0


@dataclass(frozen=True, slots=True)
class Tree:
    """Everything the tree shares with its owner."""

    board: Board
    ledger: KeyLedger
    directory: Directory
    slot: EngineSlot
    root_link: RootLink
    root: pykka.ActorRef[Any]
    cache_store: ResponseStore
    runtime: Runtime
    incarnations: Incarnations
    started_at: float


def provider_spec(
    config: WorkerConfig, settings: Settings, board: Board, ledger: KeyLedger
) -> ChildSpec:
    """The child spec of one worker's provider actor."""
    probe = ProbeSettings(
        settings.health_check_interval, settings.health_check_timeout, settings.breaker
    )

    def start(link: Link) -> pykka.ActorRef[Any]:
        return ProviderActor.start(
            link,
            config,
            board=board,
            adapter=adapter_for(config.type),
            probe=probe,
            usable_keys=lambda: ledger.available(config.name),
            probe_key=lambda: ledger.probe_key(config.name),
            next_unblock_in=lambda: ledger.next_unblock_in(config.name),
        )

    # A probe runs off the actor's thread, so the stop never waits for one.
    return ChildSpec(id=config.name, start=start, shutdown=ACTOR_SHUTDOWN)


def start_tree(settings: Settings, *, serve_http: bool) -> Tree:
    """Seed the shared state with the configured workers and start the whole tree.

    Raises:
        StartError: a child failed to start (for example, the HTTP port is taken).
    """
    board, ledger, directory, slot = (
        Board(),
        KeyLedger(
            strategy=settings.key_rotation,
            default_block_seconds=settings.rate_limit_block_seconds,
            quota_block_seconds=settings.quota_block_seconds,
        ),
        Incarnations(),
        EngineSlot(),
    )
    runtime = Runtime(settings)
    started_at = time.time()
    cache_store = ResponseStore(settings.cache.limits)
    for config in settings.workers:
        board.put_config(config)
        ledger.configure(config.name, config.api_keys)

    def start_providers(link: Link) -> pykka.ActorRef[Any]:
        specs = [
            directory.track(provider_spec(c, settings, board, ledger)) for c in board.configs()
        ]
        return start_supervisor("providers", PROVIDER_FLAGS, specs, link, directory)

    def start_front(link: Link) -> pykka.ActorRef[Any]:
        return HttpFrontActor.start(
            link,
            settings=settings,
            board=board,
            ledger=ledger,
            directory=directory,
            slot=slot,
            serve_http=serve_http,
            cache_store=cache_store,
            runtime=runtime,
        )

    children = [
        ChildSpec(
            id="keys",
            start=lambda link: KeyManagerActor.start(link, ledger),
            shutdown=ACTOR_SHUTDOWN,
        ),
        ChildSpec(
            id="registry",
            start=lambda link: RegistryActor.start(link, board),
            shutdown=ACTOR_SHUTDOWN,
        ),
        ChildSpec(id="providers", start=start_providers, type=ChildType.SUPERVISOR),
        ChildSpec(
            id="pool",
            start=lambda link: PoolActor.start(
                link, board, runtime.settings.strategy, runtime.settings.routes
            ),
            shutdown=ACTOR_SHUTDOWN,
        ),
        ChildSpec(
            id="cache",
            start=lambda link: CacheActor.start(link, cache_store),
            shutdown=ACTOR_SHUTDOWN,
        ),
        ChildSpec(
            id="front", start=start_front, shutdown=settings.shutdown_grace + 2 * ACTOR_SHUTDOWN
        ),
    ]
    root_link = RootLink("root")
    tracked = [directory.track(child) for child in children]
    root = start_supervisor("root", ROOT_FLAGS, tracked, root_link, directory, start_timeout=30.0)
    return Tree(
        board, ledger, directory, slot, root_link, root, cache_store, runtime, directory, started_at
    )

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

Worker names are chosen by users, so the providers supervisor registers its children in a
name space of their own (:data:`WORKERS`, nested in the tree's directory): a worker may be
called ``cache`` or ``pool`` and neither it nor the core actor of that name notices the
other. The data plane reaches a worker's actor by a lookup in that name space, as cheap
as any other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from actors.board import Board
from actors.cache import CacheActor
from actors.key_manager import KeyManagerActor
from actors.keys import KeyLedger
from actors.pool import PoolActor
from actors.provider import ProbeSettings, ProviderActor
from actors.redaction import Redactor
from actors.registry import RegistryActor
from actors.response_store import ResponseStore
from actors.workers import WorkerConfig
from cortex.chat import CachedAnswer
from cortex.config.runtime import Runtime
from cortex.config.settings import Settings
from cortex.crossing import ActorRef
from cortex.fleet.breakers import FleetBreakers
from cortex.fleet.instances import Identity
from cortex.http.front import EngineSlot, HttpFrontActor
from cortex.observability.incarnations import Incarnations
from cortex.ops.drills import StartDrills
from cortex.ops.workers import WORKERS, seed
from cortex.providers.catalog import adapter_for
from supervisors import ChildSpec, ChildType, Directory, Link, RootLink, SupFlags, start_supervisor

ROOT_FLAGS = SupFlags(intensity=5, period=10.0)
PROVIDER_FLAGS = SupFlags(intensity=10, period=10.0)
ACTOR_SHUTDOWN = 5.0


@dataclass(frozen=True, slots=True)
class Tree:
    """Everything the tree shares with its owner.

    Attributes:
        directory: the names of the root's children (the core actors).
        incarnations: the same directory, with each core actor's start and exit history.
        workers: the name space of the workers (the providers supervisor's children),
            nested in ``directory``, with their history.
        drills: start drills armed through the admin API.
        core_names: the ids of the root's children.
        breakers: the fleet's shared breakers; None without a shared store.
    """

    board: Board
    ledger: KeyLedger
    directory: Directory
    slot: EngineSlot
    root_link: RootLink
    root: ActorRef[Any]
    cache_store: ResponseStore[CachedAnswer]
    runtime: Runtime
    incarnations: Incarnations
    workers: Incarnations
    drills: StartDrills
    core_names: frozenset[str]
    started_at: float
    breakers: FleetBreakers | None = None

    def lookup(self, name: str) -> ActorRef[Any] | None:
        """The actor an operator means by ``name``, or None.

        A core actor's name means that actor, any other name a worker's;
        ``providers/<worker>`` always means the worker (also one named like a core actor).
        """
        supervisor, slash, child = name.partition("/")
        if slash:
            return self.workers.lookup(child) if supervisor == WORKERS else None
        # By id, not by registration: a core actor that is restarting is still meant.
        if name in self.core_names:
            return self.directory.lookup(name)
        return self.workers.lookup(name)

    def worker_spec(self, config: WorkerConfig, settings: Settings) -> ChildSpec:
        """The tracked child spec of one worker, for the providers supervisor."""
        spec = provider_spec(
            config, settings, self.board, self.ledger, self.drills, peers=self.breakers
        )
        return self.workers.track(spec)


def provider_spec(
    config: WorkerConfig,
    settings: Settings,
    board: Board,
    ledger: KeyLedger,
    drills: StartDrills,
    *,
    peers: FleetBreakers | None = None,
) -> ChildSpec:
    """The child spec of one worker's provider actor (armed start drills fire in it)."""
    probe = ProbeSettings(
        settings.health_check_interval, settings.health_check_timeout, settings.breaker
    )

    def start(link: Link) -> ActorRef[Any]:
        drills.check(config.name)
        return ProviderActor.start(
            link,
            config,
            board=board,
            adapter=adapter_for(config.type),
            probe=probe,
            usable_keys=lambda: ledger.available(config.name),
            probe_key=lambda: ledger.probe_key(config.name),
            next_unblock_in=lambda: ledger.next_unblock_in(config.name),
            redactor=ledger.redactor,
            peers=peers,
        )

    # A probe runs off the actor's thread, so the stop never waits for one.
    return ChildSpec(id=config.name, start=start, shutdown=ACTOR_SHUTDOWN)


def start_tree(settings: Settings, *, serve_http: bool, redactor: Redactor | None = None) -> Tree:
    """Seed the shared state with the configured workers and start the whole tree.

    Args:
        settings: the validated settings.
        serve_http: whether the front listens for HTTP.
        redactor: learns every configured secret (the daemon's log output uses it too);
            a fresh one if omitted.

    Raises:
        StartError: a child failed to start (for example, the HTTP port is taken).
    """
    parts = _shared_state(settings, redactor if redactor is not None else Redactor())
    children = _children(settings, parts, serve_http=serve_http)
    root_link = RootLink("root")
    tracked = [parts.directory.track(child) for child in children]
    root = start_supervisor(
        "root", ROOT_FLAGS, tracked, root_link, parts.directory, start_timeout=30.0
    )
    return Tree(
        board=parts.board,
        ledger=parts.ledger,
        directory=parts.directory,
        slot=parts.slot,
        root_link=root_link,
        root=root,
        cache_store=parts.cache_store,
        runtime=parts.runtime,
        incarnations=parts.directory,
        workers=parts.workers,
        drills=parts.drills,
        core_names=frozenset(child.id for child in children),
        started_at=parts.started_at,
        breakers=parts.breakers,
    )


@dataclass(frozen=True, slots=True)
class _Shared:
    """The state that outlives any actor's crash, created before the tree starts."""

    board: Board
    ledger: KeyLedger
    directory: Incarnations
    workers: Incarnations
    slot: EngineSlot
    drills: StartDrills
    runtime: Runtime
    cache_store: ResponseStore[CachedAnswer]
    started_at: float
    identity: Identity
    breakers: FleetBreakers | None


def _shared_state(settings: Settings, redactor: Redactor) -> _Shared:
    """The shared tables, seeded with the configured workers (see :func:`seed`)."""
    board = Board()
    ledger = KeyLedger(
        strategy=settings.key_rotation,
        default_block_seconds=settings.rate_limit_block_seconds,
        quota_block_seconds=settings.quota_block_seconds,
        redactor=redactor,
        max_block_seconds=settings.max_key_rest,
    )
    for config in settings.workers:
        seed(board, ledger, config)
    directory = Incarnations()
    started_at = time.time()
    identity = Identity.create(started_at)
    return _Shared(
        board=board,
        ledger=ledger,
        directory=directory,
        workers=directory.namespace(WORKERS),
        slot=EngineSlot(),
        drills=StartDrills(),
        runtime=Runtime(settings, redactor),
        cache_store=ResponseStore[CachedAnswer](settings.cache.limits),
        started_at=started_at,
        identity=identity,
        breakers=FleetBreakers(identity.id) if settings.redis_url else None,
    )


def _children(settings: Settings, parts: _Shared, *, serve_http: bool) -> list[ChildSpec]:
    """The root's children, in start order."""
    board, ledger, runtime = parts.board, parts.ledger, parts.runtime

    def start_providers(link: Link) -> ActorRef[Any]:
        specs = [
            parts.workers.track(
                provider_spec(c, settings, board, ledger, parts.drills, peers=parts.breakers)
            )
            for c in board.configs()
        ]
        return start_supervisor(WORKERS, PROVIDER_FLAGS, specs, link, parts.workers)

    def start_front(link: Link) -> ActorRef[Any]:
        return HttpFrontActor.start(
            link,
            settings=settings,
            board=board,
            ledger=ledger,
            directory=parts.directory,
            workers=parts.workers,
            slot=parts.slot,
            serve_http=serve_http,
            cache_store=parts.cache_store,
            runtime=runtime,
            identity=parts.identity,
            breakers=parts.breakers,
        )

    return [
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
        ChildSpec(id=WORKERS, start=start_providers, type=ChildType.SUPERVISOR),
        ChildSpec(
            id="pool",
            start=lambda link: PoolActor.start(
                link, board, runtime.settings.strategy, runtime.settings.routes
            ),
            shutdown=ACTOR_SHUTDOWN,
        ),
        ChildSpec(
            id="cache",
            start=lambda link: CacheActor.start(link, parts.cache_store),
            shutdown=ACTOR_SHUTDOWN,
        ),
        ChildSpec(
            id="front", start=start_front, shutdown=settings.shutdown_grace + 2 * ACTOR_SHUTDOWN
        ),
    ]

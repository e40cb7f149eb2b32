"""Messages the domain actors understand: frozen dataclasses, never dicts.

Commands are imperative (``RegisterWorker``); events are past tense (``AttemptEnded``).
Asks expect a reply; tells do not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from actors.keys import RotationStrategy
from actors.outcomes import UpstreamFailure
from actors.planning import Route, RoutingStrategy
from actors.probe import ProbeResult
from actors.workers import PlanKind, WorkerConfig


@dataclass(frozen=True, slots=True)
class RegisterWorker:
    """Ask the registry to add a worker. Replies None; raises if the name is taken."""

    config: WorkerConfig


@dataclass(frozen=True, slots=True)
class UnregisterWorker:
    """Ask the registry to forget a worker. Replies whether it existed."""

    name: str


@dataclass(frozen=True, slots=True)
class ConfigureKeys:
    """Ask the key manager to take this worker's key list (replacing any earlier one)."""

    worker: str
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ForgetKeys:
    """Ask the key manager to drop a removed worker's keys."""

    worker: str


@dataclass(frozen=True, slots=True)
class UnblockKey:
    """Ask the key manager to put a blocked key back into rotation. Replies whether it was."""

    worker: str
    key_id: str


@dataclass(frozen=True, slots=True)
class UnblockExpired:
    """Tell the key manager (from its own timer) to release keys whose block has passed."""


@dataclass(frozen=True, slots=True)
class PlanRoute:
    """Ask the pool for an ordered failover plan. Replies a :class:`Plan`.

    ``model`` is the requested model (a name, a route, ``auto`` or None); ``pin`` the
    worker the client pinned, with ``model`` then the model to ask it for (None: its
    default); ``kind`` what the request asks for, which decides the models that count.
    """

    model: str | None
    strategy: RoutingStrategy | None = None
    pin: str | None = None
    kind: PlanKind = PlanKind.CHAT


@dataclass(frozen=True, slots=True)
class SetRouting:
    """Tell the pool to use a new default strategy and model routes (hot reload)."""

    strategy: RoutingStrategy
    routes: Mapping[str, Route]


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """Tell a provider actor how an attempt ended (``failure`` None: success).

    Only outcomes that say something about the worker are told: a success or a failure
    of the worker or its key. The counters are the data plane's, on the board.
    """

    failure: UpstreamFailure | None = None


@dataclass(frozen=True, slots=True)
class AttemptsSucceeded:
    """Tell a provider actor that attempts succeeded at these monotonic times, oldest first.

    The data plane batches a steady worker's successes into one message, so the actor's
    thread wakes for a batch rather than for every request; a success that changes the
    worker's state is told at once as :class:`AttemptEnded`.
    """

    times: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ProbeHealth:
    """Tell a provider actor (from its own timer) to probe its upstream now."""


@dataclass(frozen=True, slots=True)
class ProbeFinished:
    """Tell a provider actor (from its probe's thread) how probe number ``probe_id`` went.

    ``loaded`` is the answer to the loaded-models call of a wire that reports its
    inventory, when the model listing succeeded.
    """

    probe_id: int
    result: ProbeResult
    loaded: ProbeResult | None = None


@dataclass(frozen=True, slots=True)
class WarmFinished:
    """Tell a provider actor (from a warm-up's thread) how loading ``model`` went."""

    model: str
    result: ProbeResult


@dataclass(frozen=True, slots=True)
class RefreshModels:
    """Tell a provider actor its upstream's models changed (a pull, a delete): probe now.

    A probe already under way may have read the old list, so another follows it.
    """


@dataclass(frozen=True, slots=True)
class UpdateWorker:
    """Ask the registry to replace a registered worker's configuration (hot reload).

    Replies None; raises ``LookupError`` if no worker has that name. The worker's published
    view (its statistics) is kept.
    """

    config: WorkerConfig


@dataclass(frozen=True, slots=True)
class SetKeyRotation:
    """Ask the key manager to rotate keys by another strategy; counters and blocks stay."""

    strategy: RotationStrategy


@dataclass(frozen=True, slots=True)
class DescribePool:
    """Ask the pool for a :class:`~actors.pool.PoolSummary` (admin API)."""

"""Turning worker snapshots into an ordered failover plan for one request.

Pure functions, no state: the Pool actor hands in the :class:`WorkerView` snapshots the
provider actors published, and gets back the candidates to try, best first. The data
plane walks the plan, moving to the next candidate on any failure before the first byte.

Planning fails with one of these errors, named after what the caller can do:

    PlanError                 base class; never raised itself
    ├── NoRouteForModel       no worker serves the requested model (404)
    │   └── UnknownWorker     the request was pinned to a worker that does not exist
    └── NoWorkerAvailable     workers serve the request but all are unhealthy (503/429);
                              carries the reason each one was skipped

A pin arrives as its own field (read where the request entered): model names are never split.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from actors.breaker import BreakerState
from actors.local_models import loaded_first, similar_pairs
from actors.workers import HealthStatus, PlanKind, WorkerView

AUTO_MODEL = "auto"
BREAKER_OPEN = "breaker_open"
"""The reason given for a worker skipped because its circuit breaker is open."""
NO_MODELS = "no_models"
"""The reason given for a worker skipped by ``auto`` routing because it lists no model."""

_SKIPPED = frozenset(
    {HealthStatus.UNAVAILABLE, HealthStatus.RATE_LIMITED, HealthStatus.QUOTA_EXCEEDED}
)


class RoutingStrategy(StrEnum):
    """How the healthy candidates of a plan are ordered."""

    PRIORITY = "priority"
    LOCAL_FIRST = "local_first"
    CLOUD_FIRST = "cloud_first"
    ROUND_ROBIN = "round_robin"
    LEAST_USED = "least_used"
    LEAST_LOADED = "least_loaded"
    FASTEST = "fastest"
    COST_OPTIMIZED = "cost_optimized"
    RANDOM = "random"


@dataclass(frozen=True, slots=True)
class Route:
    """A public model name mapped to an ordered chain of ``worker/model`` targets.

    Attributes:
        name: the model name clients ask for (``smart``).
        targets: ``(worker, upstream model)`` pairs, tried in this order.
        fallbacks: provider error code -> target to try for that error instead of failing
            (``context_length_exceeded`` -> a larger-context target).
        continuation: whether a stream broken mid-answer may be continued by a
            prefill-capable target; ``None`` follows the gateway-wide setting.
        content_rules: a request for this route is first offered to the content rules,
            which may send it elsewhere (as a request for ``auto`` always is).
    """

    name: str
    targets: tuple[tuple[str, str], ...]
    fallbacks: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    continuation: bool | None = None
    content_rules: bool = False


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What a plan may depend on beyond the worker views; owned by the pool.

    Attributes:
        now: the current monotonic time (breaker cool-downs are monotonic).
        turn: a counter the pool advances per request, for round-robin.
        rng: randomness for the ``random`` strategy, injectable for tests.
        routes: configured model routes by public name.
        trials_taken: workers whose half-open trial is already under way.
    """

    now: float = 0.0
    turn: int = 0
    rng: random.Random = field(default_factory=random.Random)
    routes: Mapping[str, Route] = field(default_factory=dict)
    trials_taken: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One worker to try, with the upstream model to ask it for.

    Attributes:
        worker: the worker's name.
        type: the worker's provider family (selects the adapter).
        base_url: where the worker's API lives.
        model: the model name to send upstream.
        timeout: the worker's per-attempt deadline, in seconds.
        needs_key: whether the attempt must lease an API key first.
        first_token_timeout: seconds allowed before the first token.
        max_concurrent: attempts the worker may serve at once (None: unlimited).
        supports_prefill: it can continue a partial assistant message.
        trial: this attempt is its breaker's half-open trial.
        max_tokens: the worker's answer length when the client names none.
        substituted_for: the model the client asked for, when no instance had it and
            ``model`` is the closest one present (``similar_models``).
    """

    worker: str
    type: str
    base_url: str
    model: str
    timeout: float
    needs_key: bool
    first_token_timeout: float = 30.0
    max_concurrent: int | None = None
    supports_prefill: bool = False
    trial: bool = False
    max_tokens: int | None = None
    substituted_for: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What the data plane walks: candidates in order, and fallbacks by provider error code.

    Attributes:
        candidates: workers to try, best first.
        fallbacks: provider error code -> the target a model route names for that error.
        continuation: the route's say on mid-stream continuation (``None``: no route, or
            the route leaves it to the gateway-wide setting).
        routed: the candidates are a configured route's chain of targets, where the next
            target may be a different model rather than an interchangeable worker.
    """

    candidates: tuple[Candidate, ...]
    fallbacks: Mapping[str, Candidate] = field(default_factory=dict)
    continuation: bool | None = None
    routed: bool = False


class PlanError(Exception):
    """No plan can be built for the request."""


class NoRouteForModel(PlanError):
    """No worker serves the requested model name."""

    def __init__(self, model: str) -> None:
        super().__init__(f"no worker serves model {model!r}")
        self.model = model


class UnknownWorker(NoRouteForModel):
    """The request was pinned to a worker that does not exist (it may just have been removed)."""

    def __init__(self, worker: str, model: str) -> None:
        PlanError.__init__(self, f"no worker named {worker!r}")
        self.worker = worker
        self.model = model


class NoWorkerAvailable(PlanError):
    """Workers exist for the request, but none of them is healthy enough to try.

    Attributes:
        model: the model as the client asked for it (None for automatic choice).
        reasons: why each worker was skipped: a :class:`HealthStatus` value,
            :data:`NO_MODELS` or :data:`BREAKER_OPEN`. Empty when no worker is configured.
        retry_after: seconds until the first open breaker lets a trial through, if any.
    """

    def __init__(
        self, model: str | None, reasons: Mapping[str, str], retry_after: float | None = None
    ) -> None:
        self.model = model
        self.reasons = dict(reasons)
        self.retry_after = retry_after
        target = "any model" if model is None else f"model {model!r}"
        if self.reasons:
            detail = ", ".join(f"{w}={r}" for w, r in sorted(self.reasons.items()))
        else:
            detail = "no worker is configured"
        super().__init__(f"no worker available for {target}: {detail}")


Ordering = Callable[[Sequence[WorkerView], PlanContext], list[WorkerView]]
"""Puts workers in preference order: a small pure function of the snapshot and context."""


def _by_priority(views: Sequence[WorkerView], _: PlanContext) -> list[WorkerView]:
    return sorted(views, key=lambda v: (v.config.priority, v.name))


def _local_first(views: Sequence[WorkerView], _: PlanContext) -> list[WorkerView]:
    return sorted(views, key=lambda v: (not v.config.is_local, v.config.priority, v.name))


def _cloud_first(views: Sequence[WorkerView], _: PlanContext) -> list[WorkerView]:
    return sorted(views, key=lambda v: (v.config.is_local, v.config.priority, v.name))


def _round_robin(views: Sequence[WorkerView], context: PlanContext) -> list[WorkerView]:
    ordered = _by_priority(views, context)
    if not ordered:
        return ordered
    shift = context.turn % len(ordered)
    return ordered[shift:] + ordered[:shift]


def _least_used(views: Sequence[WorkerView], _: PlanContext) -> list[WorkerView]:
    return sorted(views, key=lambda v: (v.requests, v.config.priority, v.name))


def _least_loaded(views: Sequence[WorkerView], _: PlanContext) -> list[WorkerView]:
    return sorted(views, key=lambda v: (v.in_flight, v.config.priority, v.name))


def _fastest(views: Sequence[WorkerView], _: PlanContext) -> list[WorkerView]:
    # A worker never measured goes first among equals, so it gets measured.
    return sorted(views, key=lambda v: (v.latency_ms or 0.0, v.config.priority, v.name))


def _cheapest(views: Sequence[WorkerView], _: PlanContext) -> list[WorkerView]:
    return sorted(views, key=lambda v: (v.config.cost, v.config.priority, v.name))


def _random(views: Sequence[WorkerView], context: PlanContext) -> list[WorkerView]:
    shuffled = _by_priority(views, context)
    context.rng.shuffle(shuffled)
    return shuffled


ORDERINGS: Mapping[RoutingStrategy, Ordering] = {
    RoutingStrategy.PRIORITY: _by_priority,
    RoutingStrategy.LOCAL_FIRST: _local_first,
    RoutingStrategy.CLOUD_FIRST: _cloud_first,
    RoutingStrategy.ROUND_ROBIN: _round_robin,
    RoutingStrategy.LEAST_USED: _least_used,
    RoutingStrategy.LEAST_LOADED: _least_loaded,
    RoutingStrategy.FASTEST: _fastest,
    RoutingStrategy.COST_OPTIMIZED: _cheapest,
    RoutingStrategy.RANDOM: _random,
}
"""One ordering per strategy: adding a strategy is adding an entry here."""


def build_plan(
    views: Sequence[WorkerView],
    requested_model: str | None,
    strategy: RoutingStrategy,
    context: PlanContext | None = None,
    *,
    pin: str | None = None,
    kind: PlanKind = PlanKind.CHAT,  # which of each worker's model lists counts
) -> tuple[Candidate, ...]:
    """Build the ordered list of workers to try for one request.

    Model resolution: a ``pin`` names the one worker to try, asked for ``requested_model``
    as is (``None`` or ``"auto"`` means its default, first, model); otherwise ``None`` or
    ``"auto"`` uses every worker with its default model, skipping workers that list none; a
    configured route name uses the route's targets in the route's order; any other name
    goes to the workers whose models include it.

    Health: unavailable, rate-limited and out-of-quota workers and open breakers are
    skipped; a half-open worker gets one trial at a time; a degraded one (it failed
    recently) keeps its place: the breaker, not one past failure, stops its traffic.

    Args:
        views: the current snapshot of every worker.
        requested_model: the ``model`` field of the client's request.
        strategy: how to order the candidates (not used for routes, which are ordered).
        context: time, counters, randomness and routes the plan may use.
        pin: the worker the client pinned the request to, if any.

    Returns:
        The candidates, best first; never empty.

    Raises:
        UnknownWorker: the pinned worker does not exist.
        NoRouteForModel: no worker serves the requested model.
        NoWorkerAvailable: every matching worker was skipped.
    """
    context = context or PlanContext()
    pairs, skipped, routed = _resolve(views, requested_model, context.routes, pin, kind)
    usable: list[tuple[WorkerView, str, bool]] = []
    waits: list[float] = []
    for view, model in pairs:
        breaker = view.breaker.state(context.now)
        if view.status in _SKIPPED:
            skipped[view.name] = view.status.value
        elif breaker is BreakerState.OPEN or (
            breaker is BreakerState.HALF_OPEN and view.name in context.trials_taken
        ):
            skipped[view.name] = BREAKER_OPEN
            if view.breaker.next_trial_at is not None:
                waits.append(max(0.0, view.breaker.next_trial_at - context.now))
        else:
            usable.append((view, model, breaker is BreakerState.HALF_OPEN))
    if not usable:
        model_name = None if requested_model in (None, AUTO_MODEL) else requested_model
        raise NoWorkerAvailable(model_name, skipped, min(waits) if waits else None)
    if not routed:
        usable = loaded_first(_ordered(usable, strategy, context))
    asked = None if pin or routed or requested_model == AUTO_MODEL else requested_model
    return tuple(_candidate(view, model, trial, asked) for view, model, trial in usable)


def _ordered(
    usable: list[tuple[WorkerView, str, bool]], strategy: RoutingStrategy, context: PlanContext
) -> list[tuple[WorkerView, str, bool]]:
    """The usable ``(worker, model, trial)`` entries in the strategy's order."""
    order = {
        v.name: i for i, v in enumerate(ORDERINGS[strategy]([v for v, _, _ in usable], context))
    }
    return sorted(usable, key=lambda item: order[item[0].name])


def _resolve(
    views: Sequence[WorkerView],
    requested: str | None,
    routes: Mapping[str, Route],
    pin: str | None,
    kind: PlanKind,
) -> tuple[list[tuple[WorkerView, str]], dict[str, str], bool]:
    """Match workers to the pin or the requested model, before any health filtering.

    Returns:
        ``(worker, upstream model)`` pairs, workers skipped for lack of a model, and
        whether the pairs come from a configured route (and so keep their order).
    """
    if pin is not None:
        return _pinned(views, pin, requested, kind)
    if requested is None or requested == AUTO_MODEL:
        listed = [(v, v.serving(kind)) for v in views]
        pairs = [(v, models[0]) for v, models in listed if models]
        return pairs, {v.name: NO_MODELS for v, models in listed if not models}, False
    by_name = {v.name: v for v in views}
    route = routes.get(requested)
    if route is not None:
        pairs = [(by_name[w], m) for w, m in route.targets if w in by_name]
        if not pairs:
            raise NoRouteForModel(requested)
        return pairs, {}, True
    # No worker has the model: those that allow it may answer with the closest one.
    pairs = [(v, requested) for v in views if v.serves(requested, kind)]
    if pairs or (kind is PlanKind.CHAT and (pairs := similar_pairs(views, requested))):
        return pairs, {}, False
    raise NoRouteForModel(requested)


def _pinned(
    views: Sequence[WorkerView], pin: str, requested: str | None, kind: PlanKind
) -> tuple[list[tuple[WorkerView, str]], dict[str, str], bool]:
    """The pinned worker with the model to ask it for, as :func:`_resolve` returns them."""
    pinned = next((v for v in views if v.name == pin), None)
    if pinned is None:
        raise UnknownWorker(pin, requested or AUTO_MODEL)
    if requested and requested != AUTO_MODEL:
        return [(pinned, requested)], {}, False
    if models := pinned.serving(kind):
        return [(pinned, models[0])], {}, False
    return [], {pinned.name: NO_MODELS}, False


def _candidate(view: WorkerView, model: str, trial: bool, asked: str | None = None) -> Candidate:
    # ``asked``: the model of a plain (unpinned, unrouted) request, which a stand-in may serve.
    config = view.config
    return Candidate(
        worker=config.name,
        type=config.type,
        base_url=config.base_url,
        model=model,
        timeout=config.timeout,
        needs_key=config.needs_key,
        first_token_timeout=config.time_to_first_token,
        max_concurrent=config.max_concurrent,
        supports_prefill=config.supports_prefill,
        trial=trial,
        max_tokens=config.max_tokens,
        substituted_for=asked if asked is not None and asked != model else None,
    )


def route_fallbacks(views: Sequence[WorkerView], route: Route | None) -> dict[str, Candidate]:
    """The fallback targets a model route names, by provider error code (none without one)."""
    by_name = {v.name: v for v in views}
    fallbacks = route.fallbacks.items() if route is not None else ()
    return {
        code: _candidate(by_name[w], m, trial=False) for code, (w, m) in fallbacks if w in by_name
    }

"""Turning worker snapshots into an ordered failover plan for one request.

Pure functions, no state: the Pool actor hands in the :class:`WorkerView` snapshots the
provider actors published, and gets back the candidates to try, best first. The data
plane walks the plan, moving to the next candidate on any failure before the first byte.

Planning fails with one of these errors, named after what the caller can do:

    PlanError                 base class; never raised itself
    ├── NoRouteForModel       no worker serves the requested model (404)
    │   └── UnknownWorker     "<worker>/<model>" named a worker that does not exist
    └── NoWorkerAvailable     workers serve the request but all are unhealthy (503/429);
                              carries the reason each one was skipped

``UnknownWorker`` is a ``NoRouteForModel`` because ``"x/y"`` is only a pin when ``x`` is a
worker; otherwise it is also read as a bare model name, and it failed as both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from actors.workers import HealthStatus, ProviderType, WorkerView

AUTO_MODEL = "auto"
NO_MODELS = "no_models"
"""The reason given for a worker skipped by ``auto`` routing because it lists no model."""

_SKIPPED = frozenset(
    {HealthStatus.UNAVAILABLE, HealthStatus.RATE_LIMITED, HealthStatus.QUOTA_EXCEEDED}
)


class RoutingStrategy(StrEnum):
    """How the healthy candidates of a plan are ordered."""

    PRIORITY = "priority"
    LOCAL_FIRST = "local_first"


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
    """

    worker: str
    type: ProviderType
    base_url: str
    model: str
    timeout: float
    needs_key: bool


class PlanError(Exception):
    """No plan can be built for the request."""


class NoRouteForModel(PlanError):
    """No worker serves the requested model name."""

    def __init__(self, model: str) -> None:
        super().__init__(f"no worker serves model {model!r}")
        self.model = model


class UnknownWorker(NoRouteForModel):
    """The request pinned ``"<worker>/<model>"`` to a worker that does not exist."""

    def __init__(self, worker: str, model: str) -> None:
        PlanError.__init__(
            self, f"no worker named {worker!r}, and no worker serves model {model!r}"
        )
        self.worker = worker
        self.model = model


class NoWorkerAvailable(PlanError):
    """Workers exist for the request, but none of them is healthy enough to try.

    Attributes:
        model: the model as the client asked for it (None for automatic choice).
        reasons: why each worker was skipped: a :class:`HealthStatus` value, or
            :data:`NO_MODELS`. Empty when no worker is configured at all.
    """

    def __init__(self, model: str | None, reasons: Mapping[str, str]) -> None:
        self.model = model
        self.reasons = dict(reasons)
        target = "any model" if model is None else f"model {model!r}"
        if self.reasons:
            detail = ", ".join(f"{w}={r}" for w, r in sorted(self.reasons.items()))
        else:
            detail = "no worker is configured"
        super().__init__(f"no worker available for {target}: {detail}")


Ordering = Callable[[Sequence[WorkerView]], list[WorkerView]]
"""Puts workers in preference order; must be deterministic for equal inputs."""


def _by_priority(views: Sequence[WorkerView]) -> list[WorkerView]:
    return sorted(views, key=lambda v: (v.config.priority, v.name))


def _local_first(views: Sequence[WorkerView]) -> list[WorkerView]:
    return sorted(views, key=lambda v: (not v.config.is_local, v.config.priority, v.name))


ORDERINGS: Mapping[RoutingStrategy, Ordering] = {
    RoutingStrategy.PRIORITY: _by_priority,
    RoutingStrategy.LOCAL_FIRST: _local_first,
}
"""One ordering per strategy: adding a strategy is adding an entry here."""


def build_plan(
    views: Sequence[WorkerView], requested_model: str | None, strategy: RoutingStrategy
) -> tuple[Candidate, ...]:
    """Build the ordered list of workers to try for one request.

    Model resolution: ``None`` or ``"auto"`` uses every worker with its default (first)
    model, skipping workers that list none; ``"<worker>/<model>"`` where ``<worker>`` is
    a known worker pins that worker and passes ``<model>`` through as is (an empty model
    means its default); any other name goes to the workers whose models include it.

    Health: unavailable, rate-limited and out-of-quota workers are skipped; degraded
    workers come after all available ones, each group in the strategy's order.

    Args:
        views: the current snapshot of every worker.
        requested_model: the ``model`` field of the client's request.
        strategy: how to order the candidates.

    Returns:
        The candidates, best first; never empty.

    Raises:
        UnknownWorker: a ``"<worker>/<model>"`` named no worker and no model.
        NoRouteForModel: no worker serves the requested model.
        NoWorkerAvailable: every matching worker was skipped.
    """
    routes, skipped = _resolve(views, requested_model)
    usable = [(v, m) for v, m in routes if v.status not in _SKIPPED]
    if not usable:
        reasons = {v.name: v.status.value for v, _ in routes}
        reasons.update(skipped)
        model = None if requested_model in (None, AUTO_MODEL) else requested_model
        raise NoWorkerAvailable(model, reasons)
    model_of = {v.name: m for v, m in usable}
    ordered = ORDERINGS[strategy]([v for v, _ in usable])
    # Stable sort: degraded workers move to the end, each group keeps strategy order.
    ordered.sort(key=lambda v: v.status is HealthStatus.DEGRADED)
    return tuple(_candidate(v, model_of[v.name]) for v in ordered)


def _resolve(
    views: Sequence[WorkerView], requested: str | None
) -> tuple[list[tuple[WorkerView, str]], dict[str, str]]:
    """Match workers to the requested model, before any health filtering.

    Returns:
        ``(worker, upstream model)`` pairs, and workers skipped for lack of a model.
    """
    if requested is None or requested == AUTO_MODEL:
        routes = [(v, v.models[0]) for v in views if v.models]
        return routes, {v.name: NO_MODELS for v in views if not v.models}
    by_name = {v.name: v for v in views}
    prefix, slash, rest = requested.partition("/")
    if slash and prefix in by_name:
        pinned = by_name[prefix]
        if rest:
            return [(pinned, rest)], {}
        if pinned.models:
            return [(pinned, pinned.models[0])], {}
        return [], {pinned.name: NO_MODELS}
    routes = [(v, requested) for v in views if requested in v.models]
    if routes:
        return routes, {}
    if slash:
        raise UnknownWorker(prefix, requested)
    raise NoRouteForModel(requested)


def _candidate(view: WorkerView, model: str) -> Candidate:
    config = view.config
    return Candidate(
        worker=config.name,
        type=config.type,
        base_url=config.base_url,
        model=model,
        timeout=config.timeout,
        needs_key=config.needs_key,
    )

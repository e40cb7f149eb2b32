"""The monitoring endpoints: health, workers, statistics, fleet, models, liveness, readiness.

Each reads the shared tables (the board and the key ledger) directly, so monitoring never
waits on an actor's mailbox and keeps answering while actors restart. Nothing here shows a
secret: keys appear masked, by id.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from actors.breaker import Breaker, BreakerState
from actors.inventory import ModelInventory
from actors.planning import AUTO_MODEL
from actors.workers import HealthStatus
from cortex.config.runtime import RUNTIME
from cortex.errors import NotFound
from cortex.http.routes import SERVICES
from cortex.observability.health import health_summary, iso_time

CORTEX_OWNER = "cortex"
"""The ``owned_by`` of the models Cortex itself makes up: ``auto`` and each route."""


async def api_health(request: web.Request) -> web.Response:
    """``GET /api/health``: the original project's health summary."""
    return web.json_response(health_summary(request.app[SERVICES].board.views()))


async def api_workers(request: web.Request) -> web.Response:
    """``GET /api/workers``: every worker with its configuration and live state."""
    views = request.app[SERVICES].board.views()
    now = time.monotonic()
    return web.json_response(
        {
            "workers": [
                {
                    "name": v.name,
                    "type": v.config.type,
                    "priority": v.config.priority,
                    "status": v.status.value,
                    "models": list(v.models),
                    "embedding_models": list(v.embedding_models),
                    "base_url": v.config.base_url,
                    "in_flight": v.in_flight,
                    "latency_ms": v.latency_ms,
                    "last_error": v.last_error,
                    "last_check": iso_time(v.last_check),
                    **_breaker_fields(v.breaker, now),
                    "inventory": _inventory_json(v.inventory),
                }
                for v in views
            ]
        }
    )


async def api_stats(request: web.Request) -> web.Response:
    """``GET /api/stats``: counts per worker and per masked key, with any block, and the cache's."""
    services = request.app[SERVICES]
    await services.cache.answers.refresh()
    keys = services.ledger.snapshot()
    workers = {}
    now = time.monotonic()
    for view in services.board.views():
        workers[view.name] = {
            "requests": view.requests,
            "successes": view.successes,
            "failures": view.failures,
            "client_errors": view.client_errors,
            "cancelled": view.cancelled,
            "in_flight": view.in_flight,
            "status": view.status.value,
            **_breaker_fields(view.breaker, now),
            "keys": [
                {
                    "key_id": k.key_id,
                    "key": k.masked,
                    "requests": k.requests,
                    "successes": k.successes,
                    "failures": k.failures,
                    "last_used": iso_time(k.last_used),
                    "blocked": k.blocked_until is not None,
                    "blocked_until": iso_time(k.blocked_until),
                    "block_reason": k.block_reason.value if k.block_reason else None,
                }
                for k in keys.get(view.name, ())
            ],
        }
    return web.json_response(
        {
            "uptime_seconds": round(time.time() - services.started, 1),
            "workers": workers,
            "cache": services.cache.stats_json(),
            # Every stream is a task on this loop: a count that keeps growing at rest is a leak.
            "loop_tasks": len(asyncio.all_tasks()),
        }
    )


async def api_fleet(request: web.Request) -> web.Response:
    """``GET /api/fleet``: every live instance of the fleet, this one first.

    Without ``CORTEX_REDIS_URL`` (or while Redis is unreachable) the list holds this
    instance alone; ``shared_state`` says which.
    """
    fleet = request.app[SERVICES].fleet
    return web.json_response(
        {
            "this": fleet.identity.id,
            "instances": await fleet.instances(),
            "shared_state": fleet.status(),
        }
    )


def model_ids(request: web.Request) -> dict[str, str]:
    """Every model id a client may ask for, with its owner, in the order ``/v1/models`` lists.

    ``auto`` and each route are Cortex's own; a bare model belongs to the first worker that
    lists it, a ``worker/model`` pin to its worker (embedding models included, as OpenAI
    lists its own). A route named like a model shadows the model, as the router resolves
    routes first.
    """
    runtime = request.app.get(RUNTIME)
    routes = runtime.settings.routes if runtime is not None else {}
    ids: dict[str, str] = {AUTO_MODEL: CORTEX_OWNER}
    ids.update(dict.fromkeys(routes, CORTEX_OWNER))
    for view in request.app[SERVICES].board.views():
        for model in (*view.models, *view.embedding_models):
            ids.setdefault(model, view.name)
            ids.setdefault(f"{view.name}/{model}", view.name)
    return ids


def _model_object(model: str, owner: str) -> dict[str, object]:
    """One model in OpenAI's model object format."""
    return {"id": model, "object": "model", "created": 0, "owned_by": owner}


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models``: ``auto``, every route, every bare model and every pin."""
    data = [_model_object(model, owner) for model, owner in model_ids(request).items()]
    return web.json_response({"object": "list", "data": data})


async def retrieve_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{model}``: one of the ids ``/v1/models`` lists (it may hold a ``/``).

    Raises:
        NotFound: ``model_not_found`` for an id the list does not hold.
    """
    model = request.match_info["model"]
    owner = model_ids(request).get(model)
    if owner is None:
        raise NotFound(
            f"the model {model!r} does not exist on this gateway; GET /v1/models lists them",
            code="model_not_found",
        )
    return web.json_response(_model_object(model, owner))


async def healthz(_: web.Request) -> web.Response:
    """``GET /healthz``: the process is up and serving HTTP."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: ready for traffic (not draining, and some worker may answer)."""
    services = request.app[SERVICES]
    usable = [v for v in services.board.views() if v.status is not HealthStatus.UNAVAILABLE]
    if services.draining:
        return web.json_response({"status": "draining"}, status=503)
    if not usable:
        return web.json_response({"status": "no_usable_worker"}, status=503)
    return web.json_response({"status": "ready", "usable_workers": len(usable)})


def _breaker_fields(breaker: Breaker, now: float) -> dict[str, object]:
    """A worker's breaker as status fields: its state, seconds until the next trial, and
    the fleet instance that opened it (None: this one, or no fleet).

    A shared breaker whose cool-down passed stays open, at 0 seconds, until the fleet's
    one trial is taken and its outcome known.
    """
    state = breaker.state(now)
    next_trial = None
    if state is BreakerState.OPEN and breaker.next_trial_at is not None:
        next_trial = round(max(0.0, breaker.next_trial_at - now), 3)
    return {
        "breaker": state.value,
        "next_trial_in": next_trial,
        "breaker_opened_by": breaker.opened_by,
    }


def _inventory_json(inventory: ModelInventory | None) -> dict[str, object] | None:
    """What an Ollama instance holds: models on disk and loaded, with sizes in bytes."""
    if inventory is None:
        return None
    return {
        part: [
            {
                "name": e.name,
                "size": e.size,
                "family": e.family,
                "parameter_size": e.parameter_size,
            }
            for e in entries
        ]
        for part, entries in (("on_disk", inventory.on_disk), ("loaded", inventory.loaded))
    }

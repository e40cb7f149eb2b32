"""The admin API under ``/admin``: see and drive the supervision tree of a running gateway.

Every request needs ``Authorization: Bearer $CORTEX_ADMIN_TOKEN``, compared in constant
time (:func:`check_admin_token`, called by the request's door, :mod:`cortex.http.door`).
Without a configured token the API is off and every ``/admin`` path answers 404
``admin_disabled``; it is never open. Handlers only parse and render: the work is done by
the :class:`Operator` the gateway attaches once its tree is up, on the operator's own
bounded thread pool, because it blocks on actor asks and supervisor calls.

::

    GET    /admin/actors                         the live tree
    GET    /admin/actors/{name}                  one node of it (providers/<worker> too)
    POST   /admin/actors/{name}/crash            fault drill (CORTEX_FAULT_DRILLS=1 only);
                                                 ?at=start: the worker's next start fails
    POST   /admin/workers                        add a worker (one CORTEX_PROVIDERS entry)
    DELETE /admin/workers/{name}                 drain and remove a worker
    POST   /admin/reload                         re-read the configuration, apply the diff
    POST   /admin/keys/{worker}/{key_id}/unblock put a resting key back into rotation
    POST   /admin/cache/clear                    drop every cached answer (counters stay)
    POST   /admin/ollama/{worker}/pull           pull a model (see cortex.http.ollama_admin)
    DELETE /admin/ollama/{worker}/models/{model} delete a model from an Ollama worker

In a fleet, a reload and a worker added or removed are then sent to every other instance
(:mod:`cortex.fleet.admin`), which applies them without sending them on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from aiohttp import web

from cortex.config.runtime import RUNTIME
from cortex.errors import (
    AdminDisabled,
    BadAdminToken,
    BadRequest,
    DrillsDisabled,
    NotFound,
    NothingAvailable,
)
from cortex.fleet.admin import AdminChange
from cortex.http.content_routes import RULE_KEY, reroute
from cortex.http.credentials import bearer_token, token_matches
from cortex.http.render import dumps
from cortex.http.routes import SERVICES
from cortex.http.schemas import parse_chat, parse_json_object, pin_provider, with_headers
from cortex.observability.actor_tree import find_node

_T = TypeVar("_T")
Json = dict[str, Any]
PREFIX = "/admin"
ACTOR_NAME = r"[^/]+(?:/[^/]+)?"


class Operator(Protocol):
    """What the admin API can do to a running gateway; every method but ``run`` blocks."""

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run a blocking call off the event loop and await its result."""

    def actors(self) -> Json:
        """The live supervision tree."""

    def add_worker(self, name: str, entry: Json) -> Json:
        """Add and start a worker; returns its description."""

    def remove_worker(self, name: str) -> int | None:
        """Stop and remove a worker; returns its attempts still in flight, None if unknown."""

    def reload(self) -> Json:
        """Re-read the configuration and apply the difference; returns the report."""

    def unblock(self, worker: str, key_id: str) -> bool:
        """Lift a key's block; returns whether it was blocked (NotFound if unknown)."""

    def crash(self, name: str) -> Json:
        """Make the named actor raise in its own thread (a fault drill)."""

    def fail_next_start(self, worker: str) -> Json:
        """Make the next start of a worker fail (a fault drill)."""

    def clear_cache(self) -> int:
        """Drop every cached answer; returns how many were dropped."""

    def refresh_models(self, worker: str) -> None:
        """Have a worker's actor read its upstream's models again (after a pull or delete)."""


def under(path: str) -> bool:
    """Whether ``path`` belongs to the admin API (``/admin`` and everything below it)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def check_admin_token(request: web.Request, expected: str) -> None:
    """Let an ``/admin`` request through only with the configured admin token.

    Raises:
        AdminDisabled: no admin token is configured, so the API is off.
        BadAdminToken: the request does not carry ``expected``.
    """
    if not expected:
        raise AdminDisabled
    presented = bearer_token(request)
    if presented is None or not token_matches(presented, expected):
        raise BadAdminToken


def _operator(request: web.Request) -> Operator:
    operator = request.app[RUNTIME].operator
    if operator is None:
        raise NothingAvailable("the gateway is still starting", code="admin_unavailable")
    return operator


def operator_of(request: web.Request) -> Operator:
    """The running gateway's operator, for admin handlers in other modules.

    Raises:
        NothingAvailable: the gateway is still starting.
    """
    return _operator(request)


async def list_actors(request: web.Request) -> web.Response:
    """``GET /admin/actors``: the whole live tree."""
    operator = _operator(request)
    return web.json_response(await operator.run(operator.actors))


async def show_actor(request: web.Request) -> web.Response:
    """``GET /admin/actors/{name}``: one node (with its subtree for a supervisor)."""
    operator = _operator(request)
    name = request.match_info["name"]
    node = find_node(await operator.run(operator.actors), name)
    if node is None:
        raise NotFound(f"no actor named {name!r}", code="unknown_actor")
    return web.json_response(node)


async def crash_actor(request: web.Request) -> web.Response:
    """``POST /admin/actors/{name}/crash``: a fault drill through the normal crash path.

    ``?at=start`` arms a start drill instead: the next start of worker ``name`` fails.
    """
    if not request.app[RUNTIME].settings.fault_drills:
        raise DrillsDisabled
    operator = _operator(request)
    name = request.match_info["name"]
    at = request.query.get("at", "now")
    if at == "start":
        return web.json_response(
            await operator.run(lambda: operator.fail_next_start(name)), status=202
        )
    if at != "now":
        raise BadRequest("'at' must be 'now' (default) or 'start'", code="invalid_drill")
    return web.json_response(await operator.run(lambda: operator.crash(name)), status=202)


async def add_worker(request: web.Request) -> web.Response:
    """``POST /admin/workers``: ``{"name": ..., <one CORTEX_PROVIDERS entry>}``.

    ``{"<name>": {<entry>}}`` (exactly the shape of one ``CORTEX_PROVIDERS`` item) works too.
    """
    body = parse_json_object(await request.read())
    name, entry = _worker_entry(body)
    operator = _operator(request)
    described = await operator.run(lambda: operator.add_worker(name, entry))
    request.app[SERVICES].fleet.share(AdminChange("add_worker", name, entry))
    return web.json_response(described, status=201)


def _worker_entry(body: Json) -> tuple[str, Json]:
    raw_name = body.get("name")
    if isinstance(raw_name, str):
        return raw_name, {k: v for k, v in body.items() if k != "name"}
    if len(body) == 1:
        ((name, entry),) = body.items()
        if isinstance(entry, dict):
            return name, entry
    raise BadRequest(
        'send {"name": "<worker>", "type": ..., "api_keys": [...], ...} or {"<worker>": {...}}',
        code="invalid_worker",
    )


async def remove_worker(request: web.Request) -> web.Response:
    """``DELETE /admin/workers/{name}``: stop routing to it; in-flight streams finish.

    The answer comes at once; ``draining`` counts the streams that were still in flight on
    the worker. They run on the event loop, not in the removed actor, so they finish.
    """
    operator = _operator(request)
    name = request.match_info["name"]
    draining = await operator.run(lambda: operator.remove_worker(name))
    if draining is None:
        raise NotFound(f"no worker named {name!r}", code="unknown_worker")
    request.app[SERVICES].fleet.share(AdminChange("remove_worker", name))
    return web.json_response({"removed": name, "draining": draining})


async def reload_config(request: web.Request) -> web.Response:
    """``POST /admin/reload``: re-read the configuration and apply what changed."""
    operator = _operator(request)
    report = await operator.run(operator.reload)
    request.app[SERVICES].fleet.share(AdminChange("reload"))
    return web.json_response(report)


async def unblock_key(request: web.Request) -> web.Response:
    """``POST /admin/keys/{worker}/{key_id}/unblock``: put a resting key back in rotation."""
    operator = _operator(request)
    worker, key_id = request.match_info["worker"], request.match_info["key_id"]
    was_blocked = await operator.run(lambda: operator.unblock(worker, key_id))
    return web.json_response({"worker": worker, "key_id": key_id, "was_blocked": was_blocked})


async def clear_cache(request: web.Request) -> web.Response:
    """``POST /admin/cache/clear``: drop every cached answer; the counters are kept.

    In a fleet the fleet's answers are deleted from Redis and every instance drops its
    own copy; ``cleared`` counts both.
    """
    operator = _operator(request)
    cleared = await operator.run(operator.clear_cache)
    shared = await request.app[SERVICES].cache.answers.clear()
    return web.json_response({"cleared": cleared + (shared or 0)})


async def explain_route(request: web.Request) -> web.Response:
    """``POST /admin/route/explain``: the rule a chat body matches and the plan it would walk."""
    services = request.app[SERVICES]
    settings = request.app[RUNTIME].settings
    body = parse_json_object(await request.read())
    call = parse_chat(body, default_stream=False, max_messages=settings.max_messages)
    call = pin_provider(with_headers(call, request.headers), services.board, settings.routes)
    call = reroute(request, call)
    rule = request.get(RULE_KEY)
    strategy = call.strategy or settings.strategy
    plan = await services.dispatcher.plan(call.request, strategy)
    explained = {
        "rule": None if rule is None else {"name": rule.name, "to": rule.destination},
        "model": call.request.model,
        "pin": call.request.pin,
        "strategy": strategy.value,
        "plan": [{"worker": c.worker, "type": c.type, "model": c.model} for c in plan.candidates],
        "fallbacks": {
            code: {"worker": c.worker, "model": c.model} for code, c in plan.fallbacks.items()
        },
    }
    return web.json_response(explained, dumps=dumps)

"""The request's door: the app's only middleware, and what it decides once per route."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from actors.board import Board
from actors.keys import KeyLedger
from cortex.config.runtime import Runtime
from cortex.config.settings import Settings
from cortex.http import access, admin, anthropic_render
from cortex.http.door import Door, Passage, passages, unrouted
from cortex.http.endpoints import ENDPOINTS, metric_labels
from cortex.http.front import build_app
from cortex.http.routes import Services
from cortex.observability.telemetry import Telemetry
from supervisors import Directory


def telemetry() -> Telemetry:
    return Telemetry.create(Board(), KeyLedger(), Directory(), endpoints=metric_labels())


def front_app() -> web.Application:
    """The front's application, built as the front builds it (nothing is served)."""
    board, ledger = Board(), KeyLedger()
    settings = Settings()
    # The app's build only keeps the dispatcher and the cache for the handlers.
    services = Services(None, board, ledger, settings.max_body_bytes, None, None)  # type: ignore[arg-type]
    return build_app(settings, runtime=Runtime(settings), services=services, telemetry=telemetry())


def test_the_door_is_the_apps_only_middleware_and_only_prepare_hook():
    app = front_app()

    assert len(app.middlewares) == 1
    (door,) = app.middlewares
    assert isinstance(door, Door)
    assert list(app.on_response_prepare) == [door.prepared]


def passage_of(path: str, method: str = "GET") -> Passage:
    """The passage the door takes for ``method path``, through the front app's own router."""
    app = front_app()
    table = passages(app, telemetry())

    async def resolve() -> Passage:
        request = make_mocked_request(method, path, app=app)
        info = await app.router.resolve(request)
        return table.get(info.route.resource) or unrouted(path)

    return asyncio.run(resolve())


PASSAGES = [
    # path (POST for the chat endpoints and the admin reload), routed, admin, key,
    # key_if_protected, anthropic, endpoint, chat
    ("/v1/chat/completions", True, False, True, True, False, "/v1/chat/completions", True),
    ("/api/chat", True, False, True, True, False, "/api/chat", True),
    ("/v1/messages", True, False, True, True, True, "/v1/messages", False),
    (
        "/v1/messages/count_tokens",
        True,
        False,
        True,
        True,
        True,
        "/v1/messages/count_tokens",
        False,
    ),
    ("/v1/models/a/b", True, False, True, True, False, "/v1/models/{model}", False),
    ("/api/stats", True, False, False, True, False, "/api/stats", False),
    ("/metrics", True, False, False, True, False, "/metrics", False),
    ("/healthz", True, False, False, False, False, "/healthz", False),
    ("/openapi.json", True, False, False, False, False, "other", False),
    ("/dashboard", True, False, False, False, False, "/dashboard", False),
    ("/admin/actors/providers/x", True, True, False, False, False, "other", False),
    ("/admin/reload", True, True, False, False, False, "other", False),
    ("/v1/completions", False, False, True, True, False, "other", False),
    ("/v1/messages/batches", False, False, True, True, True, "other", False),
    ("/admin", False, True, False, False, False, "other", False),
    ("/administrator", False, False, False, False, False, "other", False),
    ("/nowhere", False, False, False, False, False, "other", False),
]


POSTED = {
    "/v1/chat/completions",
    "/api/chat",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/admin/reload",
}


def test_a_path_asked_with_a_method_it_does_not_take_is_unrouted():
    """A 405 is answered (and counted) like any path no route serves."""
    assert passage_of("/v1/chat/completions", "GET") == unrouted("/v1/chat/completions")


@pytest.mark.parametrize(
    ("path", "routed", "is_admin", "key", "key_if_protected", "anthropic", "endpoint", "chat"),
    PASSAGES,
)
def test_each_path_gets_its_passage_decided_once_per_route(
    path, routed, is_admin, key, key_if_protected, anthropic, endpoint, chat
):
    method = "POST" if path in POSTED else "GET"
    assert passage_of(path, method) == Passage(
        routed=routed,
        admin=is_admin,
        key=key,
        key_if_protected=key_if_protected,
        anthropic=anthropic,
        endpoint=endpoint,
        chat=chat,
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_a_routes_passage_is_what_each_path_it_serves_would_decide(endpoint):
    """Deciding per route is safe: every concrete path of the route decides the same."""
    path = re.sub(r"\{\w+\}", "some-name", endpoint.path)
    passage = passage_of(path, endpoint.method)

    assert passage.routed
    assert passage.admin is admin.under(path)
    assert passage.key is access.needs_gateway_key(path, protect_monitoring=False)
    assert passage.key_if_protected is access.needs_gateway_key(path, protect_monitoring=True)
    assert passage.anthropic is anthropic_render.speaks(path)

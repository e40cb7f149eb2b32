"""Observability wiring of the HTTP front: ``/metrics``, ``/dashboard`` and the request record.

:class:`Telemetry` bundles one gateway's metrics and dashboard hub, and builds the
observer the dispatcher reports to, and counts each finished HTTP request
(:meth:`Telemetry.request_finished`, called by the request's door, :mod:`cortex.http.door`,
which also opens the request's :class:`~cortex.observability.observe.RequestRecord`).

Who may read the dashboard: when ``CORTEX_ADMIN_TOKEN`` is set, ``/dashboard`` and its
event stream need that token, and they show the supervision tree, as the admin API does.
Without an admin token the admin API is off, so the tree is not shown, and the dashboard
is a monitoring endpoint like ``/api/stats``: with ``CORTEX_PROTECT_MONITORING`` on (and
gateway keys configured) it needs a gateway key. Either credential is sent as
``Authorization: Bearer <token>`` or, because a browser's ``EventSource`` cannot send
headers, as ``?token=<token>`` (the page forwards the token it was opened with). Query
strings never reach the access log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from actors.board import Board
from actors.keys import KeyLedger
from actors.response_store import CacheStats
from cortex.config.runtime import RUNTIME
from cortex.errors import BadAdminToken, MissingGatewayKey, NothingAvailable
from cortex.fleet.health import StoreHealth
from cortex.http.credentials import bearer_token, key_accepted, token_matches
from cortex.http.routes import SERVICES
from cortex.observability.dashboard import DashboardHub
from cortex.observability.metrics import (
    GatewayMetrics,
    MetricsObserver,
    RequestOutcome,
)
from cortex.observability.observe import DispatchObserver, FanOut, RequestTracker
from supervisors import Directory

log = structlog.get_logger("cortex.dashboard")

EVENT_INTERVAL = 1.0
"""Seconds between two dashboard events (an event is only sent when the state changed)."""
KEEPALIVE_INTERVAL = 15.0
"""Seconds of silence after which the stream sends a comment so proxies keep it open."""
MAX_STREAM_SECONDS = 3600.0
"""Longest life of one event stream; the browser's EventSource reconnects by itself."""
MAX_SUBSCRIBERS = 32
"""Dashboard streams served at once; more are refused with 503."""
TREE_TIMEOUT = 5.0
"""Seconds the supervision tree may take to read before the page shows it as unavailable."""


@dataclass(slots=True)
class Telemetry:
    """One gateway's metrics and dashboard state, owned by the front.

    Attributes:
        metrics: the Prometheus series.
        dashboard: the dashboard's history.
        admin_token: the token guarding the dashboard when no runtime settings are reachable.
    """

    metrics: GatewayMetrics
    dashboard: DashboardHub
    admin_token: str = field(default="", repr=False)
    subscribers: int = 0
    _tree: tuple[float, dict[str, Any] | None] = (0.0, None)
    _tree_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def create(
        cls,
        board: Board,
        ledger: KeyLedger,
        directory: Directory,
        *,
        admin_token: str = "",
        cache_stats: Callable[[], CacheStats] | None = None,
        endpoints: Sequence[str] = (),
        store_health: StoreHealth | None = None,
    ) -> Telemetry:
        """Build the metrics registry and dashboard hub of one gateway.

        Args:
            board: configured workers and their views.
            ledger: keys per worker.
            directory: the tree's directory (restart counts).
            admin_token: guards the dashboard when no runtime settings are reachable.
            cache_stats: the response cache's counters, exported when given.
            endpoints: the paths that are ``endpoint`` labels of their own (the endpoint
                table's :func:`~cortex.http.endpoints.metric_labels`).
            store_health: the shared store's counters, exported when the gateway has one.
        """
        return cls(
            GatewayMetrics(
                board, ledger, directory, endpoints, cache_stats, store_health=store_health
            ),
            DashboardHub(board, ledger),
            admin_token,
        )

    def request_finished(
        self,
        endpoint: str,
        worker: str | None,
        outcome: RequestOutcome,
        seconds: float,
        *,
        chat: bool,
    ) -> None:
        """Count a finished request by its ``endpoint`` label; a chat one on the dashboard too."""
        self.metrics.count_request(endpoint, worker, outcome, seconds)
        if chat:
            self.dashboard.request_finished(seconds, ok=outcome is RequestOutcome.OK)

    def observer(self) -> DispatchObserver:
        """What the dispatcher reports to: the request record, metrics and dashboard."""
        return FanOut((RequestTracker(), MetricsObserver(self.metrics), self.dashboard))

    async def tree(self, app: web.Application) -> dict[str, Any] | None:
        """The supervision tree from the admin operator, read at most once per second."""
        async with self._tree_lock:
            read_at, tree = self._tree
            if time.monotonic() - read_at < EVENT_INTERVAL:
                return tree
            runtime = app.get(RUNTIME)
            operator = runtime.operator if runtime is not None else None
            tree = None
            if operator is not None:
                try:
                    async with asyncio.timeout(TREE_TIMEOUT):
                        tree = await operator.run(operator.actors)
                except TimeoutError:
                    tree = None
                # The page must outlive a bad tree read: it shows the tree as unavailable
                # and the error is logged, instead of the event stream dying with a 500.
                except Exception as exc:  # noqa: BLE001 - logged, and the page says so
                    log.warning("dashboard_tree_unavailable", error=type(exc).__name__)
                    tree = None
            self._tree = (time.monotonic(), tree)
            return tree


TELEMETRY = web.AppKey("telemetry", Telemetry)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: every series in the Prometheus text format."""
    body = request.app[TELEMETRY].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _authorize(request: web.Request) -> bool:
    """Require the dashboard's credential; return whether the reader may see the actor tree.

    Raises:
        BadAdminToken: an admin token is configured and was not presented.
        MissingGatewayKey: no admin token, monitoring is protected, and no gateway key came.
    """
    runtime = request.app.get(RUNTIME)
    settings = runtime.settings if runtime is not None else None
    admin = (settings.admin_token if settings is not None else "") or request.app[
        TELEMETRY
    ].admin_token
    presented = bearer_token(request) or request.query.get("token")
    if admin:
        if presented is None or not token_matches(presented, admin):
            raise BadAdminToken
        return True
    keys = settings.api_keys if settings is not None and settings.protect_monitoring else ()
    if keys and (presented is None or not key_accepted(presented, keys)):
        raise MissingGatewayKey
    return False


async def dashboard_page(request: web.Request) -> web.Response:
    """``GET /dashboard``: the page itself (self-contained HTML)."""
    _authorize(request)
    page = resources.files("cortex").joinpath("static/dashboard.html").read_bytes()
    return web.Response(
        body=page,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


async def dashboard_events(request: web.Request) -> web.StreamResponse:
    """``GET /dashboard/events``: the gateway's state, one SSE event per second on change."""
    show_tree = _authorize(request)
    telemetry = request.app[TELEMETRY]
    if telemetry.subscribers >= MAX_SUBSCRIBERS:
        raise NothingAvailable("too many dashboards are open", code="too_many_dashboards")
    services = request.app[SERVICES]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    telemetry.subscribers += 1
    try:
        last, quiet_since = "", time.monotonic()
        deadline = time.monotonic() + MAX_STREAM_SECONDS
        while not services.draining and time.monotonic() < deadline:
            tree = await telemetry.tree(request.app) if show_tree else None
            state = telemetry.dashboard.snapshot(tree)
            state["fleet"] = await services.fleet.dashboard_view()
            payload = json.dumps(state, separators=(",", ":"))
            if payload != last:
                await response.write(f"event: state\ndata: {payload}\n\n".encode())
                last, quiet_since = payload, time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE_INTERVAL:
                await response.write(b": keepalive\n\n")
                quiet_since = time.monotonic()
            await asyncio.sleep(EVENT_INTERVAL)
    finally:
        telemetry.subscribers -= 1
    return response


def install_telemetry(app: web.Application, telemetry: Telemetry) -> None:
    """Give ``app`` its telemetry; the routes come from the endpoint table."""
    app[TELEMETRY] = telemetry


__all__ = ["TELEMETRY", "Telemetry", "install_telemetry"]

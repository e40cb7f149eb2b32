"""The HTTP front actor: owner of the event loop where every request's stream runs.

The actor's own thread only starts and stops things; the loop runs on a thread the actor
owns, so thousands of concurrent streams share one loop while the actor's mailbox stays
free. The loop also serves the in-process library API (:mod:`cortex.ops.gateway`), which is
why the front exists even when no HTTP port is wanted.

Shutdown is graceful: stop listening and close idle connections, let in-flight requests
finish within the grace period (saying how many remain), then cut the rest (each cut
stream ends with an error event and is logged like any other request), then close the
upstream connection pool. A second stop signal ends the grace period at once
(:meth:`~cortex.config.runtime.Runtime.end_drain_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import structlog
import uvloop
from aiohttp import web

from actors.board import Board
from actors.keys import KeyLedger
from actors.response_store import ResponseStore
from cortex.cache.answers import Answers, LocalAnswers, open_answers
from cortex.cache.response_cache import ResponseCache
from cortex.chat import CachedAnswer
from cortex.config.runtime import RUNTIME, Runtime
from cortex.config.settings import Settings
from cortex.crossing import Bridge, on_loop
from cortex.dataplane.dispatch import Dispatcher, DispatchSettings
from cortex.dataplane.walk import RetryPolicy
from cortex.fleet.admin import AdminRelay
from cortex.fleet.breakers import FleetBreakers
from cortex.fleet.fleet import Fleet, open_fleet
from cortex.fleet.instances import Identity, Load, config_version
from cortex.http.door import install_door
from cortex.http.endpoints import add_endpoints, metric_labels
from cortex.http.protocol import JsonErrorRunner, line_parser_limit
from cortex.http.routes import SERVICES, Services
from cortex.http.tenant_admin import install_tenants
from cortex.observability.telemetry import Telemetry, install_telemetry
from supervisors import Directory, Handle, Link, SupervisedActor

if TYPE_CHECKING:
    from cortex.cache.shared import SharedAnswers

log = structlog.get_logger("cortex.front")

START_TIMEOUT = 10.0
LOOP_JOIN_TIMEOUT = 5.0
DRAIN_POLL = 0.05
"""Seconds between two looks at what is left to drain."""
DRAIN_REPORT_EVERY = 1.0
"""Seconds between two ``draining`` log lines while the count of requests changes."""
CUT_WAIT = 2.0
"""Seconds cut requests get to write their error event and finish."""


@dataclass(frozen=True, slots=True)
class Engine:
    """Where requests run: the loop, its dispatcher, and the bound HTTP port if any."""

    loop: asyncio.AbstractEventLoop
    dispatcher: Dispatcher
    port: int | None


class EngineSlot:
    """The current front incarnation's engine, readable from any thread.

    The front publishes here on start and clears it on stop, so the library API always
    reaches the live loop, across front restarts.
    """

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._changed = threading.Condition()

    def publish(self, engine: Engine | None) -> None:
        """Set (or clear) the current engine (front actor only)."""
        with self._changed:
            self._engine = engine
            self._changed.notify_all()

    def get(self, timeout: float) -> Engine | None:
        """The current engine, waiting up to ``timeout`` seconds for one to exist."""
        with self._changed:
            self._changed.wait_for(lambda: self._engine is not None, timeout=timeout)
            return self._engine


class HttpFrontActor(SupervisedActor):
    """Runs the event loop, the upstream connection pool and (optionally) the HTTP server."""

    def __init__(
        self,
        link: Link,
        *,
        settings: Settings,
        board: Board,
        ledger: KeyLedger,
        directory: Directory,
        workers: Directory,
        slot: EngineSlot,
        serve_http: bool,
        cache_store: ResponseStore[CachedAnswer],
        runtime: Runtime,
        identity: Identity,
        breakers: FleetBreakers | None = None,
    ) -> None:
        super().__init__(link)
        self._breakers = breakers
        self._runtime = runtime
        self._identity = identity
        self._cache_store = cache_store
        self._settings = settings
        self._board = board
        self._ledger = ledger
        self._directory = directory
        self._workers = workers
        self._slot = slot
        self._serve_http = serve_http
        # uvloop: measured 20 % less CPU per request and ~1.7x the requests/s of asyncio's
        # own loop on the benchmark (bench/RESULTS.md); everything else is unchanged.
        self._loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="front-loop", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._bridge = Bridge()
        self._services: Services | None = None
        self._fleet: Fleet | None = None
        self._answers: Answers | None = None
        self._shared: SharedAnswers | None = None
        self._telemetry: Telemetry | None = None

    def on_start(self) -> None:
        """Start the loop and, on it, the connection pool and the HTTP server."""
        self._thread.start()
        future = on_loop(self._open(), self._loop)
        try:
            engine = future.result(timeout=START_TIMEOUT)
        except BaseException:
            # Release what was opened (the connection pool, a half-set-up server) before
            # the loop goes, so a failed start leaves no thread, socket or session behind.
            future.cancel()
            closing = on_loop(self._close(), self._loop)
            with contextlib.suppress(Exception):
                closing.result(timeout=LOOP_JOIN_TIMEOUT)
            self._stop_loop()
            raise
        self._slot.publish(engine)
        log.info("front_started", host=self._settings.host, port=engine.port)

    def on_stop(self) -> None:
        """Drain in-flight requests within the grace period, then stop the loop."""
        self._slot.publish(None)
        if self._services is not None:
            self._services.draining = True
        future = on_loop(self._close(), self._loop)
        try:
            future.result(timeout=self._settings.shutdown_grace + LOOP_JOIN_TIMEOUT)
        except TimeoutError:
            log.warning("front_drain_timeout", grace=self._settings.shutdown_grace)
        self._stop_loop()

    def on_failure(self, *_: object) -> None:
        """A crashed front still releases its port and loop so its successor can bind."""
        self.on_stop()

    async def _open(self) -> Engine:
        settings = self._settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout),
        )
        self._fleet = open_fleet(
            settings,
            self._identity,
            load=self._load,
            version=lambda: config_version(self._runtime.settings),
            ledger=self._ledger,
        )
        local = LocalAnswers(
            self._cache_store,
            # No restart wait: a tell from the loop must never block it.
            Handle(self._directory, "cache", restart_wait=0.0),
            self._bridge,
        )
        limits = settings.cache.limits
        self._answers, self._shared = open_answers(local, self._fleet.store, limits)
        telemetry = Telemetry.create(
            self._board,
            self._ledger,
            self._directory,
            admin_token=settings.admin_token,
            cache_stats=self._answers.stats,
            endpoints=metric_labels(),
            store_health=self._fleet.health(),
        )
        self._telemetry = telemetry
        dispatcher = self._dispatcher(self._session, telemetry)
        store = self._fleet.store
        if store is not None:
            self._fleet.relay = AdminRelay(
                store,
                self._identity.id,
                version=lambda: config_version(self._runtime.settings),
                operator=lambda: self._runtime.operator,
            )
            if self._breakers is not None:
                self._breakers.bind(store)
        await self._fleet.start()
        port = await self._serve(dispatcher, telemetry) if self._serve_http else None
        self._fleet.announce(f"{settings.host}:{port}" if port is not None else "")
        return Engine(loop=self._loop, dispatcher=dispatcher, port=port)

    def _load(self) -> Load:
        """This instance's load for its heartbeat: requests in flight and served."""
        services, telemetry = self._services, self._telemetry
        in_flight = len(services.in_flight) if services is not None else 0
        served = telemetry.metrics.requests_served() if telemetry is not None else 0
        return Load(in_flight=in_flight, served=served)

    def _dispatcher(self, session: aiohttp.ClientSession, telemetry: Telemetry) -> Dispatcher:
        settings = self._settings
        return Dispatcher(
            observer=telemetry.observer(),
            session=session,
            bridge=self._bridge,
            directory=self._directory,
            workers=self._workers,
            board=self._board,
            ledger=self._ledger,
            settings=DispatchSettings(
                request_timeout=settings.request_timeout,
                connect_timeout=settings.connect_timeout,
                retry=RetryPolicy(
                    settings.retry_passes,
                    settings.retry_backoff,
                    settings.retry_backoff_max,
                    same_target_retries=settings.same_target_retries,
                    max_retry_wait=settings.max_retry_wait,
                ),
                continuation=settings.continuation,
                strict_params=settings.strict_params,
                auto_pull=settings.ollama_auto_pull,
            ),
        )

    def _app(self, dispatcher: Dispatcher, telemetry: Telemetry) -> web.Application:
        """The aiohttp application: services, the endpoint table, and the request's door."""
        settings = self._settings
        assert self._answers is not None  # opened before the app is built
        cache = ResponseCache(
            dispatcher=dispatcher,
            answers=self._answers,
            settings=settings.cache,
            request_timeout=settings.request_timeout,
        )
        assert self._fleet is not None  # opened before the app is built
        self._services = Services(
            dispatcher, self._board, self._ledger, settings.max_body_bytes, cache, self._fleet
        )
        return build_app(
            settings, runtime=self._runtime, services=self._services, telemetry=telemetry
        )

    async def _serve(self, dispatcher: Dispatcher, telemetry: Telemetry) -> int:
        """Start the HTTP server; returns the port it bound."""
        settings = self._settings
        self._runner = JsonErrorRunner(
            self._app(dispatcher, telemetry),
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            # The grace period is spent in _drain; by cleanup nothing is left running.
            shutdown_timeout=CUT_WAIT,
            max_field_size=settings.max_header_bytes,
            max_line_size=line_parser_limit(settings.max_header_bytes),
        )
        await self._runner.setup()
        # Several server processes (--workers) share the port; one alone keeps it exclusive.
        site = web.TCPSite(
            self._runner,
            settings.host,
            settings.port,
            reuse_address=True,
            reuse_port=settings.processes > 1,
        )
        await site.start()
        return _bound_port(self._runner)

    async def _close(self) -> None:
        if self._runner is not None:
            await self._drain(self._runner)
            await self._runner.cleanup()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        if self._session is not None:
            await self._session.close()
        if self._breakers is not None:
            self._breakers.unbind()
        if self._shared is not None:
            await self._shared.close()
        if self._fleet is not None:
            await self._fleet.close()

    async def _drain(self, runner: web.AppRunner) -> None:
        """Stop taking requests, wait for those in flight within the grace, cut the rest."""
        for site in list(runner.sites):
            await site.stop()
        if runner.server is not None:
            runner.server.pre_shutdown()  # idle keep-alive connections close now
        services = self._services
        if services is None:
            return
        loop = asyncio.get_running_loop()
        grace = self._settings.shutdown_grace
        deadline = loop.time() + grace
        told: tuple[int, float] | None = None
        while services.in_flight and not self._runtime.drain_cut and loop.time() < deadline:
            now = loop.time()
            if told is None or (told[0] != len(services.in_flight) and now >= told[1]):
                told = (len(services.in_flight), now + DRAIN_REPORT_EVERY)
                log.info(
                    "draining",
                    in_flight=told[0],
                    seconds_left=round(deadline - now, 1),
                    grace=grace,
                )
            await asyncio.sleep(DRAIN_POLL)
        if services.in_flight:
            cut = list(services.in_flight)
            log.warning(
                "drain_cut",
                in_flight=len(cut),
                reason="second stop signal" if self._runtime.drain_cut else "grace period over",
            )
            services.cutting = True
            for task in cut:
                task.cancel()
            await asyncio.wait(cut, timeout=CUT_WAIT)

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.is_alive():
            self._thread.join(LOOP_JOIN_TIMEOUT)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        self._bridge.close()


def build_app(
    settings: Settings, *, runtime: Runtime, services: Services, telemetry: Telemetry
) -> web.Application:
    """The aiohttp application: its services, the endpoint table, and the request's door."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SERVICES] = services
    app[RUNTIME] = runtime
    install_telemetry(app, telemetry)
    install_tenants(app)
    add_endpoints(app)
    # One middleware for every cross-cutting concern, in the order cortex.http.door
    # documents; it decides per route once, so it comes after the routes.
    install_door(
        app,
        runtime=runtime,
        services=services,
        telemetry=telemetry,
        max_header_bytes=settings.max_header_bytes,
    )
    return app


def _bound_port(runner: web.AppRunner) -> int:
    """The port the server actually bound (the configured one, or the one the OS chose)."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the HTTP server did not bind any TCP address")

"""Gateway keys as tenants over HTTP: the admin API of key records, the spend report.

::

    POST   /admin/gateway-keys              create a key: 201 {"id", "key" (shown once), ...}
    GET    /admin/gateway-keys              every key, masked
    GET    /admin/gateway-keys/{id}         one key, masked
    PATCH  /admin/gateway-keys/{id}         change name, team, models, expiry, limits, budgets
    DELETE /admin/gateway-keys/{id}         revoke it (the record and its spend stay)
    POST   /admin/gateway-keys/{id}/rotate  a new secret (shown once); the old one stops
    GET    /api/spend                       the ledger by key, model, worker and day

The database is blocking I/O, so every call runs on the gate's own two threads, never on
the event loop. :func:`install_tenants` opens the database when the application starts
(applying migrations) and closes it, after writing the queued ledger rows, when it stops.

With a shared store (``CORTEX_REDIS_URL``) the counters are the fleet's
(:class:`~cortex.tenants.fleet_counters.FleetCounters`), and every change of a record made
here is sent to the other instances' databases
(:class:`~cortex.tenants.fleet_records.FleetRecords`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from cortex.config.runtime import RUNTIME
from cortex.crossing import Bridge
from cortex.errors import BadRequest, NotFound
from cortex.http.render import dumps
from cortex.http.routes import SERVICES
from cortex.http.schemas import parse_json_object
from cortex.observability.telemetry import TELEMETRY
from cortex.tenants.counters import Counters, LocalCounters
from cortex.tenants.fleet_counters import FleetCounters, Spent
from cortex.tenants.fleet_records import FleetRecords
from cortex.tenants.gate import TENANCY, Tenancy
from cortex.tenants.ledger import Ledger
from cortex.tenants.metrics import TenantCollector
from cortex.tenants.records import InvalidKeyFields
from cortex.tenants.spend import report, spent_so_far
from cortex.tenants.store import KeyStore, UnknownKey

if TYPE_CHECKING:
    from cortex.fleet.store import SharedStore

_T = TypeVar("_T")
BRIDGE = web.AppKey("tenant_bridge", Bridge)
RECORDS = web.AppKey("tenant_records", FleetRecords)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


async def _run(request: web.Request, call: Callable[[], _T]) -> _T:
    """Run a blocking database call off the loop; map the store's errors to the client's."""
    try:
        return await request.app[BRIDGE].run(call)
    except InvalidKeyFields as exc:
        raise BadRequest(str(exc), code="invalid_gateway_key") from None
    except UnknownKey:
        raise NotFound(
            f"no live gateway key {request.match_info.get('id', '')!r}", code="unknown_gateway_key"
        ) from None


def _store(request: web.Request) -> KeyStore:
    return request.app[TENANCY].store


async def _share(request: web.Request, key_id: str) -> None:
    """Send a record changed here to the fleet's other databases (with a shared store)."""
    relay = request.app.get(RECORDS)
    if relay is not None:
        relay.changed(await _run(request, lambda: _store(request).export(key_id)))


async def create_key(request: web.Request) -> web.Response:
    """``POST /admin/gateway-keys``: the new record, with its secret this once."""
    body = parse_json_object(await request.read())
    key, secret = await _run(request, lambda: _store(request).create(body))
    await _share(request, key.id)
    return web.json_response({**key.as_json(), "key": secret}, status=201)


async def list_keys(request: web.Request) -> web.Response:
    """``GET /admin/gateway-keys``: every record, masked."""
    keys = await _run(request, _store(request).list)
    return web.json_response({"data": [key.as_json() for key in keys]})


async def show_key(request: web.Request) -> web.Response:
    """``GET /admin/gateway-keys/{id}``: one record, masked."""
    key_id = request.match_info["id"]
    return web.json_response((await _run(request, lambda: _store(request).get(key_id))).as_json())


async def update_key(request: web.Request) -> web.Response:
    """``PATCH /admin/gateway-keys/{id}``: change the fields the body names (null clears)."""
    key_id = request.match_info["id"]
    body = parse_json_object(await request.read())
    key = await _run(request, lambda: _store(request).update(key_id, body))
    await _share(request, key_id)
    return web.json_response(key.as_json())


async def revoke_key(request: web.Request) -> web.Response:
    """``DELETE /admin/gateway-keys/{id}``: revoke the key; this process refuses it at once,
    the fleet's other instances within a round trip to Redis."""
    key_id = request.match_info["id"]
    key = await _run(request, lambda: _store(request).revoke(key_id))
    await _share(request, key_id)
    return web.json_response(key.as_json())


async def rotate_key(request: web.Request) -> web.Response:
    """``POST /admin/gateway-keys/{id}/rotate``: a new secret, shown once."""
    key_id = request.match_info["id"]
    key, secret = await _run(request, lambda: _store(request).rotate(key_id))
    await _share(request, key_id)
    return web.json_response({**key.as_json(), "key": secret})


async def api_spend(request: web.Request) -> web.Response:
    """``GET /api/spend``: the ledger by key, model, worker and day.

    ``since`` and ``until`` bound the UTC days counted; ``key`` keeps one key's totals.
    """
    since, until = request.query.get("since"), request.query.get("until")
    for name, value in (("since", since), ("until", until)):
        if value is not None and not DAY.fullmatch(value):
            raise BadRequest(f"{name!r} must be a day, YYYY-MM-DD", code="invalid_day")
    tenancy = request.app[TENANCY]
    key_id = request.query.get("key")

    def read() -> dict[str, Any]:
        with tenancy.store.connection() as conn:
            return report(conn, since=since, until=until, key_id=key_id)

    spend = await _run(request, read)
    ledger = tenancy.ledger
    spend["ledger"] = {
        "queued": ledger.queued,
        "written": ledger.written,
        "overflow": ledger.overflow,
    }
    return web.json_response(spend, dumps=dumps)


def _price(app: web.Application) -> Callable[[str], float | None]:
    """A worker's configured price per million tokens, looked up on the live board."""

    def price(worker: str) -> float | None:
        view = app[SERVICES].board.view(worker)
        return view.config.price if view is not None else None

    return price


async def _tenants_context(app: web.Application) -> AsyncIterator[None]:
    """Open the database and start the ledger for the application's life; with a shared
    store, count limits fleet-wide and share the records."""
    store = KeyStore(app[RUNTIME].settings.db)
    store.open()
    local = LocalCounters(store.clock)
    with store.connection() as conn:
        local.seed_spend(*spent_so_far(conn, store.clock()))
    ledger = Ledger(store.path)
    ledger.start()
    app[BRIDGE] = bridge = Bridge(max_threads=2, name="tenants")
    fleet = app[SERVICES].fleet
    shared: FleetCounters | None = None
    relay: FleetRecords | None = None
    if fleet.store is not None:
        shared = _fleet_counters(fleet.store, store, local, bridge)
        app[RECORDS] = relay = FleetRecords(fleet.store, store, bridge.run, fleet.identity.id)
        relay.attach()
        fleet.store.on_connected(shared.resync)
        await shared.resync()
        await relay.start()
    counters: Counters = shared or local
    tenancy = Tenancy(store, counters, ledger, _price(app), store.clock)
    app[TENANCY] = tenancy
    collector = TenantCollector(tenancy)
    registry = app[TELEMETRY].metrics.registry
    registry.register(collector)
    try:
        yield
    finally:
        registry.unregister(collector)
        if relay is not None:
            await relay.close()
        if shared is not None:
            await shared.close()
        ledger.close()
        bridge.close()
        store.close()


def _fleet_counters(
    shared: SharedStore, store: KeyStore, local: LocalCounters, bridge: Bridge
) -> FleetCounters:
    """The fleet's counters over ``shared``, seeded from ``store``'s ledger."""

    def spent(now: float) -> Spent:
        with store.connection() as conn:
            return spent_so_far(conn, now)

    return FleetCounters(
        shared,
        local,
        database_id=store.database_id(),
        spent=lambda now: bridge.run(lambda: spent(now)),
        clock=store.clock,
    )


def install_tenants(app: web.Application) -> None:
    """Open the key records and the ledger with the application (the door adds the
    limit headers as responses start)."""
    app.cleanup_ctx.append(_tenants_context)

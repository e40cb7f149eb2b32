"""Gateway keys as tenants: key records, their limits and budgets, and the spend ledger.

:mod:`~cortex.tenants.store` keeps the records in SQLite (migrations in
:mod:`~cortex.tenants.migrations`), :mod:`~cortex.tenants.counters` counts requests,
tokens and spend per key behind the :class:`Counters` interface,
:mod:`~cortex.tenants.gate` enforces them on each request, :mod:`~cortex.tenants.ledger`
writes the spend rows and :mod:`~cortex.tenants.spend` reports them. With a shared store,
:mod:`~cortex.tenants.fleet_counters` counts limits fleet-wide and
:mod:`~cortex.tenants.fleet_records` carries record changes to every instance's database.
"""

from cortex.tenants.counters import Counters, LocalCounters
from cortex.tenants.fleet_counters import FleetCounters
from cortex.tenants.fleet_records import FleetRecords
from cortex.tenants.gate import TENANCY, Tenancy
from cortex.tenants.ledger import Ledger, SpendRow
from cortex.tenants.records import GatewayKey, Limits
from cortex.tenants.store import KeyStore

__all__ = [
    "TENANCY",
    "Counters",
    "FleetCounters",
    "FleetRecords",
    "GatewayKey",
    "KeyStore",
    "Ledger",
    "Limits",
    "LocalCounters",
    "SpendRow",
    "Tenancy",
]

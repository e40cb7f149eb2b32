"""Gateway keys as tenants: key records, their limits and budgets, and the spend ledger.

:mod:`~cortex.tenants.store` keeps the records in SQLite (migrations in
:mod:`~cortex.tenants.migrations`), :mod:`~cortex.tenants.counters` counts requests,
tokens and spend per key behind the :class:`Counters` interface,
:mod:`~cortex.tenants.gate` enforces them on each request, :mod:`~cortex.tenants.ledger`
writes the spend rows and :mod:`~cortex.tenants.spend` reports them.
"""

from cortex.tenants.counters import Counters, LocalCounters
from cortex.tenants.gate import TENANCY, Tenancy
from cortex.tenants.ledger import Ledger, SpendRow
from cortex.tenants.records import GatewayKey, Limits
from cortex.tenants.store import KeyStore

__all__ = [
    "TENANCY",
    "Counters",
    "GatewayKey",
    "KeyStore",
    "Ledger",
    "Limits",
    "LocalCounters",
    "SpendRow",
    "Tenancy",
]

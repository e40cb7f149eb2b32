"""Metrics per gateway key record, labelled by the record's id.

The series are read from the gate's tallies when ``/metrics`` is scraped, so a label
exists only for a key that served or was refused a request: the labels are bounded by the
records in the database, never by what clients send. Static ``CORTEX_API_KEYS`` keys have
no limits and no series here.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cortex.tenants.gate import Tenancy


class TenantCollector(Collector):
    """Requests, tokens, cost and refusals per key; the ledger's queue and overflow."""

    def __init__(self, tenancy: Tenancy) -> None:
        self._tenancy = tenancy

    def collect(self) -> Iterator[Metric]:
        """The series as of now."""
        requests = CounterMetricFamily(
            "cortex_gateway_key_requests",
            "Requests an upstream served, per gateway key",
            labels=["key"],
        )
        tokens = CounterMetricFamily(
            "cortex_gateway_key_tokens", "Tokens per gateway key", labels=["key", "direction"]
        )
        cost = CounterMetricFamily(
            "cortex_gateway_key_cost",
            "Spend per gateway key, in the price currency",
            labels=["key"],
        )
        refused = CounterMetricFamily(
            "cortex_gateway_key_refused",
            "Requests refused by a key's allow-list, rate limit or budget",
            labels=["key", "reason"],
        )
        for key_id, tally in list(self._tenancy.tallies.items()):
            requests.add_metric([key_id], tally.requests)
            tokens.add_metric([key_id, "in"], tally.tokens_in)
            tokens.add_metric([key_id, "out"], tally.tokens_out)
            cost.add_metric([key_id], tally.cost)
            for reason, count in list(tally.refused.items()):
                refused.add_metric([key_id, reason], count)
        ledger = self._tenancy.ledger
        overflow = CounterMetricFamily(
            "cortex_spend_ledger_overflow", "Spend ledger rows not written: the queue was full"
        )
        overflow.add_metric([], ledger.overflow)
        queued = GaugeMetricFamily(
            "cortex_spend_ledger_queued", "Spend ledger rows not yet written"
        )
        queued.add_metric([], ledger.queued)
        yield from (requests, tokens, cost, refused, overflow, queued)

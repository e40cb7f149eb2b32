"""The tenant gate: who a gateway key record is, what it may do, and what it spent.

Client authentication (:mod:`cortex.http.access`) asks :meth:`Tenancy.identify` for the
record of a presented key, then hands the request to :meth:`Tenancy.serve`, which on the
endpoints that reach an upstream (chat, embeddings, messages):

1. refuses a model outside the key's allow-list (403 ``model_not_allowed``);
2. admits the request against the key's counters (429 ``rate_limited`` or
   ``budget_exceeded``, with ``Retry-After`` and ``x-ratelimit-*``), reserving one request
   and its expected tokens;
3. runs the handler, then settles the reservation with the tokens the upstream reported
   and the cost from the answering worker's ``price``, and appends a ledger row.

All of it happens before any upstream call. Only a request an upstream answered gets a
ledger row; one refused, failed before an answer or served from the cache costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from cortex.chat import Usage
from cortex.errors import KeyOverLimit, ModelNotAllowed
from cortex.http.routes import REQUEST_ID_KEY, Handler
from cortex.observability.observe import RequestRecord, current_record
from cortex.tenants.counters import Counters, Refusal, Standing, Ticket
from cortex.tenants.ledger import Ledger, SpendRow
from cortex.tenants.records import GatewayKey
from cortex.tenants.store import KeyStore

METERED = frozenset({"/v1/chat/completions", "/api/chat", "/v1/embeddings", "/v1/messages"})
"""The endpoints that reach an upstream, where limits, budgets and the allow-list apply."""
COMPLETION_ESTIMATE = 1024
"""Completion tokens reserved for a chat request that sets no ``max_tokens``."""
CHARS_PER_TOKEN = 4
"""The prompt's reservation: its body's length over this (a generous guess)."""

STANDING_KEY = web.RequestKey("cortex.tenant_standing", Standing)
LIMITS_KEY = web.RequestKey("cortex.tenant_limits", GatewayKey)


@dataclass(slots=True)
class KeyTally:
    """One key's counts since start, for the metrics (label: the record's id)."""

    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    refused: dict[str, int] = field(default_factory=dict)


class Tenancy:
    """Gateway key records, their counters and the spend ledger, for one process.

    Args:
        store: the key records.
        counters: the per-key rate, token and budget counters.
        ledger: the spend ledger's writer.
        price: a worker's price per million tokens, None when unknown (no cost).
        clock: wall-clock seconds (epoch).
    """

    def __init__(
        self,
        store: KeyStore,
        counters: Counters,
        ledger: Ledger,
        price: Callable[[str], float | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.counters = counters
        self.ledger = ledger
        self._price = price
        self._clock = clock
        self.tallies: dict[str, KeyTally] = {}

    def guards(self) -> bool:
        """Whether any record exists, so every client request needs a key."""
        return self.store.has_records()

    def identify(self, presented: list[str]) -> GatewayKey | None:
        """The usable record of the first presented key that has one (None: refuse)."""
        now = self._clock()
        for secret in presented:
            key = self.store.find(secret)
            if key is not None and key.usable(now):
                return key
        return None

    async def serve(
        self, request: web.Request, key: GatewayKey, handler: Handler
    ) -> web.StreamResponse:
        """Enforce ``key``'s allow-list and limits, run the handler, then settle and record."""
        if request.path not in METERED:
            return await handler(request)
        body = await request.read()
        model, expected = _expectation(body)
        if model is not None and not key.limits.allows(model.name):
            self._refused(key.id, "model")
            raise ModelNotAllowed(
                f"this gateway key may not use model {model.name or 'auto'!r}",
                code="model_not_allowed",
            )
        verdict = await self.counters.admit(key.id, key.limits, expected)
        request[STANDING_KEY], request[LIMITS_KEY] = verdict.standing, key
        if verdict.ticket is None:
            self._refused(key.id, str(verdict.refusal))
            raise _over_limit(key, verdict.refusal, verdict.retry_after, verdict.standing)
        ticket = verdict.ticket
        try:
            return await handler(request)
        finally:
            self._settle(request, key, ticket, current_record())

    def _settle(
        self, request: web.Request, key: GatewayKey, ticket: Ticket, record: RequestRecord | None
    ) -> None:
        """Settle the reservation with what the upstream reported; write the ledger row."""
        worker = record.worker if record is not None else None
        if record is None or worker is None:
            self.counters.settle(ticket, 0, 0.0)
            return
        usage = record.usage or Usage(0, 0)
        spent = cost(usage, self._price(worker))
        # A served answer whose usage never came keeps its reservation: the tokens were spent.
        self.counters.settle(ticket, usage.total_tokens if record.usage else ticket.reserved, spent)
        tally = self.tallies.setdefault(key.id, KeyTally())
        tally.requests += 1
        tally.tokens_in += usage.prompt_tokens
        tally.tokens_out += usage.completion_tokens
        tally.cost += spent
        outcome = record.outcome.value if record.outcome is not None else "cancelled"
        self.ledger.append(
            SpendRow(
                at=self._clock(),
                key_id=key.id,
                request_id=request.get(REQUEST_ID_KEY, ""),
                worker=worker,
                model=record.model or "",
                tokens_in=usage.prompt_tokens,
                tokens_out=usage.completion_tokens,
                cost=spent,
                outcome=outcome,
            )
        )

    def _refused(self, key_id: str, reason: str) -> None:
        refused = self.tallies.setdefault(key_id, KeyTally()).refused
        refused[reason] = refused.get(reason, 0) + 1


@dataclass(frozen=True, slots=True)
class _Asked:
    """The model a readable body asks for (None: the default)."""

    name: str | None


def _expectation(body: bytes) -> tuple[_Asked | None, int]:
    """The model a body asks for and the tokens to reserve for it.

    An unreadable body (None) is left to the handler, which answers 400 without an
    upstream call.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, 0
    if not isinstance(parsed, dict):
        return None, 0
    model = parsed.get("model")
    asked = _Asked(model if isinstance(model, str) else None)
    prompt = len(body) // CHARS_PER_TOKEN
    if "input" in parsed and "messages" not in parsed:
        return asked, prompt
    cap = parsed.get("max_completion_tokens") or parsed.get("max_tokens")
    completion = cap if isinstance(cap, int) and cap > 0 else COMPLETION_ESTIMATE
    return asked, prompt + completion


def cost(usage: Usage, price: float | None) -> float:
    """What an answer cost: prompt plus completion tokens at ``price`` per million.

    A worker without a price (None) costs nothing: it is local, or its price is unknown.
    """
    return usage.total_tokens * (price or 0.0) / 1_000_000


def limit_headers(key: GatewayKey, standing: Standing) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers of a key's limits (OpenAI's names), where it has them."""
    headers: dict[str, str] = {}
    for kind, limit, remaining, reset in (
        ("requests", key.limits.rpm, standing.remaining_requests, standing.reset_requests),
        ("tokens", key.limits.tpm, standing.remaining_tokens, standing.reset_tokens),
    ):
        if limit is not None and remaining is not None:
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
            headers[f"x-ratelimit-reset-{kind}"] = f"{reset:.3f}s"
    return headers


def _over_limit(
    key: GatewayKey, refusal: Refusal | None, retry_after: float, standing: Standing
) -> KeyOverLimit:
    """The 429 for a refusal, with when to come back and the key's standing."""
    headers = {"Retry-After": str(max(1, int(retry_after + 0.999))), **limit_headers(key, standing)}
    if refusal in {Refusal.BUDGET_DAILY, Refusal.BUDGET_MONTHLY}:
        window = "daily" if refusal is Refusal.BUDGET_DAILY else "monthly"
        return KeyOverLimit(
            f"this gateway key's {window} budget is spent", code="budget_exceeded", headers=headers
        )
    per = "requests" if refusal is Refusal.REQUESTS else "tokens"
    return KeyOverLimit(
        f"this gateway key's {per} per minute limit is reached",
        code="rate_limited",
        headers=headers,
    )


def add_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On response start (the door's prepare hook): a limited key's ``x-ratelimit-*``
    headers on every answer."""
    standing, key = request.get(STANDING_KEY), request.get(LIMITS_KEY)
    if standing is not None and key is not None:
        for name, value in limit_headers(key, standing).items():
            response.headers.setdefault(name, value)


TENANCY = web.AppKey("tenancy", Tenancy)
"""The application's tenant gate, set while the application runs."""

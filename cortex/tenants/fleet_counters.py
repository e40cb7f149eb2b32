"""Rate, token and budget counters shared by a fleet through Redis, atomically.

:class:`FleetCounters` is the :class:`~cortex.tenants.counters.Counters` of an instance
with a shared store. A key with a rate limit or a budget is counted in Redis, so its limits
hold for the whole fleet; a key without any (and a static key, which never reaches the
counters) costs Redis nothing.

Per key ``K``, under the deployment's prefix:

* ``tenants:window:K`` (sorted set: reservation id by admission time) and
  ``tenants:tokens:K`` (hash: reservation id to tokens, and ``_total``) are the last
  minute's requests and tokens; both expire :data:`KEEP` seconds after the last admission;
* ``tenants:spend:K:<YYYY-MM-DD>`` and ``tenants:spend:K:<YYYY-MM>`` are the day's and the
  month's spend; each expires a day after its period ends.

A request costs two script calls (:mod:`~cortex.tenants.fleet_scripts`): the admit script
drops what left the window, checks every limit of the key and either reserves one request
and its expected tokens or answers the refusal and its retry-after, all at once; the settle
script replaces the reservation with the tokens used and adds the cost. Admission waits on
Redis at most the store's budget; settling runs in a task of its own and never holds a
request up.

**Redis unreachable or late.** The request is counted by this process's
:class:`~cortex.tenants.counters.LocalCounters` instead: the gateway keeps answering, and
limits are per instance until Redis answers again. The local budgets start from the
fleet's spend as last seen in an admission's answer. What the local counters reserve for
the minute's windows is not sent to Redis afterwards (it leaves the window within a minute
anyway); what they settle as spend is *owed* to Redis and added to it on reconnection, so
an outage does not hide money spent.

**Seeding from the ledger.** Spend starts from each database's ledger once per Redis
*life* (``<prefix>:life``, shared with the key counts: an id set when Redis has none, so
a Redis that restarted empty starts a new life). On every (re)connection one call of the
resync script decides, for this instance's database (its ``database_id``):

* the database was not yet counted in this life: its ledger's spend today and this month
  is added, and the database is marked as counted. Instances of one machine share one
  database file, so it is counted once however many of them start; instances on several
  machines each add their own ledger, which holds only their own requests;
* it was, and this instance talked to this same life before: Redis kept its data through
  the outage, so only the spend owed since is added;
* it was, by another instance in a life this one did not see: that instance's seed read
  the shared ledger, where the owed requests are already written; nothing is added.

Until that call answered, this instance counts locally, so no settle reaches a new life
before the seed that would also count it. Requests still in the ledger's queue at that
moment (at most :data:`~cortex.tenants.ledger.FLUSH_EVERY` seconds of them) may be missed
by a seed that replaces a lost life.

Windows follow each instance's own clock (the gateway's clocks are expected to be in sync,
as with NTP): an admission's time and the calendar day are the admitting instance's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import structlog

from cortex.tenants.counters import (
    WINDOW,
    LocalCounters,
    Refusal,
    Standing,
    Ticket,
    Verdict,
    day_of,
    seconds_to_next,
)
from cortex.tenants.fleet_scripts import ADMIT_SCRIPT, RESYNC_SCRIPT, SETTLE_SCRIPT

if TYPE_CHECKING:
    from cortex.fleet.store import SharedStore
    from cortex.tenants.records import Limits

log = structlog.get_logger("cortex.tenants")

KEEP = int(WINDOW) + 60
"""Seconds a key's window is kept in Redis after its last admission."""
SPEND_KEEP = 86_400.0
"""Seconds a day's or month's spend is kept in Redis after its period ends."""
CLOSE_WAIT = 2.0
"""Seconds the settles in flight get to finish when the counters close."""
NO_LIMIT = "-1"

Spent = tuple[Mapping[str, float], Mapping[str, float]]
"""Each key's spend today and this month, as the ledger says."""


def limit_arg(limit: float | None) -> str:
    """A limit as the admit script reads it (``-1``: none)."""
    return NO_LIMIT if limit is None else repr(limit)


def verdict_of(answer: Sequence[bytes | str], limits: Limits, ticket: Ticket) -> Verdict:
    """The admit script's answer as a verdict (``ticket`` is the reservation if admitted)."""
    text = [part.decode() if isinstance(part, bytes) else str(part) for part in answer]
    refusal, after, count, total, reset = text[0], *map(float, text[1:5])
    standing = Standing(
        None if limits.rpm is None else max(0, limits.rpm - int(count)),
        None if limits.tpm is None else max(0, int(limits.tpm - total)),
        max(0.0, reset),
        max(0.0, reset),
    )
    if refusal:
        return Verdict(standing, refusal=Refusal(refusal), retry_after=max(0.0, after))
    return Verdict(standing, ticket)


class FleetCounters:
    """:class:`~cortex.tenants.counters.Counters` shared by a fleet through its store.

    Args:
        store: the instance's shared store.
        local: this process's counters, for keys without limits and for outages.
        database_id: this instance's database's id (instances sharing a file share it).
        spent: reads each key's spend today and this month from the ledger, at a moment.
        clock: wall-clock seconds (epoch), the same as ``local``'s.
    """

    def __init__(
        self,
        store: SharedStore,
        local: LocalCounters,
        *,
        database_id: str,
        spent: Callable[[float], Awaitable[Spent]],
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._local = local
        self._database_id = database_id
        self._spent = spent
        self._clock = clock
        self._admit_script = store.script(ADMIT_SCRIPT)
        self._settle_script = store.script(SETTLE_SCRIPT)
        self._resync_script = store.script(RESYNC_SCRIPT)
        self._life = ""
        # The store's outage count when this instance last resynced: a different count
        # means Redis was away since, and may have come back empty.
        self._synced_after: int | None = None
        self._owed: dict[str, tuple[float, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def shared(self) -> bool:
        """Whether requests are counted in Redis now (else locally, per instance)."""
        store = self._store
        return store.available and self._synced_after == store.health.outages

    def _key(self, *parts: str) -> str:
        return self._store.key("tenants", *parts)

    async def admit(self, key_id: str, limits: Limits, tokens: int) -> Verdict:
        """Check every limit fleet-wide and reserve; locally when Redis cannot answer."""
        if not limits.counted or not self.shared:
            return self._owing(self._local.admit_now(key_id, limits, tokens), limits)
        now = self._clock()
        reservation = secrets.token_hex(8)
        day = day_of(now)
        keys = [
            self._key("window", key_id),
            self._key("tokens", key_id),
            self._key("spend", key_id, day),
            self._key("spend", key_id, day[:7]),
        ]
        args = [
            repr(now),
            repr(WINDOW),
            reservation,
            str(tokens),
            limit_arg(limits.rpm),
            limit_arg(limits.tpm),
            limit_arg(limits.budget_daily),
            limit_arg(limits.budget_monthly),
            repr(seconds_to_next(now, month=False)),
            repr(seconds_to_next(now, month=True)),
            str(KEEP),
        ]
        answer = await self._store.run(lambda _: self._admit_script(keys=keys, args=args))
        if answer is None:
            return self._owing(self._local.admit_now(key_id, limits, tokens), limits)
        day_spend, month_spend = float(answer[5]), float(answer[6])
        self._local.raise_spend(key_id, day_spend, month_spend)
        return verdict_of(answer, limits, Ticket(key_id, tokens, shared=reservation))

    def _owing(self, verdict: Verdict, limits: Limits) -> Verdict:
        """Mark a limited key's local ticket: its spend is owed to the fleet's store."""
        if verdict.ticket is not None and limits.counted:
            verdict.ticket.owed = True
        return verdict

    def settle(self, ticket: Ticket, tokens: int, cost: float) -> None:
        """Replace the reservation with the tokens used and add the cost (never waits)."""
        if ticket.settled:
            return
        if ticket.shared is None:
            self._local.settle(ticket, tokens, cost)
            if ticket.owed and cost > 0:
                self._owe(ticket.key_id, cost)
            return
        ticket.settled = True
        self._local.add_spend(ticket.key_id, cost)
        task = asyncio.ensure_future(self._settle_shared(ticket, tokens, cost))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle_shared(self, ticket: Ticket, tokens: int, cost: float) -> None:
        now = self._clock()
        day = day_of(now)
        keys = [
            self._key("tokens", ticket.key_id),
            self._key("spend", ticket.key_id, day),
            self._key("spend", ticket.key_id, day[:7]),
        ]
        day_keep, month_keep = _spend_keeps(now)
        args = [ticket.shared or "", str(tokens), repr(cost), str(day_keep), str(month_keep)]
        done = await self._store.run(lambda _: self._settle_script(keys=keys, args=args))
        if done is None and cost > 0:
            self._owe(ticket.key_id, cost)

    def _owe(self, key_id: str, cost: float) -> None:
        """Remember spend Redis has not counted, for the next resync."""
        now = self._clock()
        day = day_of(now)
        day_keep, month_keep = _spend_keeps(now)
        periods = ((day, day_keep), (day[:7], month_keep))
        for name, keep in ((self._key("spend", key_id, period), keep) for period, keep in periods):
            amount, _ = self._owed.get(name, (0.0, keep))
            self._owed[name] = (amount + cost, keep)

    def seed_spend(self, daily: Mapping[str, float], monthly: Mapping[str, float]) -> None:
        """Start the local counters' spend from the ledger (Redis is seeded by resync)."""
        self._local.seed_spend(daily, monthly)

    async def resync(self) -> None:
        """Bring this database's spend and the owed spend into Redis's life (see the module).

        Run on every (re)connection of the store; until it answered, requests are counted
        locally.
        """
        outages = self._store.health.outages
        now = self._clock()
        daily, monthly = await self._spent(now)
        owed, self._owed = self._owed, {}
        day = day_of(now)
        day_keep, month_keep = _spend_keeps(now)
        seeds: list[str] = []
        for key_id, amount in daily.items():
            seeds += [self._key("spend", key_id, day), repr(amount), str(day_keep)]
        for key_id, amount in monthly.items():
            seeds += [self._key("spend", key_id, day[:7]), repr(amount), str(month_keep)]
        args = [self._database_id, self._life, secrets.token_hex(8), str(len(seeds) // 3), *seeds]
        for name, (amount, keep) in owed.items():
            args += [name, repr(amount), str(keep)]
        keys = [self._store.life_key, self._key("counted")]
        answer = await self._store.run(lambda _: self._resync_script(keys=keys, args=args))
        if answer is None:
            for name, (amount, keep) in owed.items():
                have, _ = self._owed.get(name, (0.0, keep))
                self._owed[name] = (have + amount, keep)
            return
        life, added = (p.decode() if isinstance(p, bytes) else str(p) for p in answer)
        self._life = life
        self._synced_after = outages
        log.info("tenant_counters_shared", life=life, added=added, owed_keys=len(owed))

    async def close(self) -> None:
        """Let the settles in flight finish (within :data:`CLOSE_WAIT`), then stop them."""
        await finish(self._tasks, CLOSE_WAIT)


async def finish(tasks: set[asyncio.Task[None]], timeout: float) -> None:
    """Wait for ``tasks`` up to ``timeout`` seconds, then cancel (and reap) what is left."""
    if not tasks:
        return
    _, stuck = await asyncio.wait(list(tasks), timeout=timeout)
    for task in stuck:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*stuck, return_exceptions=True)


def _spend_keeps(now: float) -> tuple[int, int]:
    """Seconds a spend key of today and of this month is kept: a day past its period."""
    day_keep = seconds_to_next(now, month=False) + SPEND_KEEP
    month_keep = seconds_to_next(now, month=True) + SPEND_KEEP
    return int(day_keep), int(month_keep)

"""Circuit breakers shared by the fleet: a worker found down by one instance is skipped by all.

Implements :class:`actors.fleet_breakers.BreakerPeers` on the instance's
:class:`~cortex.fleet.store.SharedStore`. Per worker, in Redis:

- ``<prefix>:breaker:<worker>``: the id of the instance whose breaker opened it, expiring
  with the cool-down (an instance that connects later reads it when it resyncs);
- ``<prefix>:trial:<worker>``: the trial lock, taken with ``SET NX PX`` by the one
  instance that sends the half-open trial, released by that instance when the trial's
  outcome is known, and expiring after :data:`TRIAL_LOCK_SECONDS` if it never is;
- channel ``<prefix>:breakers``: ``opened`` and ``closed`` events, each naming its sender.

Every instance's actors skip the worker from the moment the event arrives. When the
cool-down passes, each instance that knows the breaker open tries to take the lock; the one
that gets it grants its actor the trial, the others keep the worker skipped until the
outcome is published (closed: everyone routes to it again; failed: it re-opens everywhere
with a new cool-down) or until the lock expires, when they try again.

The hot path reads none of this: it reads the breaker on the board, which the actors
update from these events. Redis unreachable when a breaker opens or a trial is due means
the breaker is this instance's own, as without a fleet.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import orjson
import structlog

from actors.fleet_breakers import (
    BreakerClosedElsewhere,
    BreakerOpenedElsewhere,
    Deliver,
    TrialGranted,
)
from cortex.fleet.wire import read_object

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

    from cortex.fleet.store import SharedStore

log = structlog.get_logger("cortex.fleet")

CHANNEL = "breakers"
TRIAL_LOCK_SECONDS = 30.0
"""How long a trial holder has to report the outcome before another instance may try."""

# Release the lock only if this instance holds it: a lock taken since by another instance
# (after this one's expired) is that instance's to release.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def encode_event(event: str, sender: str, worker: str, cooldown: float = 0.0) -> bytes:
    """A breaker event as published on the channel."""
    return orjson.dumps(
        {"event": event, "from": sender, "worker": worker, "cooldown_ms": round(cooldown * 1000)}
    )


def decode_event(raw: bytes) -> tuple[str, str, str, float] | None:
    """``(event, sender, worker, cooldown)`` of a published event; None if it is not one."""
    body = read_object(raw)
    if body is None:
        return None
    event, sender, worker = body.get("event"), body.get("from"), body.get("worker")
    cooldown = body.get("cooldown_ms", 0)
    if event not in {"opened", "closed"} or not isinstance(cooldown, int) or cooldown < 0:
        return None
    if not isinstance(sender, str) or not isinstance(worker, str):
        return None
    return event, sender, worker, cooldown / 1000


class FleetBreakers:
    """This instance's side of the fleet's shared breakers (see the module docstring).

    Created with the tree, before any actor starts, and bound to the store when the
    front opens it; while unbound every breaker is local.

    Args:
        instance: this instance's id.
    """

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._lock = threading.Lock()
        self._deliver: dict[str, Deliver] = {}
        self._store: SharedStore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._claims: dict[str, asyncio.TimerHandle] = {}

    # -- BreakerPeers (any thread) --------------------------------------------------

    def attach(self, worker: str, deliver: Deliver) -> None:
        """Send news about ``worker`` through ``deliver``."""
        with self._lock:
            self._deliver[worker] = deliver

    def detach(self, worker: str, deliver: Deliver) -> None:
        """Forget ``deliver`` unless a successor replaced it already."""
        with self._lock:
            if self._deliver.get(worker) == deliver:
                del self._deliver[worker]

    def opened(self, worker: str, cooldown: float) -> bool:
        """Publish the opening and take over the trial, if the store answers now."""
        store, loop = self._store, self._loop
        if store is None or loop is None or not store.available:
            return False
        lock, mark, sender = store.key("trial", worker), store.key("breaker", worker), self.instance

        def write(pipe: Pipeline) -> None:
            pipe.set(mark, sender, px=max(1, round(cooldown * 1000)))
            pipe.eval(_RELEASE, 1, lock, sender)

        store.submit(write)
        store.publish(CHANNEL, encode_event("opened", sender, worker, cooldown))
        loop.call_soon_threadsafe(self._claim_in, worker, cooldown)
        log.info("breaker_shared", worker=worker, change="opened", cooldown=cooldown)
        return True

    def closed(self, worker: str) -> None:
        """Publish the closing; release the trial lock if this instance held it."""
        store, loop = self._store, self._loop
        if store is None or loop is None:
            return
        lock, mark, sender = store.key("trial", worker), store.key("breaker", worker), self.instance

        def write(pipe: Pipeline) -> None:
            pipe.delete(mark)
            pipe.eval(_RELEASE, 1, lock, sender)

        store.submit(write)
        store.publish(CHANNEL, encode_event("closed", sender, worker))
        loop.call_soon_threadsafe(self._cancel_claim, worker)
        log.info("breaker_shared", worker=worker, change="closed")

    # -- lifecycle (the front's loop) -----------------------------------------------

    def bind(self, store: SharedStore) -> None:
        """Share through ``store`` from now on: listen for events, resync on connection."""
        self._loop = asyncio.get_running_loop()
        store.subscribe(CHANNEL, self._received)
        store.on_connected(self._resync)
        self._store = store

    def unbind(self) -> None:
        """Stop sharing (the front is closing): gated breakers go back to their own clock."""
        self._store = None
        for worker in list(self._claims):
            self._cancel_claim(worker)
            self._tell(worker, TrialGranted())
        self._loop = None

    # -- events (loop) ----------------------------------------------------------------

    def _received(self, raw: bytes) -> None:
        decoded = decode_event(raw)
        if decoded is None:
            log.warning("breaker_event_ignored", reason="unreadable")
            return
        event, sender, worker, cooldown = decoded
        if sender == self.instance:
            return
        if event == "opened":
            self._tell(worker, BreakerOpenedElsewhere(cooldown, sender))
            self._claim_in(worker, cooldown)
        else:
            self._cancel_claim(worker)
            self._tell(worker, BreakerClosedElsewhere(sender))

    def _tell(self, worker: str, message: object) -> None:
        with self._lock:
            deliver = self._deliver.get(worker)
        if deliver is not None:
            deliver(message)

    def _claim_in(self, worker: str, delay: float) -> None:
        """Try to take ``worker``'s trial lock in ``delay`` seconds (replacing any plan)."""
        self._cancel_claim(worker)
        loop = self._loop
        if loop is not None:
            self._claims[worker] = loop.call_later(
                delay, lambda: asyncio.ensure_future(self._claim(worker))
            )

    def _cancel_claim(self, worker: str) -> None:
        handle = self._claims.pop(worker, None)
        if handle is not None:
            handle.cancel()

    async def _claim(self, worker: str) -> None:
        """Take the trial lock: granted here, or try again when the holder's lock expires."""
        self._claims.pop(worker, None)
        store = self._store
        if store is None:
            return
        lock, sender = store.key("trial", worker), self.instance

        async def take(client: Redis) -> bool:
            return bool(
                await client.set(lock, sender, nx=True, px=round(TRIAL_LOCK_SECONDS * 1000))
            )

        taken = await store.run(take)
        if taken is False:
            self._claim_in(worker, TRIAL_LOCK_SECONDS)
            return
        # Taken, or Redis unreachable: either way this instance may try (alone, or locally).
        log.info("breaker_trial_taken", worker=worker, shared=taken is True)
        self._tell(worker, TrialGranted())

    async def _resync(self) -> None:
        """Apply breakers opened elsewhere while this instance was not listening."""
        store = self._store
        if store is None:
            return
        with self._lock:
            workers = list(self._deliver)
        if not workers:
            return
        marks = [store.key("breaker", worker) for worker in workers]

        async def read(client: Redis) -> list[object]:
            pipe = client.pipeline(transaction=False)
            for mark in marks:
                pipe.get(mark)
                pipe.pttl(mark)
            return list(await pipe.execute())

        answers = await store.run(read)
        if answers is None:
            return
        for index, worker in enumerate(workers):
            owner, left_ms = answers[2 * index], answers[2 * index + 1]
            if not isinstance(owner, bytes) or not isinstance(left_ms, int) or left_ms <= 0:
                continue
            if owner.decode() != self.instance and worker not in self._claims:
                self._tell(worker, BreakerOpenedElsewhere(left_ms / 1000, owner.decode()))
                self._claim_in(worker, left_ms / 1000)

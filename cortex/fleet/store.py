"""The one Redis client of an instance: budgeted commands, pipelined writes, pub/sub.

Redis is where a fleet shares state, never where a request waits: what a request needs is
read from local copies, and Redis only keeps them fresh. So :class:`SharedStore` is built
around three promises:

* **A budget.** Every command runs within ``CORTEX_REDIS_BUDGET_MS`` (connect, send and
  read; redis-py's own retries are off, so a budget is never spent several times over).
* **Failure is a state, not an error.** The first failed command logs
  ``shared_state_unavailable`` once and marks the store unavailable; until a ping (one a
  second) answers again every call returns at once without touching the network, so an
  outage costs requests nothing. On recovery ``shared_state_restored`` is logged and the
  registered resync callbacks run (they also run on the first connection), so local state
  and Redis converge.
* **Writes never block a thread.** The key ledger and the actors run on their own threads;
  :meth:`SharedStore.submit` puts a write in a bounded buffer and wakes the loop at most
  once per batch; a writer task sends everything buffered as one pipeline. A full buffer
  drops the write and counts it; it never waits.

Pub/sub messages are read by one listener task on its own connection, which subscribes
again to every channel after any reconnect. Handlers run on the loop and must be quick.

Everything here runs on the front's event loop, except :meth:`SharedStore.submit` (any
thread) and reading :attr:`SharedStore.health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline, PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from cortex.fleet.health import StoreHealth

log = structlog.get_logger("cortex.fleet")

T = TypeVar("T")
WriteOp = Callable[[Pipeline], object]
"""A write: queues its commands on the pipeline it is given (it must not await)."""
MessageHandler = Callable[[bytes], None]
"""Called on the loop with a message's payload."""
Resync = Callable[[], Awaitable[None]]
"""Run after every (re)connection, to merge local state with Redis."""

PROBE_INTERVAL = 1.0
"""Seconds between two pings while the store is unavailable."""
WRITE_BUFFER = 10_000
"""Most writes waiting for the writer task; more are dropped and counted."""
WRITE_BATCH = 512
"""Most writes sent in one pipeline."""
LISTEN_POLL = 0.5
"""Seconds the listener waits for a message before it looks for new subscriptions."""
CLOSE_WAIT = 2.0
"""Seconds the store's tasks get to end once cancelled."""
FAILURES = (RedisError, OSError, TimeoutError)
"""What a command may fail with: the server's errors, the network's, the budget's."""


class SharedStore:
    """One instance's connection to the fleet's Redis.

    Args:
        url: the ``redis://`` or ``rediss://`` URL.
        prefix: prefixed to every key and channel (``CORTEX_REDIS_PREFIX``).
        budget: seconds any one command may take.
        shown_url: the URL as logs may show it (no credentials).
        write_buffer: most writes waiting to be sent.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        budget: float,
        shown_url: str,
        write_buffer: int = WRITE_BUFFER,
    ) -> None:
        self.prefix = prefix
        self.budget = budget
        self.health = StoreHealth()
        self._shown_url = shown_url
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=budget,
            socket_connect_timeout=budget,
            retry=Retry(NoBackoff(), 0),
        )
        self._buffer: deque[WriteOp] = deque()
        self._buffer_limit = write_buffer
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._up = asyncio.Event()
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._resyncs: list[Resync] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._down_since = 0.0
        self._closing = False

    def key(self, *parts: str) -> str:
        """A key of this deployment: the prefix and ``parts``, joined by ``:``."""
        return ":".join((self.prefix, *parts))

    @property
    def life_key(self) -> str:
        """The key naming the current *life* of the deployment's Redis data.

        A Redis that lost its data (restarted empty) has no life id; the first script that
        finds none sets a new one. Every shared state that must tell a Redis that kept its
        data from a fresh one (key counts, tenant spend) reads this one key, so they all
        agree on when a life began.
        """
        return self.key("life")

    @property
    def available(self) -> bool:
        """Whether the last command succeeded (no call is made while it is False)."""
        return self.health.available

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (within the budget), then start the writer and the listener.

        An unreachable Redis does not fail the start: the store starts unavailable and
        keeps probing, and the instance serves from local state meanwhile.
        """
        self._loop = asyncio.get_running_loop()
        self._own(self._write_loop())
        self._own(self._listen_loop())
        if await self._attempt(lambda client: client.ping()) is not None:
            log.info("shared_state_connected", store=self._shown_url, prefix=self.prefix)
            self._up.set()
            self._own(self._resync())

    async def close(self) -> None:
        """Send what is buffered (within the budget), stop every task, disconnect."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_WAIT)
            if stuck:
                log.warning("shared_store_tasks_stuck", tasks=len(stuck))
        if self.available:
            await self._flush()
        with contextlib.suppress(*FAILURES):
            await self._client.aclose()
        self._loop = None

    def on_connected(self, resync: Resync) -> None:
        """Run ``resync`` after every (re)connection (registered before :meth:`start`, on
        the first connection too; registered later, its owner runs it once itself)."""
        self._resyncs.append(resync)

    # -- commands --------------------------------------------------------------------

    async def run(self, command: Callable[[Redis], Awaitable[T]]) -> T | None:
        """The result of ``command`` on the client, or None if unavailable or it failed.

        Never waits longer than the budget; returns at once while the store is down.
        """
        if not self.available:
            return None
        return await self._attempt(command)

    def script(self, source: str) -> AsyncScript:
        """A server-side Lua script, for updates that must be atomic (sent by hash)."""
        return self._client.register_script(source)

    def submit(self, op: WriteOp) -> bool:
        """Queue a write from any thread; False if it was dropped (buffer full, not running).

        Never blocks: the write is sent by the writer task in the next pipeline.
        """
        loop = self._loop
        with self._lock:
            if loop is None:
                self.health.dropped += 1
                return False
            if len(self._buffer) >= self._buffer_limit:
                self.health.overflowed += 1
                return False
            self._buffer.append(op)
            first = len(self._buffer) == 1
        if first:
            # One wake-up per batch: later writes join the buffer the writer will drain.
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake.set)
        return True

    # -- pub/sub ---------------------------------------------------------------------

    def subscribe(self, channel: str, handler: MessageHandler) -> None:
        """Call ``handler`` with every message published on ``channel`` (loop only).

        Subscribing is kept across reconnects; a channel added while running is
        subscribed within :data:`LISTEN_POLL` seconds.
        """
        self._handlers.setdefault(self.key(channel), []).append(handler)

    def publish(self, channel: str, payload: bytes) -> bool:
        """Publish ``payload`` on ``channel`` with the next pipeline (from any thread)."""
        name = self.key(channel)
        return self.submit(lambda pipe: pipe.publish(name, payload))

    # -- internals -------------------------------------------------------------------

    def _own(self, work: Awaitable[None]) -> None:
        """Run ``work`` as a task this store awaits or cancels on close."""
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, command: Callable[[Redis], Awaitable[T]]) -> T | None:
        try:
            async with asyncio.timeout(self.budget):
                return await command(self._client)
        except FAILURES as exc:
            self._failed(exc)
            return None

    def _failed(self, error: BaseException) -> None:
        """Count a failure; the first one of an outage logs it and starts the probe."""
        self.health.errors += 1
        if not self.available or self._closing:
            return
        self.health.available = False
        self.health.outages += 1
        self._down_since = time.monotonic()
        self._up.clear()
        log.warning(
            "shared_state_unavailable",
            store=self._shown_url,
            error=_describe(error),
            effect="serving from local state; Redis is pinged every second",
        )
        self._own(self._probe())

    async def _probe(self) -> None:
        """Ping every second until Redis answers, then mark it available and resync."""
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            with contextlib.suppress(*FAILURES):
                async with asyncio.timeout(self.budget):
                    await self._client.ping()
                break
        self.health.available = True
        self._up.set()
        log.info(
            "shared_state_restored",
            store=self._shown_url,
            down_seconds=round(time.monotonic() - self._down_since, 1),
        )
        await self._resync()

    async def _resync(self) -> None:
        """Run every resync callback; a failure inside one marks the store down again."""
        for resync in self._resyncs:
            if not self.available:
                return
            await resync()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while batch := self._take(WRITE_BATCH):
                await self._send(batch)

    def _take(self, most: int) -> list[WriteOp]:
        with self._lock:
            return [self._buffer.popleft() for _ in range(min(most, len(self._buffer)))]

    async def _send(self, batch: list[WriteOp]) -> None:
        """One pipeline for the batch; lost writes are counted (a resync makes up for them)."""
        if not self.available:
            self.health.dropped += len(batch)
            return
        pipe = self._client.pipeline(transaction=False)
        for op in batch:
            op(pipe)
        if await self._attempt(lambda _: pipe.execute()) is None:
            self.health.dropped += len(batch)

    async def _flush(self) -> None:
        while batch := self._take(WRITE_BATCH):
            await self._send(batch)

    async def _listen_loop(self) -> None:
        """Deliver messages; subscribe anew to every channel after any reconnect."""
        while not self._closing:
            await self._up.wait()
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await self._listen(pubsub)
            except FAILURES as exc:
                self._failed(exc)
            finally:
                with contextlib.suppress(*FAILURES):
                    await pubsub.aclose()  # type: ignore[no-untyped-call] # redis-py leaves it untyped

    async def _listen(self, pubsub: PubSub) -> None:
        subscribed: set[str] = set()
        while True:
            wanted = set(self._handlers) - subscribed
            if wanted:
                async with asyncio.timeout(self.budget):
                    await pubsub.subscribe(*wanted)
                subscribed |= wanted
            if not subscribed:
                await asyncio.sleep(LISTEN_POLL)
                continue
            message = await pubsub.get_message(timeout=LISTEN_POLL)
            if message is not None and message.get("type") == "message":
                self._deliver(message)

    def _deliver(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        for handler in self._handlers.get(name, ()):
            # A bad message from another instance must not stop this one's listener.
            try:
                handler(message["data"])
            except Exception:  # logged with its channel; the listener goes on
                log.exception("shared_message_failed", channel=name)


def _describe(error: BaseException) -> str:
    """An error's class and message (a budget overrun has no message of its own)."""
    if isinstance(error, TimeoutError) and not str(error):
        return "TimeoutError: no answer within the budget"
    return f"{type(error).__name__}: {error}"

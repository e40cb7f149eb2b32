"""The one crossing between the event loop and the actors.

Request tasks run on the front's event loop; the actors run on their own threads. Every
way across goes through this module, so the rules hold in one place:

* **ask** (:meth:`Bridge.ask`): the message goes straight into the actor's mailbox with a
  reply slot that resolves an asyncio future through ``loop.call_soon_threadsafe``, so a
  reply wakes the loop once and no thread waits for it; always with a timeout, never by
  awaiting a Pykka future on the loop (its ``get()`` blocks the thread and would freeze
  every stream). An actor caught restarting is asked from the thread pool instead, where
  waiting for its successor may block;
* **blocking calls** (:meth:`Bridge.run`): admin operations that ask several actors in
  turn run on a dedicated, bounded thread pool;
* **tell** (:func:`tell`): fire and forget, by name, so a restarted actor's new
  incarnation gets the message; a message lost to a restart is acceptable;
* **counting** (:data:`CROSSINGS`): every ask, tell and blocking call made through here is
  counted by kind, so a change that adds thread hand-offs to a request shows up in the
  metrics and fails a test;
* **back onto the loop** (:func:`on_loop`): threads (the front actor, the library API)
  hand coroutines to the loop and wait for them with a timeout;
* **reading** an actor's state without a message: the shared tables (board, key ledger,
  response store) are read directly; :func:`mailbox_depth` reads a mailbox's length.

A test (``tests/quality/test_layers.py``) fails if any other module under ``cortex/``
imports Pykka, or if ``actors/`` or ``supervisors/`` imports ``cortex/``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import queue
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import pykka

# Pykka's envelope is how an ask carries its reply slot; it is internal to Pykka, whose
# version pyproject.toml pins to one minor release, and this module is its only user.
from pykka._envelope import Envelope

from supervisors import Directory, Handle, NotRunning

_T = TypeVar("_T")

ActorRef = pykka.ActorRef
"""A live actor's reference (as the supervision tree hands them out)."""

UNREACHABLE: tuple[type[Exception], ...] = (pykka.Timeout, pykka.ActorDeadError, NotRunning)
"""What an ask raises when its actor is not there to answer: timed out, dead, restarting."""

ActorGone = pykka.ActorDeadError
"""Raised by a tell or ask to an actor that stopped."""

AskTimeout = pykka.Timeout
"""Raised by an ask whose reply did not come in time."""

CROSSINGS: collections.Counter[str] = collections.Counter()
"""Asks, tells and blocking calls made through this module since start, by kind.

Incremented without a lock: ``Counter`` updates of one key are effectively atomic under
the GIL for this use, and a rare lost increment would only blur a metric.
"""

_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


class _LoopReply(pykka.Future[Any]):
    """A reply slot the actor fills from its thread, resolving an asyncio future on its loop.

    Pykka's actor loop calls :meth:`set` or :meth:`set_exception` exactly once per asked
    envelope (also when the actor stops before handling it); either hands the outcome to
    the loop with one ``call_soon_threadsafe``. A reply after the asker gave up, or after
    its loop closed, is dropped.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self.waiter: asyncio.Future[Any] = loop.create_future()

    def set(self, value: Any | None = None) -> None:  # noqa: ANN401 - replies are untyped
        self._hand_over(value, None)

    def set_exception(self, exc_info: _ExcInfo | None = None) -> None:
        self._hand_over(None, (exc_info or sys.exc_info())[1])

    def _hand_over(self, value: object, error: BaseException | None) -> None:
        try:
            self._loop.call_soon_threadsafe(_resolve, self.waiter, value, error)
        except RuntimeError:
            # The asker's loop closed (shutdown) before the reply came: nobody waits for it,
            # and raising here would crash the actor that answered.
            return

    def get(self, *, timeout: float | None = None) -> Any:  # noqa: ANN401 - replies are untyped
        """Never used: the asker awaits :attr:`waiter` on the loop instead."""
        raise NotImplementedError("await the reply's waiter on its event loop")


def _resolve(waiter: asyncio.Future[Any], value: object, error: BaseException | None) -> None:
    if waiter.done():
        return
    if error is None:
        waiter.set_result(value)
    else:
        waiter.set_exception(error)


class Bridge:
    """Asks actors and runs blocking calls from async code without blocking the loop.

    Args:
        max_threads: how many asks or calls may wait at once; a burst beyond it queues
            (each ask is a sub-millisecond mailbox round trip, so a few dozen threads
            serve thousands of requests a second).
        name: the prefix of the pool's thread names.
    """

    def __init__(self, *, max_threads: int = 32, name: str = "bridge") -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix=name)

    async def ask(self, handle: Handle, message: object, *, timeout: float) -> Any:  # noqa: ANN401 - replies are untyped, as in Pykka
        """Send ``message`` to the actor behind ``handle`` and await its reply.

        The same contract as :meth:`Handle.ask`: a message the actor never processed
        (it died first) is sent once more to its successor; a timeout is never retried.
        Only that retry, and an actor caught between incarnations, go through the pool.

        Raises:
            Whatever the actor raised while handling the ask, ``pykka.Timeout`` if no
            reply came within ``timeout``, or the handle's error if the actor is not running.
        """
        CROSSINGS["ask"] += 1
        ref = handle.registered()
        if ref is None or not ref.is_alive():
            return await self._in_pool(functools.partial(handle.ask, message, timeout=timeout))
        reply = _LoopReply(asyncio.get_running_loop())
        ref.actor_inbox.put(Envelope(message, reply_to=reply))
        try:
            async with asyncio.timeout(timeout):
                return await reply.waiter
        except TimeoutError:
            raise pykka.Timeout(f"{timeout} seconds") from None
        except pykka.ActorDeadError:
            return await self._in_pool(functools.partial(handle.ask, message, timeout=timeout))

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run a blocking call (one that asks actors, each with a timeout) and await it."""
        CROSSINGS["run"] += 1
        return await self._in_pool(call)

    async def _in_pool(self, call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Release the threads; asks already waiting finish first."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def tell(names: Directory, name: str, message: object) -> None:
    """Tell the actor registered as ``name`` in ``names``; never blocks, never raises.

    A message to an actor that is restarting or gone is dropped: tells carry reports,
    and a report lost to a restart is acceptable.
    """
    CROSSINGS["tell"] += 1
    try:
        ref = names.lookup(name)
        if ref is not None:
            ref.tell(message)
    except pykka.ActorDeadError:
        return


def on_loop(coroutine: Coroutine[Any, Any, _T], loop: asyncio.AbstractEventLoop) -> Future[_T]:
    """Hand ``coroutine`` from a thread to ``loop``; wait on the returned future's result."""
    return asyncio.run_coroutine_threadsafe(coroutine, loop)


def mailbox_depth(ref: pykka.ActorRef[Any]) -> int | None:
    """How many messages wait in the actor's mailbox, or None if it cannot tell."""
    # ``actor_inbox`` is a documented attribute of pykka's ActorRef; a ThreadingActor's is
    # a queue.Queue, whose approximate qsize() is all an operator needs.
    inbox: object = ref.actor_inbox
    return inbox.qsize() if isinstance(inbox, queue.Queue) else None

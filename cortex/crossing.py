"""The one crossing between the event loop and the actors.

Request tasks run on the front's event loop; the actors run on their own threads. Every
way across goes through this module, so the rules hold in one place:

* **ask** (:meth:`Bridge.ask`): a reply is awaited on a dedicated, bounded thread pool,
  always with a timeout, never by awaiting a Pykka future on the loop (its ``get()``
  blocks the thread and would freeze every stream);
* **blocking calls** (:meth:`Bridge.run`): admin operations that ask several actors in
  turn run on the same kind of pool;
* **tell** (:func:`tell`): fire and forget, by name, so a restarted actor's new
  incarnation gets the message; a message lost to a restart is acceptable;
* **back onto the loop** (:func:`on_loop`): threads (the front actor, the library API)
  hand coroutines to the loop and wait for them with a timeout;
* **reading** an actor's state without a message: the shared tables (board, key ledger,
  response store) are read directly; :func:`mailbox_depth` reads a mailbox's length.

A test (``tests/quality/test_layers.py``) fails if any other module under ``cortex/``
imports Pykka, or if ``actors/`` or ``supervisors/`` imports ``cortex/``.
"""

from __future__ import annotations

import asyncio
import functools
import queue
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import pykka

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

        Raises:
            Whatever the actor raised while handling the ask, ``pykka.Timeout`` if no
            reply came within ``timeout``, or the handle's error if the actor is not running.
        """
        return await self.run(functools.partial(handle.ask, message, timeout=timeout))

    async def run(self, call: Callable[[], _T]) -> _T:
        """Run a blocking call (one that asks actors, each with a timeout) and await it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Release the threads; asks already waiting finish first."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def tell(names: Directory, name: str, message: object) -> None:
    """Tell the actor registered as ``name`` in ``names``; never blocks, never raises.

    A message to an actor that is restarting or gone is dropped: tells carry reports,
    and a report lost to a restart is acceptable.
    """
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

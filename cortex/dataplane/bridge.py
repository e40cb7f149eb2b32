"""The one sanctioned crossing from the event loop into Pykka.

A Pykka future's ``get()`` blocks its thread, and awaiting one on the loop would freeze
every stream (see the contract tests). So every ask from async code goes through
:class:`Bridge`, which waits for the reply on a dedicated, bounded thread pool and always
with a timeout. Tells never block and need no bridge.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from supervisors import Handle


class Bridge:
    """Asks actors from async code without blocking the event loop.

    Args:
        max_threads: how many asks may wait at once; a burst beyond it queues (each ask
            is a sub-millisecond mailbox round trip, so a few dozen threads serve
            thousands of requests a second).
    """

    def __init__(self, *, max_threads: int = 32) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="bridge")

    async def ask(self, handle: Handle, message: object, *, timeout: float) -> Any:  # noqa: ANN401 - replies are untyped, as in Pykka
        """Send ``message`` to the actor behind ``handle`` and await its reply.

        Raises:
            Whatever the actor raised while handling the ask, ``pykka.Timeout`` if no
            reply came within ``timeout``, or the handle's error if the actor is not running.
        """
        loop = asyncio.get_running_loop()
        call = functools.partial(handle.ask, message, timeout=timeout)
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Release the threads; asks already waiting finish first."""
        self._executor.shutdown(wait=True, cancel_futures=True)

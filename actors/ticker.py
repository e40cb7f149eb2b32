"""A periodic reminder an actor sends itself, like ``erlang:send_after/3`` in a loop.

The tick is a ``tell``, so the actor handles it in its own thread between other messages
and never needs a lock. The ticker stops by itself when the actor is gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pykka


class Ticker:
    """Tells ``ref`` a fresh ``message()`` every ``interval`` seconds until stopped.

    Args:
        ref: the actor to remind.
        interval: seconds between ticks (the first tick comes after ``first_delay``).
        message: builds the message for each tick.
        first_delay: seconds before the first tick; defaults to ``interval``.
    """

    def __init__(
        self,
        ref: pykka.ActorRef[Any],
        interval: float,
        message: Callable[[], object],
        *,
        first_delay: float | None = None,
    ) -> None:
        self._ref = ref
        self._interval = interval
        self._message = message
        self._first_delay = interval if first_delay is None else first_delay
        self._wake = threading.Condition()
        self._stopped = False
        self._next_delay: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"ticker-{ref}", daemon=True)

    def start(self) -> Ticker:
        """Start ticking; returns self for chaining."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop ticking. Safe to call from the ticking actor itself and more than once."""
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def set_interval(self, interval: float) -> None:
        """Change the period from the next tick on."""
        self._interval = interval

    def tick_in(self, delay: float) -> None:
        """Bring the next tick forward (or push it back) to ``delay`` seconds from now.

        For a state that will change at a known time, such as a key block that ends,
        so the actor looks again then rather than a whole period later.
        """
        with self._wake:
            self._next_delay = max(0.0, delay)
            self._wake.notify()

    def _run(self) -> None:
        delay = self._first_delay
        while True:
            with self._wake:
                due = time.monotonic() + delay
                while not self._stopped and self._next_delay is None:
                    remaining = due - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                if self._stopped:
                    return
                if self._next_delay is not None:
                    delay, self._next_delay = self._next_delay, None
                    continue
            try:
                self._ref.tell(self._message())
            except pykka.ActorDeadError:
                return
            delay = self._interval

"""Restart intensity: how many restarts a supervisor tolerates in a sliding window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RestartIntensity:
    """One restart window per supervisor; mirrors ``add_restart/1,3`` of ``supervisor.erl``.

    Each call to :meth:`add_restart` is one restart *event*: one crash counts once even
    when one_for_all restarts every child, and each try_again retry counts again. The
    supervisor calls it before applying its strategy.

    Deviation: OTP truncates the clock to whole seconds (``erlang:monotonic_time(1)``);
    this port keeps the clock's float seconds, so a window is exactly ``period`` long.

    Args:
        intensity: restarts allowed within ``period``; 0 means the first one is refused.
        period: the window length in seconds.
        clock: a monotonic clock in seconds, injectable for tests.
    """

    def __init__(
        self, intensity: int, period: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._intensity = intensity
        self._period = period
        self._clock = clock
        self._restarts: deque[float] = deque()

    @property
    def restarts(self) -> tuple[float, ...]:
        """Timestamps of the restarts still inside the window, oldest first."""
        return tuple(self._restarts)

    def add_restart(self) -> bool:
        """Record one restart event now.

        Returns:
            True if the supervisor may restart; False once more than ``intensity``
            restarts fall within ``period`` (the supervisor must then give up).
        """
        now = self._clock()
        # Mirrors `R >= Now - Period`: a restart exactly `period` ago still counts.
        while self._restarts and self._restarts[0] < now - self._period:
            self._restarts.popleft()
        self._restarts.append(now)
        return len(self._restarts) <= self._intensity

"""What a running gateway shares with its HTTP front across reloads and front restarts.

The front is built once per incarnation from the settings of the moment, but three things
change while it runs: the settings (a hot reload swaps them), the operator behind the
admin API (the gateway attaches it once the whole tree is up), and whether a shutdown's
grace period was cut short (a second stop signal). :class:`Runtime` holds them so request
handlers on the event loop read the current values without a mailbox round trip, and a
restarted front picks up the newest ones.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from aiohttp import web

from cortex.settings import Settings

if TYPE_CHECKING:
    from cortex.admin import Operator


class Runtime:
    """The current settings and admin operator; safe to read from any thread.

    Args:
        settings: the settings the gateway started with.
    """

    def __init__(self, settings: Settings) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._operator: Operator | None = None
        self._drain_cut = threading.Event()

    @property
    def settings(self) -> Settings:
        """The settings in force (replaced whole by a reload)."""
        with self._lock:
            return self._settings

    @property
    def operator(self) -> Operator | None:
        """The admin operator, or None until the gateway finished starting."""
        with self._lock:
            return self._operator

    def use_settings(self, settings: Settings) -> None:
        """Put reloaded settings in force (the gateway's reload only)."""
        with self._lock:
            self._settings = settings

    @property
    def drain_cut(self) -> bool:
        """Whether the shutdown's grace period was ended early (streams left are cut now)."""
        return self._drain_cut.is_set()

    def end_drain_now(self) -> None:
        """End the shutdown's grace period now; safe from a signal handler and any thread."""
        self._drain_cut.set()

    def attach(self, operator: Operator | None) -> None:
        """Attach (or detach, with None) the admin operator (the gateway only)."""
        with self._lock:
            self._operator = operator


RUNTIME = web.AppKey("runtime", Runtime)
"""Where the HTTP app keeps the gateway's :class:`Runtime`."""

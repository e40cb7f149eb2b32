"""What a running gateway shares with its HTTP front across reloads and front restarts.

The front is built once per incarnation from the settings of the moment, but three things
change while it runs: the settings (a hot reload swaps them), the operator behind the
admin API (the gateway attaches it once the whole tree is up), and whether a shutdown's
grace period was cut short (a second stop signal). :class:`Runtime` holds them so request
handlers on the event loop read the current values without a mailbox round trip, and a
restarted front picks up the newest ones. Whenever settings come into force, their
gateway keys, admin token and Redis URL are told to the gateway's
:class:`~actors.redaction.Redactor` first, so they are redacted from upstream texts too.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from aiohttp import web

from actors.redaction import Redactor
from cortex.config.settings import Settings
from cortex.config.store_url import store_url_secrets

if TYPE_CHECKING:
    from cortex.http.admin import Operator


class Runtime:
    """The current settings and admin operator; safe to read from any thread.

    Args:
        settings: the settings the gateway started with.
        redactor: the gateway's redactor; a fresh one if omitted.
    """

    def __init__(self, settings: Settings, redactor: Redactor | None = None) -> None:
        self._lock = threading.Lock()
        self.redactor = redactor if redactor is not None else Redactor()
        self.redactor.use(GATEWAY_SECRETS, _credentials(settings))
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
        self.redactor.use(GATEWAY_SECRETS, _credentials(settings))
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


GATEWAY_SECRETS = "gateway"
"""The redactor's name for the gateway keys and the admin token."""


def _credentials(settings: Settings) -> tuple[str, ...]:
    """The gateway's own secrets: its client keys, its admin token and its Redis URL."""
    return (*settings.api_keys, settings.admin_token, *store_url_secrets(settings.redis_url))


RUNTIME = web.AppKey("runtime", Runtime)
"""Where the HTTP app keeps the gateway's :class:`Runtime`."""

"""Run an aiohttp application on its own thread and event loop.

Blocking callers (tests, SDK clients, the ``--demo`` mode) need a real HTTP
server they can start and stop synchronously. :class:`BackgroundServer` owns
one thread, one event loop and one :class:`aiohttp.web.AppRunner`; handlers
that wait for something (a HANG fault, a slow stream) sleep in
:meth:`_wait_closing`, so that :meth:`stop` never waits on them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from aiohttp import web

__all__ = ["BackgroundServer"]

_SHUTDOWN_GRACE = 1.0  # seconds aiohttp waits for handlers before cancelling them
_ACCEPT_SETTLE = 0.01  # seconds for accepts under way at shutdown to finish


class BackgroundServer(ABC):
    """An aiohttp server on 127.0.0.1, served from a daemon thread.

    Args:
        name: names the thread and appears in error messages.
        port: TCP port, 0 for an ephemeral one.
    """

    def __init__(self, *, name: str, port: int = 0) -> None:
        self.name = name
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: Exception | None = None

    @abstractmethod
    def _build_app(self) -> web.Application:
        """The application to serve; called on the server's own thread."""

    async def _wait_closing(self, timeout: float | None = None) -> bool:
        """Sleep until :meth:`stop` is called or ``timeout`` passes; True if stopping.

        Handlers on the server loop use this instead of ``asyncio.sleep`` so that
        stop() never waits for a sleeping handler.
        """
        if self._closing is None or self._closing.is_set():
            return self._closing is not None
        if timeout is not None and timeout <= 0:
            await asyncio.sleep(0)
            return self._closing.is_set()
        try:
            await asyncio.wait_for(self._closing.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def start(self, timeout: float = 5.0) -> Self:
        """Start serving and block until the port is listening.

        Raises:
            RuntimeError: already started, or the server failed to start.
            TimeoutError: not listening within ``timeout`` seconds.
        """
        if self._thread is not None:
            raise RuntimeError(f"{self.name} server is already running")
        self._ready.clear()
        self._failure = None
        # Both exist before the thread does, so stop() can always reach the loop.
        self._loop = asyncio.new_event_loop()
        self._closing = asyncio.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._loop,), name=f"sim-{self.name}", daemon=True
        )
        self._thread.start()
        ready = self._ready.wait(timeout)
        if not ready or self._port is None:
            error, self._failure = self._failure, None
            self.stop()
            if not ready:
                raise TimeoutError(f"{self.name} server did not start in {timeout}s")
            raise RuntimeError(f"{self.name} server failed to start") from error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; hanging and streaming handlers are cut off. Safe to repeat.

        Raises:
            TimeoutError: the server thread did not finish within ``timeout`` seconds.
            RuntimeError: the server loop had crashed.
        """
        thread, loop, closing = self._thread, self._loop, self._closing
        if thread is None or loop is None or closing is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(closing.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"{self.name} server did not stop in {timeout}s")
        self._thread = self._loop = self._closing = None
        self._port = None
        if self._failure is not None:
            error, self._failure = self._failure, None
            raise RuntimeError(f"{self.name} server crashed") from error

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port.

        Raises:
            RuntimeError: the server is not running.
        """
        if self._port is None:
            raise RuntimeError(f"{self.name} server is not running")
        return self._port

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL to hand to the provider's official SDK."""
        return self.url

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.run_until_complete(self._serve())
        except Exception as exc:  # noqa: BLE001 - handed over to start()/stop() on the caller
            self._failure = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        listener = socket.create_server(("127.0.0.1", self._requested_port))
        runner = web.AppRunner(
            self._build_app(),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_GRACE,
        )
        await runner.setup()
        try:
            await web.SockSite(runner, listener).start()
            self._port = listener.getsockname()[1]
            self._ready.set()
            await self._wait_closing()
        finally:
            # Stop accepting, then let the accepts already under way finish before the
            # listener closes: on Python 3.11 an accept that completes after its server
            # closed fails inside asyncio and leaks the connection's socket (an "unclosed
            # transport" warning, which fails whichever test collects it).
            asyncio.get_running_loop().remove_reader(listener.fileno())
            await asyncio.sleep(_ACCEPT_SETTLE)
            await runner.cleanup()
            listener.close()

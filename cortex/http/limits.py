"""Request limits that protect the gateway from one greedy or broken client.

* body size: ``CORTEX_MAX_BODY_BYTES`` (aiohttp's ``client_max_size``; 413);
* messages per chat request: ``CORTEX_MAX_MESSAGES`` (400 ``too_many_messages``), checked
  while the chat body is parsed (:func:`cortex.http.schemas.parse_chat`);
* request line and header field size: ``CORTEX_MAX_HEADER_BYTES``: a header field over it
  is 431, the request line 414, both in the JSON error shape; the HTTP parser refuses them
  and closes the connection before any handler runs (:mod:`cortex.http.protocol`), and
  :func:`check_request_line` holds the request line to the exact limit;
* requests in flight per client address: ``CORTEX_MAX_CONNECTIONS_PER_CLIENT`` (429 with
  ``Retry-After``). A stream counts until its last byte is written.

Limits are read from the current settings on every request, so a reload changes them;
the request's door (:mod:`cortex.http.door`) applies them.
"""

from __future__ import annotations

from aiohttp import web

from cortex.errors import RequestLineTooLong, TooManyConnections
from cortex.http.protocol import request_line_bytes


class InFlight:
    """Requests in flight per client address, on the event loop only (no lock needed).

    Addresses with nothing in flight are dropped, so memory is bounded by the number of
    concurrent clients.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def enter(self, address: str, limit: int) -> bool:
        """Count one more request for ``address``; False (and no count) past ``limit``."""
        current = self._counts.get(address, 0)
        if current >= limit:
            return False
        self._counts[address] = current + 1
        return True

    def leave(self, address: str) -> None:
        """Count one request of ``address`` as finished."""
        remaining = self._counts.get(address, 0) - 1
        if remaining > 0:
            self._counts[address] = remaining
        else:
            self._counts.pop(address, None)

    def count(self, address: str) -> int:
        """Requests in flight for ``address``."""
        return self._counts.get(address, 0)


def admit(clients: InFlight, address: str, limit: int) -> None:
    """Count one more request in flight for ``address``.

    Raises:
        TooManyConnections: the address already has ``limit`` requests in flight (no count).
    """
    if not clients.enter(address, limit):
        raise TooManyConnections(limit)


def check_request_line(request: web.BaseRequest, limit: int) -> None:
    """Hold the request line to ``limit`` bytes.

    The parser lets a request line one byte over the limit through (that is how its
    errors tell the request line from a header field, :mod:`cortex.http.protocol`), and the C
    parser only measures the target, so the exact limit is kept here.

    Raises:
        RequestLineTooLong: the request line is longer than ``limit`` bytes.
    """
    if request_line_bytes(request) > limit:
        raise RequestLineTooLong(limit)

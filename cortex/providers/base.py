"""The adapter interface: pure translation between Cortex's chat model and a wire format.

An adapter does no I/O and holds no state between requests. It builds the upstream HTTP
call, decodes the bytes that come back into normalised events, and classifies failures
(see :mod:`actors.outcomes`). The data plane does the I/O with one shared aiohttp
session; provider actors use the same adapter for their health probes
(:class:`~actors.wire.ProbeWire`). Keeping adapters pure lets every wire format be tested
byte for byte without a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from actors.wire import HttpCall, ProbeWire
from cortex.chat import ChatRequest, StreamEvent
from cortex.providers.capabilities import Fit


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: a worker's base URL, the upstream model and the key to use."""

    base_url: str
    model: str
    api_key: str | None = None


class StreamDecoder(Protocol):
    """Turns the bytes of one streamed response into events, whatever the chunking."""

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Consume the next bytes read from the socket; return the events they complete."""
        ...

    def close(self) -> list[StreamEvent]:
        """Signal end of input; return any event still buffered."""
        ...


class Adapter(ProbeWire, Protocol):
    """One wire format. Implementations are stateless; all methods are pure."""

    def fit(self, request: ChatRequest) -> Fit:
        """What of ``request`` this wire cannot honour (unmet) or leaves out (dropped)."""
        ...

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build the upstream request for one chat attempt.

        Raises:
            ValueError: the request holds something the wire cannot carry even though
                :meth:`fit` let it through (tool-call arguments that are not JSON, an
                image media type the provider refuses); the client's error, a 400.
        """
        ...

    def decoder(self) -> StreamDecoder:
        """Return a fresh decoder for one streamed response."""
        ...

    def parse_completion(self, body: bytes) -> list[StreamEvent]:
        """Parse a successful non-streamed response body into the events of its answer.

        The events are those a stream of the same answer carries (text, finish reason,
        usage), so one fold (:func:`cortex.chat.fold`) reads both.

        Raises:
            ValueError: the body is not a valid response of this format.
        """
        ...

"""The adapter interface: pure translation between Cortex's chat model and a wire format.

An adapter does no I/O and holds no state between requests. It builds the upstream HTTP
call, decodes the bytes that come back into normalised events, and classifies failures
(see :mod:`actors.providers.errors`). The data plane does the I/O with one shared aiohttp
session; provider actors use the same adapter for their health probes. Keeping adapters
pure lets every wire format be tested byte for byte without a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from actors.providers.errors import UpstreamFailure

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message, already validated: a known role and text content."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the client asked for, independent of any provider's format.

    ``model`` is the client's routing input (``None``, ``"auto"``, a model name or
    ``"<worker>/<model>"``); the upstream model actually asked for is on the
    :class:`Target`.
    """

    messages: tuple[Message, ...]
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: a worker's base URL, the upstream model and the key to use."""

    base_url: str
    model: str
    api_key: str | None = None


@dataclass(frozen=True, slots=True)
class HttpCall:
    """An HTTP request an adapter wants made, described as data."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The upstream said why it stopped, in OpenAI's ``finish_reason`` vocabulary."""

    reason: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for the whole exchange, as the upstream reported them."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt and completion tokens together."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The upstream reported an error inside an otherwise successful stream."""

    failure: UpstreamFailure


@dataclass(frozen=True, slots=True)
class Malformed:
    """One chunk of the stream could not be read; it was skipped and the stream goes on."""

    detail: str


@dataclass(frozen=True, slots=True)
class Continued:
    """Another worker carries on a streamed answer after the one before it broke off.

    Never produced by an adapter: the data plane emits it when it continues an answer on
    another worker, so everything that renders or records the answer can name each worker
    that wrote part of it. The text after it comes from ``worker``'s ``model``.
    """

    worker: str
    model: str


StreamEvent = TextDelta | Finished | Usage | StreamFailed | Malformed | Continued


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole non-streamed answer."""

    text: str
    finish_reason: str
    usage: Usage | None = None


class StreamDecoder(Protocol):
    """Turns the bytes of one streamed response into events, whatever the chunking."""

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Consume the next bytes read from the socket; return the events they complete."""
        ...

    def close(self) -> list[StreamEvent]:
        """Signal end of input; return any event still buffered."""
        ...


class Adapter(Protocol):
    """One wire format. Implementations are stateless; all methods are pure."""

    def chat_call(self, target: Target, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Build the upstream request for one chat attempt."""
        ...

    def decoder(self) -> StreamDecoder:
        """Return a fresh decoder for one streamed response."""
        ...

    def parse_completion(self, body: bytes) -> Completion:
        """Parse a successful non-streamed response body.

        Raises:
            ValueError: the body is not a valid response of this format.
        """
        ...

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamFailure:
        """Classify an unsuccessful HTTP response (status >= 400)."""
        ...

    def models_call(self, base_url: str, api_key: str | None) -> HttpCall:
        """Build the cheapest request that proves the upstream is up: list its models."""
        ...

    def parse_models(self, body: bytes) -> tuple[str, ...]:
        """Read model names from a successful ``models_call`` response.

        Raises:
            ValueError: the body is not a valid model listing of this format.
        """
        ...

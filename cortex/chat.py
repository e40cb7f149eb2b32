"""The chat vocabulary: what a client asks for and what an answer is made of.

Every plane speaks these types: the HTTP plane parses requests into them and renders
answers from them, the wire adapters translate them to and from each provider's format,
the data plane relays them and the cache keeps them. They hold no behaviour beyond what
their own data says, and they know nothing of any provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.outcomes import UpstreamFailure

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


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A whole answer that finished successfully, as the upstream streamed it.

    Attributes:
        worker: the worker that produced it (reported as ``X-Cortex-Worker`` on replay).
        model: the upstream model that produced it.
        pieces: the text deltas in order, so a replay keeps the original chunking.
        finish_reason: the upstream's finish reason, in OpenAI's vocabulary.
        usage: the token counts the upstream reported, if any.
    """

    worker: str
    model: str
    pieces: tuple[str, ...]
    finish_reason: str
    usage: Usage | None = None

    @property
    def text(self) -> str:
        """The whole answer text."""
        return "".join(self.pieces)

"""Deterministic reply text and token counts for the simulated providers.

Every provider module turns its own request body into a :class:`ChatCall`,
asks :func:`complete` for the reply, and renders the resulting
:class:`Completion` in its wire format. Keeping the content here means all
fakes answer the same prompt with the same words and the same usage numbers,
so tests can compare providers directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ChatCall",
    "Completion",
    "complete",
    "count_words",
    "default_reply",
    "read_messages",
    "text_of",
]

_PIECE = re.compile(r"\s*\S+")
_ECHO_WORDS = 6


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A provider-neutral view of one generation request.

    Attributes:
        model: the model the client asked for.
        prompt: the text of the last user message (echoed in the default reply).
        prompt_tokens: the simulated input token count (words in every input text).
        stream: the client asked for a streamed answer.
        max_tokens: the client's output cap, if any; the reply is cut to it.
        include_usage: OpenAI ``stream_options.include_usage`` was set.
    """

    model: str
    prompt: str
    prompt_tokens: int
    stream: bool
    max_tokens: int | None = None
    include_usage: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    """The reply to one :class:`ChatCall`: one piece per simulated token.

    Attributes:
        pieces: the streamed pieces, each a word with its leading whitespace.
        prompt_tokens: copied from the call, for rendering usage.
        truncated: the reply was cut at ``max_tokens`` (finish reason "length").
    """

    pieces: tuple[str, ...]
    prompt_tokens: int
    truncated: bool

    @property
    def text(self) -> str:
        """The full reply text."""
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        """Simulated output tokens: one per piece."""
        return len(self.pieces)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.prompt_tokens + self.completion_tokens


def count_words(texts: Iterable[str]) -> int:
    """Count whitespace-separated words across ``texts``: the simulated token count."""
    return sum(len(text.split()) for text in texts)


def default_reply(name: str, prompt: str) -> str:
    """The reply a server gives when none was configured: greets and echoes the prompt."""
    echo = " ".join(prompt.split()[:_ECHO_WORDS])
    return f"Hello from {name}! You said: {echo}" if echo else f"Hello from {name}!"


def complete(call: ChatCall, reply: str) -> Completion:
    """Split ``reply`` into word pieces and cut it at the call's ``max_tokens``."""
    pieces = tuple(_PIECE.findall(reply))
    truncated = call.max_tokens is not None and len(pieces) > call.max_tokens
    if truncated:
        pieces = pieces[: call.max_tokens]
    return Completion(pieces=pieces, prompt_tokens=call.prompt_tokens, truncated=truncated)


def text_of(content: object) -> str:
    """Extract plain text from a message ``content`` in any provider's shape.

    Accepts a string, or a list of parts/blocks carrying ``text`` (OpenAI parts,
    Anthropic blocks, Gemini parts, Cohere content items). Anything else is "".
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (part.get("text") for part in content if isinstance(part, dict))
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def read_messages(
    messages: object, *, content_field: str = "content", user_role: str = "user"
) -> tuple[str, int]:
    """Read a provider's message list: the last user text and the word count of all.

    Args:
        messages: the request's list of ``{"role", content_field}`` objects; other
            shapes count as empty.
        content_field: where the text lives (``"parts"`` for Gemini).
        user_role: the role whose last message is the prompt.

    Returns:
        ``(prompt, prompt_tokens)``.
    """
    dicts = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    texts = [text_of(m.get(content_field)) for m in dicts]
    users = [text for m, text in zip(dicts, texts, strict=True) if m.get("role") == user_role]
    return (users[-1] if users else ""), count_words(texts)

"""The conditions a content rule may put on a request: small pure functions of what it holds.

Each reads the validated request (and, for two of them, the gateway key and headers the
request came with) and answers one question; a rule matches when every condition in its
``when`` holds (:mod:`cortex.dataplane.content_routing`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

from cortex.chat import ChatRequest

CHARS_PER_TOKEN = 4
"""The usual estimate for English text with GPT-style tokenizers; good enough to route by."""
_FENCE = re.compile(r"```|~~~")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |#include|function |fn |func |public |"
    r"private |package |SELECT |INSERT |UPDATE |CREATE |const |let |var |return\b)"
    r"|[;{}]\s*$|^\s*[}\])];?\s*$|=>|->|::|\b\w+\([^)]*\)\s*[{:]\s*$",
    re.MULTILINE,
)
CODE_LINES = 2
"""Code-like lines (outside fences) that make a prompt count as holding code."""


def prompt_tokens(request: ChatRequest) -> int:
    """The estimated tokens of every message's text (about four characters a token)."""
    return sum(len(message.content) for message in request.messages) // CHARS_PER_TOKEN


def last_user_text(request: ChatRequest) -> str:
    """The text of the last user message ("" when there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


def user_text(request: ChatRequest) -> str:
    """The text of every user message, in order, one per line."""
    return "\n".join(m.content for m in request.messages if m.role == "user")


def has_code(request: ChatRequest) -> bool:
    """Whether a user message holds code: a fenced block, or a few code-like lines."""
    text = user_text(request)
    return bool(_FENCE.search(text)) or len(_CODE_LINE.findall(text)) >= CODE_LINES


def has_images(request: ChatRequest) -> bool:
    """Whether any message holds an image."""
    return request.has_images


def has_tools(request: ChatRequest) -> bool:
    """Whether the model is offered tools it may call."""
    return request.calls_tools


def wants_structured_output(request: ChatRequest) -> bool:
    """Whether the answer must be JSON."""
    return request.response_format is not None


@functools.cache
def _identifier() -> Callable[[str], tuple[str, float]]:
    """py3langid's classifier, loaded once on first use (its model takes a second to load)."""
    import py3langid  # noqa: PLC0415 - loaded only by configurations that route on language

    classify: Callable[[str], tuple[str, float]] = py3langid.classify
    return classify


def language(request: ChatRequest) -> str | None:
    """The ISO 639-1 code of the last user message's language; None for no text."""
    text = last_user_text(request).strip()
    return _identifier()(text)[0] if text else None


def mentions(request: ChatRequest, keywords: tuple[str, ...]) -> bool:
    """Whether the last user message holds any keyword as a whole word, ignoring case."""
    text = last_user_text(request).lower()
    return any(re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", text) for word in keywords)


def matches(request: ChatRequest, pattern: re.Pattern[str]) -> bool:
    """Whether the pattern is found in the last user message."""
    return pattern.search(last_user_text(request)) is not None


def from_key(key_id: str | None, key_ids: tuple[str, ...]) -> bool:
    """Whether the request came with one of the gateway keys (by their ids)."""
    return key_id is not None and key_id in key_ids


def has_headers(headers: Mapping[str, str], wanted: tuple[tuple[str, str], ...]) -> bool:
    """Whether every wanted header is present with that value (case-insensitive names)."""
    return all(headers.get(name) == value for name, value in wanted)


__all__ = [
    "CHARS_PER_TOKEN",
    "CODE_LINES",
    "from_key",
    "has_code",
    "has_headers",
    "has_images",
    "has_tools",
    "language",
    "last_user_text",
    "matches",
    "mentions",
    "prompt_tokens",
    "user_text",
    "wants_structured_output",
]

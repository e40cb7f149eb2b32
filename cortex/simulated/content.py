"""Deterministic reply text and token counts for the simulated providers.

Every provider module turns its own request body into a :class:`ChatCall`,
asks :func:`complete` for the reply, and renders the resulting
:class:`Completion` in its wire format. Keeping the content here means all
fakes answer the same prompt with the same words and the same usage numbers,
so tests can compare providers directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ChatCall",
    "Completion",
    "SimulatedToolCall",
    "ToolOffer",
    "complete",
    "count_words",
    "default_reply",
    "read_messages",
    "sample_of",
    "text_of",
]

_PIECE = re.compile(r"\s*\S+")
_ECHO_WORDS = 6


@dataclass(frozen=True, slots=True)
class ToolOffer:
    """The tools a request offers the simulated model, read from any provider's format.

    Attributes:
        tools: ``(name, JSON Schema of the arguments or None)`` for each tool, in order.
        mode: ``auto``, ``none`` or ``required``.
        forced: the one tool the model must call, if the request names one.
        results: the texts of the tool results that answer the model's last calls (the
            messages after the last user message); the model then answers in text.
    """

    tools: tuple[tuple[str, Mapping[str, Any] | None], ...] = ()
    mode: str = "auto"
    forced: str | None = None
    results: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SimulatedToolCall:
    """A call the simulated model makes: arguments sampled from the tool's schema."""

    id: str
    name: str
    arguments: dict[str, Any]


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
        offer: the tools offered and the results of earlier calls.
        json_schema: the schema the answer must follow (structured output), if any.
        json_mode: the answer must be a JSON object (any).
        images: how many images the request carries (the reply says it saw them).
        choices: how many alternative answers the client asked for (each the same).
    """

    model: str
    prompt: str
    prompt_tokens: int
    stream: bool
    max_tokens: int | None = None
    include_usage: bool = False
    offer: ToolOffer = field(default_factory=ToolOffer)
    json_schema: Mapping[str, Any] | None = None
    json_mode: bool = False
    images: int = 0
    choices: int = 1


@dataclass(frozen=True, slots=True)
class Completion:
    """The reply to one :class:`ChatCall`: one piece per simulated token.

    Attributes:
        pieces: the streamed pieces, each a word with its leading whitespace.
        prompt_tokens: copied from the call, for rendering usage.
        truncated: the reply was cut at ``max_tokens`` (finish reason "length").
        tool_calls: the calls the model made instead of a text reply.
    """

    pieces: tuple[str, ...]
    prompt_tokens: int
    truncated: bool
    tool_calls: tuple[SimulatedToolCall, ...] = ()

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


def complete(call: ChatCall, reply: str, *, call_id: str = "call_") -> Completion:
    """The simulated model's answer to ``call``, ``reply`` being its text by default.

    Offered tools (not turned off) and no results yet: it calls the forced tool, or the
    first, with arguments sampled from its schema (strings take the prompt's last word),
    and writes no text. With tool results: it answers ``Tool said: <results>``. Asked for
    JSON: the text is an instance of the schema, or ``{"reply": <reply>}``. With images,
    the reply says how many it saw. Text is split into word pieces and cut at the call's
    ``max_tokens``. ``call_id`` prefixes the ids of the calls (providers differ).
    """
    offer = call.offer
    if offer.tools and offer.mode != "none" and not offer.results:
        chosen = next((t for t in offer.tools if t[0] == offer.forced), offer.tools[0])
        name, schema = chosen
        sampled = sample_of(schema or {"type": "object"}, _hint(call.prompt))
        arguments = sampled if isinstance(sampled, dict) else {}
        made = SimulatedToolCall(f"{call_id}{name}_1", name, arguments)
        return Completion(
            pieces=(), prompt_tokens=call.prompt_tokens, truncated=False, tool_calls=(made,)
        )
    if offer.results:
        reply = "Tool said: " + " | ".join(offer.results)
    if call.images:
        reply += f" (saw {call.images} image{'s' if call.images > 1 else ''})"
    if call.json_schema is not None:
        reply = json.dumps(sample_of(call.json_schema, _hint(call.prompt)))
    elif call.json_mode:
        reply = json.dumps({"reply": reply})
    pieces = tuple(_PIECE.findall(reply))
    truncated = call.max_tokens is not None and len(pieces) > call.max_tokens
    if truncated:
        pieces = pieces[: call.max_tokens]
    return Completion(pieces=pieces, prompt_tokens=call.prompt_tokens, truncated=truncated)


def _hint(prompt: str) -> str:
    """The prompt's last word without punctuation: the value of sampled string arguments."""
    words = re.findall(r"[\w-]+", prompt)
    return words[-1] if words else "value"


def sample_of(schema: Mapping[str, Any], hint: str) -> object:
    """A value that satisfies ``schema`` (JSON Schema, or Gemini's upper-case types).

    Objects get every property; strings the ``hint`` (or the first ``enum`` value);
    numbers 1 and 1.5; unions their first non-null member. Deterministic, so tests can
    assert the exact arguments that crossed the gateway.
    """
    fixed = schema.get("enum") or [schema.get("const")]
    if isinstance(fixed, list) and fixed[0] is not None:
        return fixed[0]
    for union in ("anyOf", "oneOf"):
        members = [m for m in schema.get(union) or [] if isinstance(m, dict)]
        concrete = [m for m in members if str(m.get("type", "")).lower() != "null"]
        if concrete:
            return sample_of(concrete[0], hint)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind).lower()
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {
            name: sample_of(sub if isinstance(sub, dict) else {}, hint)
            for name, sub in properties.items()
        }
    if kind == "array":
        items = schema.get("items")
        return [sample_of(items if isinstance(items, dict) else {}, hint)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, hint)


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

"""What a client asks for: messages with their parts, tools, formats, and the request itself.

OpenAI's Chat Completions shapes are the model; every adapter translates from them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.planning import AUTO_MODEL

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


JsonObject = Mapping[str, Any]
"""A JSON object the gateway carries without reading (a schema, a tool's parameters)."""


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of a message's text, in a message that also holds images."""

    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message: a ``data:`` URL or an http(s) URL.

    Attributes:
        url: where the image is, or the image itself as a ``data:`` URL.
        detail: OpenAI's resolution hint (``auto``, ``low``, ``high``), if given.
    """

    url: str
    detail: str | None = None

    def inline(self) -> tuple[str, str] | None:
        """``(media type, base64 data)`` of a base64 ``data:`` URL; None for a URL by reference."""
        if not self.url.startswith("data:"):
            return None
        header, comma, data = self.url[5:].partition(",")
        media, _, encoding = header.rpartition(";")
        if not comma or encoding != "base64":
            return None
        return media or "application/octet-stream", data


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model made to one of the request's tools.

    Attributes:
        id: the call's id, which the tool's result names (``tool_call_id``).
        name: the function called.
        arguments: the arguments as the JSON text the model wrote (OpenAI's shape: a
            string, which may not be valid JSON).
    """

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a JSON object, for providers that take an object.

        Raises:
            ValueError: the arguments are not a JSON object (an empty text is ``{}``).
        """
        if not self.arguments.strip():
            return {}
        try:
            value = json.loads(self.arguments)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"arguments of tool call {self.id!r} are not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"arguments of tool call {self.id!r} are not a JSON object")  # noqa: TRY004
        return value


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message, already validated.

    Attributes:
        role: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``.
        content: the message's text (its text parts joined); ``""`` for an assistant
            message that only calls tools.
        parts: the content in order when it holds images; empty for text alone.
        tool_calls: the calls an assistant message made.
        tool_call_id: the call a ``tool`` message answers.
        name: the participant's or (for a ``tool`` message) the function's name, if given.
    """

    role: str
    content: str
    parts: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The images the message holds, in order."""
        return tuple(part for part in self.parts if isinstance(part, ImagePart))


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call.

    Attributes:
        name: the function's name.
        description: what it does, for the model.
        parameters: its arguments' JSON Schema; None when it takes none.
        strict: OpenAI's strict schema adherence, if asked.
    """

    name: str
    description: str | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Whether the model must, may or must not call a tool.

    Attributes:
        mode: ``auto`` (may), ``none`` (must not) or ``required`` (must call one).
        name: with ``required``, the one function it must call.
    """

    mode: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """The shape the answer's text must have: JSON, optionally held to a schema.

    Attributes:
        type: ``json_object`` (any JSON object) or ``json_schema``.
        schema: the JSON Schema of a ``json_schema`` format.
        name: the schema's name.
        description: what the schema describes.
        strict: OpenAI's strict schema adherence, if asked.
    """

    type: str
    schema: JsonObject | None = None
    name: str | None = None
    description: str | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class NativeBody:
    """The client's own request body, for workers that speak the client's wire.

    A request that came in Anthropic's format reaches Anthropic workers as the client
    wrote it (only ``model`` and ``stream`` set by Cortex), so nothing is translated twice;
    every other wire translates the parsed :class:`ChatRequest`.

    Attributes:
        wire: the wire format the body is written in (``anthropic``).
        body: the body as the client sent it.
        untranslated: what only that wire can carry (a ``document`` block, say): unmet
            for every other wire, so the request never reaches one without it.
    """

    wire: str
    body: JsonObject
    untranslated: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the client asked for, independent of any provider's format.

    Attributes:
        messages: the conversation, oldest first.
        model: the client's routing input: ``None`` or ``"auto"``, a model name or a
            configured route; with a ``pin``, the upstream model to ask the pinned worker
            for (``None``: its default model).
        pin: the worker the client pinned the request to, if any.
        temperature: sampling temperature.
        top_p: nucleus sampling mass.
        max_tokens: longest answer, in tokens.
        stop: stop sequences.
        tools: the functions the model may call.
        tool_choice: whether and which tool the model must call (None: the provider's
            default, ``auto`` when there are tools).
        parallel_tool_calls: whether several calls may come in one answer (None: default).
        response_format: the answer must be JSON (None: free text).
        n: how many alternative answers (choices) the client wants.
        reasoning_effort: how hard a reasoning model should think (``low`` … ``high``).
        options: the other OpenAI fields the client set (``seed``, penalties,
            ``logit_bias``, ``logprobs``, ``user``, ``metadata``, ...), validated,
            forwarded where the provider has an equivalent.
        extra: top-level fields Cortex does not know, passed through to OpenAI-type
            workers unchanged.
        ignored: fields of the request no worker receives (unknown message fields), so
            every answer names them among the dropped ones.
        native: the client's body in its own wire format, sent unchanged to workers of
            that wire (see :class:`NativeBody`); None for an OpenAI-format request.
    """

    messages: tuple[Message, ...]
    model: str | None = None
    pin: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    n: int = 1
    reasoning_effort: str | None = None
    options: JsonObject = field(default_factory=dict)
    extra: JsonObject = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    native: NativeBody | None = None

    @property
    def has_images(self) -> bool:
        """Whether any message holds an image."""
        return any(message.parts for message in self.messages)

    def native_for(self, wire: str) -> NativeBody | None:
        """The client's own body when it is written in ``wire``'s format, else None."""
        native = self.native
        return native if native is not None and native.wire == wire else None

    @property
    def calls_tools(self) -> bool:
        """Whether the model is offered tools it may call (not turned off by ``none``)."""
        return bool(self.tools) and (self.tool_choice is None or self.tool_choice.mode != "none")


def split_pin(model: str | None, is_worker: Callable[[str], bool]) -> tuple[str | None, str | None]:
    """Read a client's ``"<worker>/<model>"`` as a pin: ``(worker, model)``, else ``(None, model)``.

    ``"x/y"`` is a pin only when ``x`` names a worker: model names may hold slashes
    (``meta-llama/Llama-3``). An empty model or ``auto`` after the slash means the
    worker's default model (``None``).
    """
    if model is None:
        return None, None
    worker, slash, rest = model.partition("/")
    if not slash or not is_worker(worker):
        return None, model
    return worker, rest if rest and rest != AUTO_MODEL else None

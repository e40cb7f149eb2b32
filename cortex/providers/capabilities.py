"""What a wire format can carry of a request, so no request field is ever silently lost.

Each adapter declares its :class:`Carries`: which parts of the chat surface it translates
and which tuning options it forwards. :func:`fit` compares a request with it and sorts
what does not fit in two:

- **unmet**: fields that change what the answer means (tools, a required or named tool
  choice, structured output, images, ``n`` > 1). A worker that cannot honour one leaves
  the plan; when no worker can, the client gets a 400 naming the field.
- **dropped**: fields that only tune the answer (sampling options, ``user``, unknown
  fields on non-OpenAI wires). They are left out and named in the
  ``X-Cortex-Dropped-Params`` response header and the access log; with
  ``CORTEX_STRICT_PARAMS=1`` they count as unmet instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from cortex.chat import ChatRequest

DROPPED_HEADER = "X-Cortex-Dropped-Params"

TUNING_OPTIONS = frozenset(
    {
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "metadata",
        "service_tier",
        "store",
        "prediction",
        "modalities",
        "audio",
        "verbosity",
        "web_search_options",
        "top_k",
    }
)
"""OpenAI request fields (and ``top_k``) that Cortex validates and forwards where it can."""


MAX_DROPPED_HEADER = 1024


def dropped_headers(dropped: tuple[str, ...]) -> dict[str, str]:
    """The response header naming the dropped fields; none when nothing was dropped.

    Field names come from the client and may hold anything: each is percent-encoded
    outside printable ASCII (and commas), and a header too long to be useful ends in a
    count of the names left out.
    """
    if not dropped:
        return {}
    names = [quote(name, safe="[]._-:/") for name in dropped]
    value = ", ".join(names)
    if len(value) > MAX_DROPPED_HEADER:
        kept: list[str] = []
        for name in names:
            if len(", ".join([*kept, name])) > MAX_DROPPED_HEADER - 20:
                break
            kept.append(name)
        value = ", ".join([*kept, f"... {len(names) - len(kept)} more"])
    return {DROPPED_HEADER: value}


def read_dropped(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The dropped fields a response header names."""
    value = headers.get(DROPPED_HEADER, "")
    return tuple(unquote(name.strip()) for name in value.split(",") if name.strip())


@dataclass(frozen=True, slots=True)
class Carries:
    """What one wire format translates of the chat surface.

    Attributes:
        tools: function tools and tool calls, both ways.
        required_choice: ``tool_choice: "required"``.
        named_choice: ``tool_choice`` naming one function.
        parallel_switch: ``parallel_tool_calls: false``.
        response_format: JSON mode and JSON Schema output.
        images: image parts given inline (``data:`` URLs).
        image_urls: image parts given by http(s) URL, which the provider fetches.
        choices: ``n`` > 1 alternative answers.
        reasoning_effort: a reasoning-effort control.
        options: the :data:`TUNING_OPTIONS` it forwards.
        extra: unknown top-level fields pass through unchanged.
    """

    tools: bool = True
    required_choice: bool = True
    named_choice: bool = True
    parallel_switch: bool = False
    response_format: bool = True
    images: bool = True
    image_urls: bool = True
    choices: bool = False
    reasoning_effort: bool = True
    options: frozenset[str] = frozenset()
    extra: bool = False


@dataclass(frozen=True, slots=True)
class Fit:
    """How a request fits a wire format: what it cannot honour and what it leaves out."""

    unmet: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    def strict(self) -> Fit:
        """The same fit when every dropped field must be honoured (``CORTEX_STRICT_PARAMS``)."""
        return Fit((*self.unmet, *self.dropped), ())


def fit(carries: Carries, request: ChatRequest, *, dropped: tuple[str, ...] = ()) -> Fit:
    """Sort what ``request`` asks that ``carries`` cannot honour.

    ``dropped`` names what the wire leaves out for reasons of its own (a temperature
    beyond its range, say); it leads the dropped list.
    """
    unmet: list[str] = []
    choice = request.tool_choice
    if request.calls_tools and not carries.tools:
        unmet.append("tools")
    if choice is not None and choice.mode == "required" and request.tools:
        named = choice.name is not None
        if not (carries.named_choice if named else carries.required_choice):
            unmet.append("tool_choice")
    if request.response_format is not None and not carries.response_format:
        unmet.append("response_format")
    images = [image for message in request.messages for image in message.images]
    if images and not carries.images:
        unmet.append("image_url")
    elif any(image.inline() is None for image in images) and not carries.image_urls:
        unmet.append("image_url (by URL)")
    if request.n > 1 and not carries.choices:
        unmet.append("n")
    if request.native is not None:
        unmet.extend(request.native.untranslated)
    left: list[str] = [*request.ignored, *dropped]
    if request.parallel_tool_calls is False and request.calls_tools and not carries.parallel_switch:
        left.append("parallel_tool_calls")
    if request.reasoning_effort is not None and not carries.reasoning_effort:
        left.append("reasoning_effort")
    left.extend(sorted(name for name in request.options if name not in carries.options))
    if not carries.extra:
        left.extend(sorted(request.extra))
    return Fit(tuple(unmet), tuple(dict.fromkeys(left)))


__all__ = [
    "DROPPED_HEADER",
    "TUNING_OPTIONS",
    "Carries",
    "Fit",
    "dropped_headers",
    "fit",
    "read_dropped",
]

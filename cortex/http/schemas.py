"""Validation of client request bodies into :class:`~cortex.chat.ChatRequest`.

Both chat endpoints accept OpenAI's message shape. Every rule that fails is reported as a
400 naming the offending field, so a client developer can fix the request from the error
alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from actors.board import Board
from actors.planning import AUTO_MODEL, RoutingStrategy
from cortex.chat import ChatRequest, split_pin
from cortex.errors import BadRequest, NotFound
from cortex.http.message_schema import read_messages
from cortex.http.option_schema import (
    read_extra,
    read_options,
    read_reasoning_effort,
    read_response_format,
    read_tool_choice,
    read_tools,
    refuse_unsupported,
)

MAX_STOP_SEQUENCES = 4
MAX_CHOICES = 8
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A validated chat call: the request plus how the client wants it delivered."""

    request: ChatRequest
    stream: bool
    include_usage: bool
    strategy: RoutingStrategy | None
    timeout: float | None = None


STRATEGY_HEADER = "X-Cortex-Strategy"
TIMEOUT_HEADER = "X-Cortex-Timeout"
MAX_TIMEOUT = 600.0


class Delivery(Protocol):
    """What the per-request headers set on a validated call (chat or embeddings)."""

    @property
    def strategy(self) -> RoutingStrategy | None:
        """The routing strategy the call asks for."""
        ...

    @property
    def timeout(self) -> float | None:
        """The call's deadline in seconds."""
        ...


_C = TypeVar("_C", bound=Delivery)


def with_headers(call: _C, headers: Mapping[str, str]) -> _C:
    """Apply the per-request headers: ``X-Cortex-Strategy`` and ``X-Cortex-Timeout`` (seconds).

    Raises:
        BadRequest: a header holds an unknown strategy or a timeout that is not a number
            of seconds between 0 and 600.
    """
    strategy = call.strategy
    raw_strategy = headers.get(STRATEGY_HEADER)
    if raw_strategy is not None:
        try:
            strategy = RoutingStrategy(raw_strategy.strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in RoutingStrategy)
            raise BadRequest(
                f"header {STRATEGY_HEADER} must be one of {allowed}", code="invalid_header"
            ) from None
    timeout = call.timeout
    raw_timeout = headers.get(TIMEOUT_HEADER)
    if raw_timeout is not None:
        try:
            timeout = float(raw_timeout)
        except ValueError:
            timeout = math.nan
        if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
            raise BadRequest(
                f"header {TIMEOUT_HEADER} must be seconds between 0 and {MAX_TIMEOUT:g}",
                code="invalid_header",
            )
    # Both call types are frozen dataclasses; a Protocol cannot say so to mypy.
    return dataclasses.replace(call, strategy=strategy, timeout=timeout)  # type: ignore[type-var]


class Addressed(Protocol):
    """A request's ``model`` and ``pin`` fields (chat or embeddings)."""

    @property
    def model(self) -> str | None:
        """The model, a route, ``auto``, or a ``"<worker>/<model>"`` pin."""
        ...

    @property
    def pin(self) -> str | None:
        """The worker the ``provider`` field names."""
        ...


class Routed(Protocol):
    """A validated call whose request names who should answer it."""

    @property
    def request(self) -> Addressed:
        """The call's request."""
        ...


_R = TypeVar("_R", bound=Routed)


def pin_provider(call: _R, board: Board, routes: Container[str] = ()) -> _R:
    """Settle who the client pinned: the ``provider`` field, or a ``"<worker>/<model>"`` model.

    The pin leaves as the request's own ``pin`` field, with ``model`` the model to ask the
    worker for: ``None`` (its default) when the client named none or ``"auto"``, since
    OpenAI's SDK always sends a model and ``auto`` is no model any provider knows. A model
    that names a configured route stays a route, as the router resolves routes first.

    Raises:
        NotFound: the ``provider`` field names no worker.
    """
    request = call.request
    settled = settle_pin(request.model, request.pin, board, routes)
    if settled is None:
        return call
    model, pin = settled
    # Calls and requests are frozen dataclasses; a Protocol cannot say so to mypy.
    pinned = dataclasses.replace(request, model=model, pin=pin)  # type: ignore[type-var]
    return dataclasses.replace(call, request=pinned)  # type: ignore[type-var]


def settle_pin(
    model: str | None, pin: str | None, board: Board, routes: Container[str]
) -> tuple[str | None, str] | None:
    """The ``(model, pin)`` a request's ``model`` and ``provider`` fields pin it to, if any.

    Raises:
        NotFound: ``pin`` names no worker.
    """
    if pin is not None:
        if board.config(pin) is None:
            raise NotFound(f"no worker named {pin!r}", code="unknown_worker")
    elif model in routes:
        return None
    else:
        pin, model = split_pin(model, lambda name: board.config(name) is not None)
        if pin is None:
            return None
    return (None if model is None or model == AUTO_MODEL else model), pin


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be a JSON object.

    Raises:
        BadRequest: the body is not UTF-8 JSON or not an object.
    """
    try:
        body = json.loads(raw)
    # ValueError covers bad UTF-8, bad JSON and ints over Python's digit limit; deep
    # nesting raises RecursionError. Each is the client's fault, never a 500.
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    return body


def parse_chat(
    body: Mapping[str, Any], *, default_stream: bool, max_messages: int | None = None
) -> ChatCall:
    """Validate a chat body (OpenAI fields, plus Cortex's ``provider`` and ``strategy``).

    Fields Cortex does not know are kept in ``extra`` for OpenAI-type workers; message
    fields it does not carry are named in ``ignored``, so the answer declares them.

    ``max_messages`` is ``CORTEX_MAX_MESSAGES``: a longer conversation is refused before
    any message is read.

    Raises:
        BadRequest: naming the first invalid field.
    """
    stream = _optional(body, "stream", bool)
    options = _optional(body, "stream_options", dict) or {}
    include_usage = options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise _invalid("stream_options.include_usage", "must be a boolean")
    n = _optional(body, "n", int)
    if n is not None and not 1 <= n <= MAX_CHOICES:
        raise _invalid("n", f"must be between 1 and {MAX_CHOICES}")
    refuse_unsupported(body)
    strategy = _strategy(body)
    max_tokens_field = (
        "max_tokens" if body.get("max_tokens") is not None else "max_completion_tokens"
    )
    max_tokens = _optional(body, max_tokens_field, int)
    if max_tokens is not None and max_tokens < 1:
        raise _invalid(max_tokens_field, "must be at least 1")
    messages, ignored = read_messages(body.get("messages"), max_messages)
    tool_choice, tools = read_tool_choice(body.get("tool_choice"), read_tools(body.get("tools")))
    request = ChatRequest(
        messages=messages,
        model=_optional(body, "model", str) or None,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        max_tokens=max_tokens,
        stop=_stop(body.get("stop")),
        pin=_optional(body, "provider", str) or None,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=_optional(body, "parallel_tool_calls", bool),
        response_format=read_response_format(body.get("response_format")),
        n=n or 1,
        reasoning_effort=read_reasoning_effort(body.get("reasoning_effort")),
        options=read_options(body),
        extra=read_extra(body),
        ignored=ignored,
    )
    return ChatCall(
        request=request,
        stream=default_stream if stream is None else stream,
        include_usage=include_usage,
        strategy=strategy,
    )


def read_strategy(body: Mapping[str, Any]) -> RoutingStrategy | None:
    """The body's ``strategy`` field, if any.

    Raises:
        BadRequest: it names no routing strategy.
    """
    name = _optional(body, "strategy", str)
    try:
        return RoutingStrategy(name) if name else None
    except ValueError:
        allowed = ", ".join(s.value for s in RoutingStrategy)
        raise invalid_field("strategy", f"must be one of {allowed}") from None


def invalid_field(field: str, problem: str) -> BadRequest:
    """The 400 of a body field: its name, quoted, then what is wrong with it."""
    return BadRequest(f"'{field}' {problem}", code="invalid_value")


# The chat parser's own names for the two, so its many call sites stay as they are.
_strategy = read_strategy
_invalid = invalid_field


def _optional(body: Mapping[str, Any], field: str, kind: type[_T]) -> _T | None:
    value = body.get(field)
    if value is None:
        return None
    # bool is an int in Python; a JSON true is never a valid count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(field, f"must be of type {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


_TYPE_NAMES = {str: "string", bool: "boolean", int: "integer", dict: "object"}


def _number(body: Mapping[str, Any], field: str, low: float, high: float) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(field, "must be a number")
    # Only floats can be non-finite; math.isfinite() would overflow on a huge JSON int.
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(field, "must be a number")
    if not low <= value <= high:
        raise _invalid(field, f"must be between {low:g} and {high:g}")
    return float(value)


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if (
        isinstance(value, list)
        and len(value) <= MAX_STOP_SEQUENCES
        and all(isinstance(item, str) for item in value)
    ):
        return tuple(value)
    raise _invalid("stop", f"must be a string or a list of at most {MAX_STOP_SEQUENCES} strings")

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
from typing import Any, TypeVar

from actors.board import Board
from actors.planning import AUTO_MODEL, RoutingStrategy
from cortex.chat import ROLES, ChatRequest, Message, split_pin
from cortex.errors import BadRequest, NotFound

MAX_STOP_SEQUENCES = 4
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


def with_headers(call: ChatCall, headers: Mapping[str, str]) -> ChatCall:
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
    return dataclasses.replace(call, strategy=strategy, timeout=timeout)


def pin_provider(call: ChatCall, board: Board, routes: Container[str] = ()) -> ChatCall:
    """Settle who the client pinned: the ``provider`` field, or a ``"<worker>/<model>"`` model.

    The pin leaves as the request's own ``pin`` field, with ``model`` the model to ask the
    worker for: ``None`` (its default) when the client named none or ``"auto"``, since
    OpenAI's SDK always sends a model and ``auto`` is no model any provider knows. A model
    that names a configured route stays a route, as the router resolves routes first.

    Raises:
        NotFound: the ``provider`` field names no worker.
    """
    request = call.request
    pin: str | None
    if request.pin is not None:
        if board.config(request.pin) is None:
            raise NotFound(f"no worker named {request.pin!r}", code="unknown_worker")
        pin, model = request.pin, request.model
    elif request.model in routes:
        return call
    else:
        pin, model = split_pin(request.model, lambda name: board.config(name) is not None)
        if pin is None:
            return call
    wanted = None if model is None or model == AUTO_MODEL else model
    return dataclasses.replace(call, request=dataclasses.replace(request, model=wanted, pin=pin))


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
    if n is not None and n != 1:
        raise _invalid("n", "only n=1 is supported")
    strategy_name = _optional(body, "strategy", str)
    try:
        strategy = RoutingStrategy(strategy_name) if strategy_name else None
    except ValueError:
        allowed = ", ".join(s.value for s in RoutingStrategy)
        raise _invalid("strategy", f"must be one of {allowed}") from None
    max_tokens_field = (
        "max_tokens" if body.get("max_tokens") is not None else "max_completion_tokens"
    )
    max_tokens = _optional(body, max_tokens_field, int)
    if max_tokens is not None and max_tokens < 1:
        raise _invalid(max_tokens_field, "must be at least 1")
    request = ChatRequest(
        messages=_messages(body.get("messages"), max_messages),
        model=_optional(body, "model", str) or None,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        max_tokens=max_tokens,
        stop=_stop(body.get("stop")),
        pin=_optional(body, "provider", str) or None,
    )
    return ChatCall(
        request=request,
        stream=default_stream if stream is None else stream,
        include_usage=include_usage,
        strategy=strategy,
    )


def _invalid(field: str, problem: str) -> BadRequest:
    return BadRequest(f"'{field}' {problem}", code="invalid_value")


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


def _messages(value: object, limit: int | None) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise BadRequest("'messages' must be a non-empty array", code="invalid_messages")
    if limit is not None and len(value) > limit:
        raise BadRequest(
            f"a request may carry at most {limit} messages, got {len(value)}",
            code="too_many_messages",
        )
    messages = []
    for index, item in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"'{where}' must be an object", code="invalid_messages")
        role = item.get("role")
        if not isinstance(role, str) or role not in ROLES:
            allowed = ", ".join(sorted(ROLES))
            raise BadRequest(f"'{where}.role' must be one of {allowed}", code="invalid_messages")
        messages.append(Message(role=role, content=_content(item.get("content"), where)))
    return tuple(messages)


def _content(value: object, where: str) -> str:
    """Accept a string, or OpenAI's list of text parts (joined)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for number, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise BadRequest(
                    f"'{where}.content' supports only text parts; "
                    f"part {number} is {_part_kind(part)}",
                    code="invalid_messages",
                )
            text = part.get("text")
            if not isinstance(text, str):
                raise BadRequest(
                    f"'{where}.content' text parts need a string 'text'", code="invalid_messages"
                )
            texts.append(text)
        return "".join(texts)
    raise BadRequest(
        f"'{where}.content' must be a string or an array of text parts", code="invalid_messages"
    )


def _part_kind(part: object) -> str:
    """Name an unsupported content part for the error: its ``type``, else its JSON kind."""
    if isinstance(part, dict):
        kind = part.get("type")
        return f"of type {kind!r}" if isinstance(kind, str) else "an object without a 'type'"
    return f"a {_JSON_KINDS.get(type(part), type(part).__name__)}"


_JSON_KINDS: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    list: "array",
    type(None): "null",
}

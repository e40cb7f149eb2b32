"""Validation of ``POST /v1/embeddings`` bodies into :class:`~cortex.chat.EmbeddingRequest`.

OpenAI's fields: ``input`` (a string or a list of strings), ``model``, ``encoding_format``
(``float`` or ``base64``), ``dimensions`` and ``user``, plus Cortex's ``provider`` and
``strategy`` as on chat. Token-id input (a list of integers, or of lists of them) is
refused with a 400: no wire but OpenAI's could carry it, and the gateway cannot turn ids
of an unknown tokenizer back into text. Every rule that fails names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.planning import RoutingStrategy
from cortex.chat import EmbeddingRequest
from cortex.errors import BadRequest
from cortex.http.schemas import invalid_field, read_strategy

MAX_INPUTS = 2048
"""OpenAI's limit on inputs per request."""
ENCODINGS = ("float", "base64")
_FIELDS = frozenset(
    {"input", "model", "encoding_format", "dimensions", "user", "provider", "strategy", "cache"}
)


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    """A validated embeddings call: the request plus how the client wants it delivered."""

    request: EmbeddingRequest
    encoding: str = "float"
    strategy: RoutingStrategy | None = None
    timeout: float | None = None


def parse_embeddings(body: Mapping[str, Any]) -> EmbeddingCall:
    """Validate an embeddings body.

    Raises:
        BadRequest: naming the first invalid field, or a field Cortex does not know.
    """
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadRequest(f"unknown field '{unknown[0]}'", code="unknown_parameter")
    encoding = body.get("encoding_format")
    if encoding is None:
        encoding = "float"
    if encoding not in ENCODINGS:
        raise invalid_field("encoding_format", "must be 'float' or 'base64'")
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise invalid_field("dimensions", "must be a positive integer")
    request = EmbeddingRequest(
        inputs=_inputs(body.get("input")),
        model=_string(body, "model"),
        pin=_string(body, "provider"),
        dimensions=dimensions,
        user=_string(body, "user"),
    )
    return EmbeddingCall(request, encoding, read_strategy(body))


def _inputs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise invalid_field("input", "must be a string or a non-empty list of strings")
    if len(value) > MAX_INPUTS:
        raise invalid_field("input", f"must hold at most {MAX_INPUTS} items")
    for index, item in enumerate(value):
        if isinstance(item, int | list):
            raise invalid_field(
                "input", "as token ids is not supported by Cortex: send the text instead"
            )
        if not isinstance(item, str):
            raise invalid_field(f"input[{index}]", "must be a string")
        if not item:
            raise invalid_field(f"input[{index}]", "must not be empty")
    return tuple(value)


def _string(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_field(field, "must be of type string")
    return value or None


__all__ = ["EmbeddingCall", "parse_embeddings"]

"""JSON Schema as Gemini's ``responseJsonSchema`` takes it.

Gemini reads only a subset of JSON Schema for structured output (WIRE_FORMATS_TOOLS.md
section 4.3): ``$id $defs $ref $anchor type format title description enum items
prefixItems minItems maxItems minimum maximum anyOf oneOf properties
additionalProperties required propertyOrdering``. A client's schema (written for OpenAI)
often holds more: ``$schema``, ``strict``, ``const``, type lists such as
``["string", "null"]``, string and exclusive bounds. Each function here rewrites one of
those into the subset, keeping the meaning where the subset can say it (``const`` is a
one-value ``enum``, a type list is an ``anyOf``) and leaving out what it cannot
(a ``pattern`` only narrows what the model may write, so the answer stays valid JSON of
the wider schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUPPORTED = frozenset(
    {
        "$id",
        "$defs",
        "$ref",
        "$anchor",
        "type",
        "format",
        "title",
        "description",
        "enum",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "anyOf",
        "oneOf",
        "properties",
        "additionalProperties",
        "required",
        "propertyOrdering",
    }
)
"""The keywords Google documents for ``responseJsonSchema``."""

_ANNOTATIONS = ("title", "description")  # stay on the node when a type list becomes anyOf
_SCHEMA_MAPS = ("properties", "$defs")  # name -> schema
_SCHEMA_LISTS = ("anyOf", "oneOf", "prefixItems")  # [schema, ...]
_SCHEMA_VALUES = ("items", "additionalProperties")  # one schema (or a boolean)


def response_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` rewritten, at every depth, into what ``responseJsonSchema`` accepts."""
    node = const_as_enum(schema)
    node = {key: value for key, value in node.items() if key in SUPPORTED}
    node = ref_alone(node)
    node = _converted_children(node)
    return type_list_as_any_of(node)


def const_as_enum(node: Mapping[str, Any]) -> dict[str, Any]:
    """``const: v`` becomes ``enum: [v]`` (Gemini refuses ``const``)."""
    out = dict(node)
    if "const" in out:
        out.setdefault("enum", [out.pop("const")])
    return out


def ref_alone(node: Mapping[str, Any]) -> dict[str, Any]:
    """A node with ``$ref`` keeps only ``$``-prefixed keys, as Gemini requires."""
    if "$ref" not in node:
        return dict(node)
    return {key: value for key, value in node.items() if key.startswith("$")}


def type_list_as_any_of(node: Mapping[str, Any]) -> dict[str, Any]:
    """``type: [a, b]`` becomes ``anyOf`` of one branch per type (``null`` on its own).

    Titles and descriptions stay on the node; every other keyword goes into each
    non-null branch, since it describes the value when it is present.
    """
    kinds = node.get("type")
    if not isinstance(kinds, list):
        return dict(node)
    if len(kinds) == 1:
        return {**node, "type": kinds[0]}
    top = {key: node[key] for key in _ANNOTATIONS if key in node}
    rest = {key: v for key, v in node.items() if key not in (*_ANNOTATIONS, "type")}
    branches = [{"type": "null"} if kind == "null" else {**rest, "type": kind} for kind in kinds]
    return {**top, "anyOf": branches}


def _converted_children(node: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with every sub-schema converted."""
    out = dict(node)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _sub(value) for name, value in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_sub(value) for value in out[key]]
    for key in _SCHEMA_VALUES:
        if key in out:
            out[key] = _sub(out[key])
    return out


def _sub(value: object) -> object:
    """A sub-schema converted; booleans (``additionalProperties: false``) stay as they are."""
    return response_schema(value) if isinstance(value, dict) else value


def is_empty_object(schema: Mapping[str, Any] | None) -> bool:
    """Whether a tool's parameters declare no arguments at all (Gemini refuses such a schema).

    A free-form map (``additionalProperties`` holding a schema) is not empty.
    """
    if not schema:
        return True
    return (
        schema.get("type") == "object"
        and not schema.get("properties")
        and not isinstance(schema.get("additionalProperties"), dict)
    )

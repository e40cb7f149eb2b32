"""JSON Schema rewritten into what Gemini's responseJsonSchema accepts: each rule, then all."""

from __future__ import annotations

from typing import Any

import pytest

from cortex.providers.gemini_schema import (
    const_as_enum,
    is_empty_object,
    ref_alone,
    response_schema,
    type_list_as_any_of,
)

Schema = dict[str, Any]


@pytest.mark.parametrize(
    ("node", "out"),
    [
        ({"const": "a"}, {"enum": ["a"]}),
        ({"const": 3, "description": "d"}, {"enum": [3], "description": "d"}),
        ({"const": None}, {"enum": [None]}),
        ({"enum": ["a", "b"]}, {"enum": ["a", "b"]}),
    ],
)
def test_const_becomes_a_one_value_enum(node: Schema, out: Schema) -> None:
    assert const_as_enum(node) == out


@pytest.mark.parametrize(
    ("node", "out"),
    [
        ({"$ref": "#/$defs/A", "description": "x"}, {"$ref": "#/$defs/A"}),
        ({"$ref": "#/$defs/A", "$id": "i"}, {"$ref": "#/$defs/A", "$id": "i"}),
        ({"type": "string", "description": "x"}, {"type": "string", "description": "x"}),
    ],
)
def test_a_ref_node_keeps_only_dollar_keys(node: Schema, out: Schema) -> None:
    assert ref_alone(node) == out


@pytest.mark.parametrize(
    ("node", "out"),
    [
        ({"type": "string"}, {"type": "string"}),
        ({"type": ["string"]}, {"type": "string"}),
        (
            {"type": ["string", "null"], "description": "d", "format": "date"},
            {
                "description": "d",
                "anyOf": [{"format": "date", "type": "string"}, {"type": "null"}],
            },
        ),
        (
            {"type": ["integer", "string"], "title": "t"},
            {"title": "t", "anyOf": [{"type": "integer"}, {"type": "string"}]},
        ),
    ],
)
def test_a_type_list_becomes_any_of(node: Schema, out: Schema) -> None:
    assert type_list_as_any_of(node) == out


CLIENT_SCHEMA: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "City",
    "type": "object",
    "strict": True,
    "properties": {
        "name": {"type": "string", "minLength": 1, "pattern": "^[A-Z]"},
        "population": {"type": ["integer", "null"], "exclusiveMinimum": 0},
        "kind": {"const": "city"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 9}, "minItems": 1},
        "home": {"$ref": "#/$defs/Country", "description": "where"},
        "pair": {"type": "array", "prefixItems": [{"const": 1}, {"type": ["number", "null"]}]},
        "either": {"oneOf": [{"const": "x"}, {"type": "integer", "multipleOf": 2}]},
    },
    "required": ["name"],
    "additionalProperties": False,
    "propertyOrdering": ["name", "population"],
    "$defs": {"Country": {"type": "object", "properties": {"code": {"const": "FR"}}}},
}
GEMINI_SCHEMA: Schema = {
    "title": "City",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "population": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "kind": {"enum": ["city"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "home": {"$ref": "#/$defs/Country"},
        "pair": {
            "type": "array",
            "prefixItems": [{"enum": [1]}, {"anyOf": [{"type": "number"}, {"type": "null"}]}],
        },
        "either": {"oneOf": [{"enum": ["x"]}, {"type": "integer"}]},
    },
    "required": ["name"],
    "additionalProperties": False,
    "propertyOrdering": ["name", "population"],
    "$defs": {"Country": {"type": "object", "properties": {"code": {"enum": ["FR"]}}}},
}


def test_a_client_schema_is_rewritten_at_every_depth() -> None:
    assert response_schema(CLIENT_SCHEMA) == GEMINI_SCHEMA


def test_a_supported_schema_is_left_as_it_is() -> None:
    assert response_schema(GEMINI_SCHEMA) == GEMINI_SCHEMA


def test_the_clients_schema_is_not_changed_in_place() -> None:
    before = repr(CLIENT_SCHEMA)
    response_schema(CLIENT_SCHEMA)
    assert repr(CLIENT_SCHEMA) == before


def test_a_property_named_like_a_keyword_is_kept() -> None:
    schema = {"type": "object", "properties": {"const": {"type": "string"}, "pattern": {}}}
    assert response_schema(schema) == schema


@pytest.mark.parametrize(
    ("schema", "empty"),
    [
        (None, True),
        ({}, True),
        ({"type": "object"}, True),
        ({"type": "object", "properties": {}}, True),
        ({"type": "object", "properties": {}, "additionalProperties": False}, True),
        ({"type": "object", "additionalProperties": {"type": "string"}}, False),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, False),
    ],
)
def test_an_argument_free_schema_is_empty(schema: Schema | None, empty: bool) -> None:
    assert is_empty_object(schema) is empty

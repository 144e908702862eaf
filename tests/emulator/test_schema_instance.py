"""Issue 14 proof (emulator): the minimal schema instance the emulated model answers with
(tool arguments, structured answers) is valid against the schema, by the documented
rules."""

from __future__ import annotations

from typing import Any

import pytest

from sarvanom_sdk.testing._schema_instance import minimal_instance, minimal_object


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "example"),
        ({"type": "integer"}, 1),
        ({"type": "number"}, 1),
        ({"type": "boolean"}, True),
        ({"type": "null"}, None),
        ({"enum": ["celsius", "fahrenheit"]}, "celsius"),
        ({"const": 7}, 7),
        ({"type": ["null", "string"]}, "example"),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, 1),
        ({"type": "array", "items": {"type": "integer"}}, [1]),
        ({"type": "array", "items": {"type": "string"}, "minItems": 2}, ["example"] * 2),
        ({"type": "array", "maxItems": 0}, []),
        ({"type": "integer", "minimum": 5}, 5),
        ({"type": "integer", "minimum": 2.5}, 3),
        ({"type": "integer", "exclusiveMinimum": 4}, 5),
        ({"type": "integer", "maximum": -3}, -3),
        ({"type": "number", "exclusiveMaximum": 0}, -0.5),
        ({"type": "string", "minLength": 10}, "examplexxx"),
        ({"type": "string", "maxLength": 3}, "exa"),
        ({"type": "string", "format": "date-time"}, "2024-01-01T00:00:00Z"),
        ({}, "example"),
    ],
)
def test_scalar_and_array_rules(schema: dict[str, Any], expected: Any) -> None:
    assert minimal_instance(schema) == expected


def test_objects_keep_only_required_properties_and_follow_local_refs() -> None:
    """Pydantic's schemas put nested models under ``$defs`` behind ``$ref``."""
    schema = {
        "type": "object",
        "properties": {
            "city": {"$ref": "#/$defs/City"},
            "note": {"type": "string"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
        },
        "required": ["city", "tags"],
        "$defs": {
            "City": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
                "required": ["name", "population"],
            },
            "Tag": {"enum": ["a", "b"]},
        },
    }
    assert minimal_instance(schema) == {
        "city": {"name": "example", "population": 1},
        "tags": ["a"],
    }


def test_all_of_merges_objects_and_a_missing_ref_is_anything() -> None:
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ]
    }
    assert minimal_instance(schema) == {"a": 1, "b": True}
    assert minimal_instance({"$ref": "#/$defs/Nowhere"}) == "example"


def test_tool_arguments_are_always_an_object() -> None:
    assert minimal_object(None) == {}
    assert minimal_object({"type": "string"}) == {}
    assert minimal_object({"type": "object", "properties": {}}) == {}


def test_a_self_referencing_schema_terminates() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/Node"}},
                "required": ["next"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = minimal_instance(schema)
    depth = 0
    while isinstance(value, dict):
        value, depth = value["next"], depth + 1
    assert 10 < depth < 100

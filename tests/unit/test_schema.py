"""Issue 14 item 2: checking a structured answer against its JSON Schema — the built-in
subset validator, and ``jsonschema`` when it is installed (the same verdicts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from sarvanom_sdk.errors import InvalidRequestError
from sarvanom_sdk.schema import builtin_validate, schema_problem, validate
from sarvanom_sdk.types import LLMRequest


def _jsonschema_validate() -> Callable[[Any, Any], str | None]:
    pytest.importorskip("jsonschema")
    from sarvanom_sdk.schema import _jsonschema

    check = _jsonschema()
    assert check is not None
    return check


VALIDATORS = [
    pytest.param(lambda: builtin_validate, id="builtin"),
    pytest.param(_jsonschema_validate, id="jsonschema"),
]

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "role": {"enum": ["admin", "user"]},
        "kind": {"const": "person"},
        "email": {"anyOf": [{"type": "string", "pattern": "@"}, {"type": "null"}]},
        "score": {"type": "number", "exclusiveMinimum": 0},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
GOOD = {
    "name": "Ann",
    "age": 30,
    "tags": ["a"],
    "role": "user",
    "kind": "person",
    "email": None,
    "score": 0.5,
}


@pytest.mark.parametrize("make", VALIDATORS)
@pytest.mark.parametrize(
    "value",
    [
        GOOD,
        {"name": "Ann", "age": 30},
        {"name": "Ann", "age": 30.0},  # an integer-valued number is an integer
        {"name": "Ann", "age": 0, "email": "a@b"},
    ],
)
def test_issue14_valid_values_pass(make: Callable[[], Any], value: Any) -> None:
    assert make()(value, PERSON) is None


@pytest.mark.parametrize("make", VALIDATORS)
@pytest.mark.parametrize(
    "change",
    [
        {"age": "30"},
        {"age": True},  # a boolean is not an integer
        {"age": 30.5},
        {"age": -1},
        {"age": 151},
        {"name": ""},
        {"name": "x" * 21},
        {"tags": []},
        {"tags": ["a", "b", "c", "d"]},
        {"tags": ["a", 1]},
        {"role": "root"},
        {"kind": "cat"},
        {"email": "no-at-sign"},
        {"score": 0},
        {"extra": 1},
    ],
)
def test_issue14_invalid_values_are_refused(
    make: Callable[[], Any], change: dict[str, Any]
) -> None:
    assert make()({**GOOD, **change}, PERSON) is not None


@pytest.mark.parametrize("make", VALIDATORS)
def test_issue14_missing_required_property_is_named(make: Callable[[], Any]) -> None:
    problem = make()({"name": "Ann"}, PERSON)
    assert problem is not None and "age" in problem


def test_issue14_builtin_names_where_the_value_is_wrong() -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": PERSON}}}
    problem = builtin_validate({"items": [GOOD, {**GOOD, "age": "x"}]}, schema)
    assert problem == "$.items[1].age: expected integer, got string"


class Address(pydantic.BaseModel):
    city: str
    zip: str | None = None


class Person(pydantic.BaseModel):
    name: str
    addresses: list[Address]


@pytest.mark.parametrize("make", VALIDATORS)
def test_issue14_pydantic_schemas_with_defs_and_refs(make: Callable[[], Any]) -> None:
    schema = Person.model_json_schema()
    assert "$defs" in schema
    check = make()
    assert check({"name": "A", "addresses": [{"city": "Oslo"}]}, schema) is None
    assert check({"name": "A", "addresses": [{"city": 3}]}, schema) is not None
    assert check({"name": "A", "addresses": [{"zip": "1"}]}, schema) is not None


def test_issue14_one_of_needs_exactly_one() -> None:
    schema = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert builtin_validate(1.5, schema) is None
    assert builtin_validate(1, schema) is not None  # both match


def test_issue14_unknown_keywords_are_ignored_by_the_builtin() -> None:
    assert builtin_validate("x", {"type": "string", "format": "email"}) is None


def test_issue14_validate_uses_one_of_the_two() -> None:
    assert validate({"name": "Ann", "age": 1}, PERSON) is None
    assert validate({"name": "Ann"}, PERSON) is not None


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "strng"},
        {"type": "object", "required": "name"},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}},
        {"type": "object", "properties": {"a": 3}},
        {"anyOf": {"type": "string"}},
    ],
)
def test_issue14_a_broken_schema_is_a_bad_request(schema: dict[str, Any]) -> None:
    """A caller's broken schema is refused when the request is made, so it never counts
    as a provider failure."""
    assert schema_problem(schema) is not None
    form = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    with pytest.raises(InvalidRequestError) as excinfo:
        LLMRequest(prompt="x", response_format=form)
    assert excinfo.value.field == "response_format.json_schema.schema"


def test_issue14_pydantic_schema_is_a_good_schema() -> None:
    assert schema_problem(Person.model_json_schema()) is None

"""Checking a JSON value against a JSON Schema: the answer to a ``json_schema`` request.

:func:`validate` uses the ``jsonschema`` package when it is installed (optional, the
``jsonschema`` extra: every keyword and draft), and otherwise a small built-in validator
of the subset structured output uses in practice: ``type`` (one or a list), ``properties``,
``required``, ``additionalProperties`` (false or a schema), ``items``, ``prefixItems``,
``enum``, ``const``, ``anyOf``/``oneOf``/``allOf``, ``minimum``/``maximum`` (and their
exclusive forms), ``minLength``/``maxLength``, ``pattern``, ``minItems``/``maxItems``,
``nullable`` and local ``$ref`` (``#``, ``#/$defs/...``, ``#/definitions/...``: what
pydantic writes). Keywords outside the subset are ignored (accepted), never guessed.

Both answer None for a valid value, or one line naming where and why it is not
(``$.items[2].name: expected string, got integer``), in the schema's words: the answer's
own values never appear in it (it goes into the attempt trail). Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from .errors import excerpt

__all__ = ["builtin_validate", "schema_problem", "validate"]

#: How deep the built-in validator follows ``$ref``s and nesting before giving up.
MAX_DEPTH = 64


def validate(instance: Any, schema: Mapping[str, Any]) -> str | None:
    """None if ``instance`` is valid under ``schema``, else why not (one line)."""
    check = _jsonschema()
    if check is None:
        return builtin_validate(instance, schema)
    return check(instance, schema)


@lru_cache(maxsize=1)
def _jsonschema() -> Callable[[Any, Mapping[str, Any]], str | None] | None:
    """The ``jsonschema`` package's check, or None when it is not installed (imported on
    first use only: ``import sarvanom_sdk`` stays light)."""
    try:
        import jsonschema  # type: ignore[import-untyped,unused-ignore]
        from jsonschema.exceptions import (  # type: ignore[import-untyped,unused-ignore]
            best_match,
        )
    except ImportError:
        return None

    def check(instance: Any, schema: Mapping[str, Any]) -> str | None:
        try:
            validator = jsonschema.validators.validator_for(schema)(schema)
            error = best_match(validator.iter_errors(instance))
        except Exception as exc:  # an unresolvable $ref, a recursion: not the reply's fault
            return f"$: the schema could not be applied ({type(exc).__name__})"
        if error is None:
            return None
        where = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        # the schema's words, not the answer's: an answer's values stay out of the trail
        wanted = json.dumps(error.validator_value, default=str)
        return f"{where}: fails {error.validator} {excerpt(wanted, 60)}"

    return check


_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMAS = ("items", "additionalProperties", "not", "if", "then", "else")


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """None if ``schema`` can be applied, else what is wrong with it: checked when a
    request is made, so a caller's broken schema is a bad request, never a provider
    failure. With ``jsonschema`` installed, its own meta-schema check; else the shape of
    the keywords the built-in validator reads, and that every local ``$ref`` resolves."""
    try:
        import jsonschema  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return _Validator(schema).schema_problem(schema, "$", 0)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        return str(exc.message)
    return _Validator(schema).schema_problem(schema, "$", 0)


def builtin_validate(instance: Any, schema: Mapping[str, Any]) -> str | None:
    """The built-in subset validator (see the module docstring)."""
    try:
        return _Validator(schema).check(instance, schema, "$", 0)
    except RecursionError:
        return "$: the schema nests too deeply"


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    actual = _type_of(value)
    if name == "number":
        return actual in ("integer", "number")
    if name == "integer":
        return actual == "integer" or (
            actual == "number" and math.isfinite(value) and float(value).is_integer()
        )
    return actual == name


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``; ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class _Validator:
    __slots__ = ("root",)

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: str) -> Mapping[str, Any] | None:
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None
        node: Any = self.root
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or token not in node:
                return None
            node = node[token]
        return node if isinstance(node, Mapping) else None

    def schema_problem(self, schema: Any, where: str, depth: int) -> str | None:
        if depth > MAX_DEPTH:
            return f"{where}: nested more than {MAX_DEPTH} levels"
        if isinstance(schema, bool):
            return None
        if not isinstance(schema, Mapping):
            return f"{where}: a schema must be an object or a boolean"
        kind = schema.get("type")
        names = [kind] if isinstance(kind, str) else kind
        if kind is not None and (
            not isinstance(names, list) or not all(n in _TYPES for n in names)
        ):
            return f"{where}.type: must be one of {', '.join(sorted(_TYPES))} (or a list)"
        required = schema.get("required")
        if required is not None and (
            not isinstance(required, list) or not all(isinstance(r, str) for r in required)
        ):
            return f"{where}.required: must be a list of property names"
        ref = schema.get("$ref")
        if ref is not None and (not isinstance(ref, str) or self.resolve(ref) is None):
            return f"{where}.$ref: {ref!r} does not resolve within the schema"
        children: list[tuple[str, Any]] = []
        for key in _SUBSCHEMA_MAPS:
            group = schema.get(key)
            if group is None:
                continue
            if not isinstance(group, Mapping):
                return f"{where}.{key}: must be an object of schemas"
            children.extend((f"{where}.{key}.{name}", sub) for name, sub in group.items())
        for key in _SUBSCHEMA_LISTS:
            group = schema.get(key)
            if group is None:
                continue
            if not isinstance(group, list):
                return f"{where}.{key}: must be a list of schemas"
            children.extend((f"{where}.{key}[{i}]", sub) for i, sub in enumerate(group))
        children.extend((f"{where}.{k}", schema[k]) for k in _SUBSCHEMAS if k in schema)
        for at, sub in children:
            problem = self.schema_problem(sub, at, depth + 1)
            if problem:
                return problem
        return None

    def check(self, value: Any, schema: Any, where: str, depth: int) -> str | None:
        if depth > MAX_DEPTH:
            return f"{where}: the schema nests more than {MAX_DEPTH} levels"
        if schema is True or schema is None:
            return None
        if schema is False:
            return f"{where}: no value is allowed here"
        if not isinstance(schema, Mapping):
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.resolve(ref)
            if target is None:
                return f"{where}: the schema's $ref {ref!r} cannot be resolved"
            problem = self.check(value, target, where, depth + 1)
            if problem:
                return problem
        for check in _CHECKS:
            problem = check(self, value, schema, where, depth)
            if problem:
                return problem
        return None


Check = Callable[[_Validator, Any, Mapping[str, Any], str, int], "str | None"]


def _check_type(
    v: _Validator, value: Any, schema: Mapping[str, Any], where: str, d: int
) -> str | None:
    wanted = schema.get("type")
    if wanted is None:
        return None
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    if schema.get("nullable") is True:
        names.append("null")
    if any(_is_type(value, n) for n in names if isinstance(n, str)):
        return None
    return f"{where}: expected {' or '.join(map(str, names))}, got {_type_of(value)}"


def _check_enum(
    v: _Validator, value: Any, schema: Mapping[str, Any], where: str, d: int
) -> str | None:
    if "const" in schema and not _json_equal(value, schema["const"]):
        return f"{where}: must be {schema['const']!r}"
    options = schema.get("enum")
    if isinstance(options, list) and not any(_json_equal(value, o) for o in options):
        shown = ", ".join(repr(o) for o in options[:8])
        return f"{where}: not one of {shown}"
    return None


def _check_combinators(
    v: _Validator, value: Any, schema: Mapping[str, Any], where: str, d: int
) -> str | None:
    for sub in schema.get("allOf") or ():
        problem = v.check(value, sub, where, d + 1)
        if problem:
            return problem
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if not isinstance(options, list) or not options:
            continue
        problems = [v.check(value, sub, where, d + 1) for sub in options]
        passed = problems.count(None)
        if passed == 0:
            return f"{where}: matches none of the {keyword} schemas ({problems[0]})"
        if keyword == "oneOf" and passed > 1:
            return f"{where}: matches {passed} of the oneOf schemas, not exactly one"
    return None


_BOUNDS: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
    ("minimum", lambda x, b: x >= b, ">="),
    ("maximum", lambda x, b: x <= b, "<="),
    ("exclusiveMinimum", lambda x, b: x > b, ">"),
    ("exclusiveMaximum", lambda x, b: x < b, "<"),
)


def _check_number(
    v: _Validator, value: Any, schema: Mapping[str, Any], where: str, d: int
) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    for keyword, ok, sign in _BOUNDS:
        bound = schema.get(keyword)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool) and not ok(value, bound):
            return f"{where}: must be {sign} {bound!r}"
    return None


def _check_string(
    v: _Validator, value: Any, schema: Mapping[str, Any], where: str, d: int
) -> str | None:
    if not isinstance(value, str):
        return None
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        return f"{where}: shorter than {low} characters"
    if isinstance(high, int) and len(value) > high:
        return f"{where}: longer than {high} characters"
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            return None  # a pattern Python's re cannot read is not checked
        if not matched:
            return f"{where}: does not match the pattern {pattern!r}"
    return None


def _check_array(
    v: _Validator, value: Any, schema: Mapping[str, Any], where: str, d: int
) -> str | None:
    if not isinstance(value, list):
        return None
    low, high = schema.get("minItems"), schema.get("maxItems")
    if isinstance(low, int) and len(value) < low:
        return f"{where}: fewer than {low} items"
    if isinstance(high, int) and len(value) > high:
        return f"{where}: more than {high} items"
    prefix = schema.get("prefixItems")
    prefix = prefix if isinstance(prefix, list) else []
    for index, (item, sub) in enumerate(zip(value, prefix, strict=False)):
        problem = v.check(item, sub, f"{where}[{index}]", d + 1)
        if problem:
            return problem
    items = schema.get("items")
    if isinstance(items, (Mapping, bool)):
        for index in range(len(prefix), len(value)):
            problem = v.check(value[index], items, f"{where}[{index}]", d + 1)
            if problem:
                return problem
    return None


def _check_object(
    v: _Validator, value: Any, schema: Mapping[str, Any], where: str, d: int
) -> str | None:
    if not isinstance(value, dict):
        return None
    for name in schema.get("required") or ():
        if name not in value:
            return f"{where}: missing the required property {name!r}"
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        at = f"{where}.{name}"
        if name in properties:
            problem = v.check(item, properties[name], at, d + 1)
        elif extra is False:
            problem = f"{where}: property {name!r} is not allowed"
        else:
            problem = v.check(item, extra, at, d + 1)
        if problem:
            return problem
    return None


_CHECKS: tuple[Check, ...] = (
    _check_type,
    _check_enum,
    _check_combinators,
    _check_number,
    _check_string,
    _check_array,
    _check_object,
)

"""A minimal valid instance of a JSON schema: what the emulated model puts in tool-call
arguments and structured answers. Pure and deterministic.

The rules, applied to the (sub)schema at hand:

- ``const`` -> that value; ``enum`` -> its first value; ``$ref`` (local, ``#/...``, as
  pydantic writes ``#/$defs/Model``) -> the instance of what it points at; ``anyOf`` /
  ``oneOf`` -> the first branch that is not ``{"type": "null"}``; ``allOf`` -> the
  branches' objects merged.
- ``type`` (the first that is not ``"null"`` when it is a list; ``object`` when absent but
  ``properties`` are given):
  ``object`` -> only the ``required`` properties, each a minimal instance;
  ``array`` -> ``max(1, minItems)`` items (``prefixItems`` first), none if ``maxItems`` is 0;
  ``string`` -> ``"example"`` (a date, date-time, email, uri or uuid for those ``format``s),
  padded with ``x`` to ``minLength`` and cut to ``maxLength``;
  ``integer`` / ``number`` -> 1, moved into ``minimum``/``maximum`` (exclusive bounds too);
  ``boolean`` -> ``true``; ``null`` -> ``null``.
- A schema with none of these (``{}``, "anything") -> ``"example"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard, overload

EXAMPLE = "example"
_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 32


def minimal_instance(schema: Any) -> Any:
    """The smallest value valid against ``schema``, by the rules in the module docstring."""
    return _instance(schema, schema, 0)


def minimal_object(schema: Any) -> dict[str, Any]:
    """:func:`minimal_instance` for a place that needs an object (tool arguments): ``{}``
    when the schema's instance is not one."""
    value = minimal_instance(schema)
    return value if isinstance(value, dict) else {}


def _instance(schema: Any, root: Any, depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return EXAMPLE
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _instance(_resolve(ref, root), root, depth + 1)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            useful = [b for b in branches if not _is_null(b)]
            return _instance((useful or branches)[0], root, depth + 1)
    branches = schema.get("allOf")
    if isinstance(branches, list) and branches:
        merged: dict[str, Any] = {}
        for branch in branches:
            value = _instance(branch, root, depth + 1)
            if not isinstance(value, dict):
                return value
            merged.update(value)
        return merged
    kind = _type(schema)
    if kind == "object":
        properties = schema.get("properties")
        props = properties if isinstance(properties, Mapping) else {}
        required = schema.get("required")
        names = [n for n in required if isinstance(n, str)] if isinstance(required, list) else []
        return {name: _instance(props.get(name, {}), root, depth + 1) for name in names}
    if kind == "array":
        return _array(schema, root, depth)
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return EXAMPLE


def _type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if isinstance(k, str) and k != "null"]
        kind = kinds[0] if kinds else ("null" if "null" in kind else None)
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and ("items" in schema or "prefixItems" in schema):
        return "array"
    return kind if isinstance(kind, str) else None


def _resolve(ref: str, root: Any) -> Any:
    """A local JSON pointer (``#/$defs/Name``); anything else resolves to ``{}``."""
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            return {}
        node = node[key]
    return node


def _array(schema: Mapping[str, Any], root: Any, depth: int) -> list[Any]:
    low = _int(schema.get("minItems"), 0)
    high = _int(schema.get("maxItems"), None)
    count = max(1, low)
    if high is not None:
        count = min(count, high)
    prefix = schema.get("prefixItems")
    firsts = list(prefix) if isinstance(prefix, list) else []
    items = schema.get("items", {})
    return [
        _instance(firsts[i] if i < len(firsts) else items, root, depth + 1) for i in range(count)
    ]


def _string(schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    text = _FORMATS.get(fmt, EXAMPLE) if isinstance(fmt, str) else EXAMPLE
    low = _int(schema.get("minLength"), 0)
    high = _int(schema.get("maxLength"), None)
    if len(text) < low:
        text += "x" * (low - len(text))
    if high is not None:
        text = text[:high]
    return text


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    """1, moved into the bounds (whole numbers inside them for ``integer``)."""
    value: int | float = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    xlow, xhigh = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if _num(low) and value < low:
        value = math.ceil(low) if integer else low
    if _num(xlow) and value <= xlow:
        value = math.floor(xlow) + 1 if integer else xlow + 0.5
    if _num(high) and value > high:
        value = math.floor(high) if integer else high
    if _num(xhigh) and value >= xhigh:
        value = math.ceil(xhigh) - 1 if integer else xhigh - 0.5
    return int(value) if integer else value


def _num(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


@overload
def _int(value: Any, default: int) -> int: ...
@overload
def _int(value: Any, default: None) -> int | None: ...
def _int(value: Any, default: int | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default

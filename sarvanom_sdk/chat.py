"""The chat surface beyond plain text: tools, tool calls, image parts, structured output,
and the capabilities a request needs from a provider.

All values are frozen and validated on construction, so a bad request is refused with an
:class:`~sarvanom_sdk.errors.InvalidRequestError` naming the field before any network
call. Inputs are accepted in the OpenAI Chat Completions shapes (what most callers and
the gateway hold) or as these values; adapters translate them to each provider's wire.

Capabilities (:data:`CAPABILITIES`) are what an adapter declares it supports; a request
*needs* some of them (:func:`needed_capabilities`) and the router skips providers that
lack one ("skipped (no tool support)"). ``top_p``, ``presence_penalty`` and
``frequency_penalty`` are not capabilities: they are sent where the protocol has them and
left out elsewhere (they tune, they do not change what kind of answer comes back).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequestError
from .schema import schema_problem, validate

#: Every capability an adapter may declare, and the words the trail uses for each.
CAPABILITIES: Mapping[str, str] = {
    "tools": "tool",
    "json_object": "JSON output",
    "json_schema": "JSON schema output",
    "images": "image input (data: URLs)",
    "image_urls": "image input (https URLs)",
    "stop": "stop sequence",
    "seed": "seed",
}
TOOL_CHOICE_MODES = ("auto", "none", "required", "function")
#: Anthropic's tool_choice types without a name, as modes.
_ANTHROPIC_MODES = {"auto": "auto", "any": "required", "none": "none"}
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")
#: Every capability (what a protocol that translates the whole surface declares).
ALL_CAPABILITIES = frozenset(CAPABILITIES)
MAX_TOOLS = 128
MAX_STOP_SEQUENCES = 4
#: Upper bounds on one image: an https URL's length, and a data: URL's (about 15 MB of
#: image once decoded; providers refuse far less).
MAX_IMAGE_URL_CHARS = 8192
MAX_IMAGE_DATA_CHARS = 20_000_000
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")


def _frozen_json(field: str, value: Any, *, depth: int = 0) -> Any:
    """A JSON-compatible copy of ``value`` (dicts stay dicts; checked, bounded depth)."""
    if depth > 64:
        raise InvalidRequestError(field, "nested more than 64 levels deep")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequestError(field, "object keys must be strings")
            out[key] = _frozen_json(field, item, depth=depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_frozen_json(field, item, depth=depth + 1) for item in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidRequestError(field, f"holds a value JSON cannot carry: {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call. ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None
    strict: bool | None = None

    @classmethod
    def parse(cls, value: Any, where: str) -> Tool:
        """From a Tool, the OpenAI shape ``{"type": "function", "function": {...}}`` or
        the flat ``{"name", "description", "parameters"}``."""
        if isinstance(value, Tool):
            return value
        if not isinstance(value, Mapping):
            raise InvalidRequestError(where, "must be a tool object")
        if value.get("type", "function") != "function":
            raise InvalidRequestError(f"{where}.type", "only 'function' tools exist")
        if "function" in value:
            value = value["function"]
            if not isinstance(value, Mapping):
                raise InvalidRequestError(f"{where}.function", "must be an object")
        name = value.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise InvalidRequestError(
                f"{where}.name", "must be 1-64 characters of letters, digits, '_' or '-'"
            )
        description = value.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidRequestError(f"{where}.description", "must be a string")
        parameters = value.get("parameters")
        if parameters is not None:
            if not isinstance(parameters, Mapping):
                raise InvalidRequestError(f"{where}.parameters", "must be a JSON Schema object")
            parameters = _frozen_json(f"{where}.parameters", parameters)
        strict = value.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise InvalidRequestError(f"{where}.strict", "must be true or false")
        return cls(name, description, parameters, strict)

    def schema(self) -> dict[str, Any]:
        """``parameters``, or the empty object schema when the tool takes none."""
        return dict(self.parameters or {"type": "object", "properties": {}})

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's ``{"type": "function", "function": {...}}``."""
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = self.schema()
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``mode`` is auto, none, required, or function (then ``name`` is the function)."""

    mode: str = "auto"
    name: str | None = None

    @classmethod
    def parse(cls, value: Any, tools: tuple[Tool, ...]) -> ToolChoice:
        """From a ToolChoice, "auto"/"none"/"required", OpenAI's
        ``{"type": "function", "function": {"name": ...}}`` or Anthropic's
        ``{"type": "tool", "name": ...}``."""
        if isinstance(value, ToolChoice):
            choice = value
        elif isinstance(value, str):
            if value not in ("auto", "none", "required"):
                raise InvalidRequestError(
                    "tool_choice", f"unknown mode {value!r}; allowed: auto, none, required, "
                    "or {'type': 'function', 'function': {'name': ...}}"
                )
            choice = cls(value)
        elif isinstance(value, Mapping) and value.get("type") in _ANTHROPIC_MODES:
            choice = cls(_ANTHROPIC_MODES[value["type"]])
        elif isinstance(value, Mapping):
            function = value.get("function")
            name = function.get("name") if isinstance(function, Mapping) else value.get("name")
            if not isinstance(name, str):
                raise InvalidRequestError("tool_choice", "a named choice needs a function name")
            choice = cls("function", name)
        else:
            raise InvalidRequestError("tool_choice", "must be a mode string or an object")
        if choice.mode not in TOOL_CHOICE_MODES:
            raise InvalidRequestError("tool_choice", f"unknown mode {choice.mode!r}")
        if choice.mode == "function" and choice.name not in {t.name for t in tools}:
            raise InvalidRequestError(
                "tool_choice", f"names {choice.name!r}, which is not one of the tools"
            )
        if choice.mode in ("required", "function") and not tools:
            raise InvalidRequestError("tool_choice", f"{choice.mode!r} needs 'tools'")
        return choice

    def to_openai(self) -> str | dict[str, Any]:
        """OpenAI's shape: the mode string, or the named-function object."""
        if self.mode == "function":
            return {"type": "function", "function": {"name": self.name}}
        return self.mode


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for. ``arguments`` is the JSON text the model wrote (a
    JSON object: adapters refuse a reply whose arguments do not parse as one)."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """``arguments`` parsed (a dict)."""
        value = json.loads(self.arguments or "{}")
        return value if isinstance(value, dict) else {}

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def parse(cls, value: Any, where: str) -> ToolCall:
        """From a ToolCall or OpenAI's ``{"id", "type": "function", "function": {"name",
        "arguments"}}`` (``arguments`` a JSON string or an object)."""
        if isinstance(value, ToolCall):
            return value
        if not isinstance(value, Mapping):
            raise InvalidRequestError(where, "must be a tool call object")
        function = value.get("function", value)
        call_id = value.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(f"{where}.id", "must be a non-empty string")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise InvalidRequestError(f"{where}.function.name", "must be a string")
        arguments = function.get("arguments", "{}")
        if isinstance(arguments, Mapping):
            arguments = json.dumps(_frozen_json(f"{where}.function.arguments", arguments))
        if not isinstance(arguments, str):
            raise InvalidRequestError(f"{where}.function.arguments", "must be a JSON string")
        return cls(call_id, function["name"], arguments)


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call in a stream: ``index`` says which call it extends; ``id``
    and ``name`` come with its first piece, ``arguments`` text accumulates."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


def assemble_tool_calls(deltas: Iterable[ToolCallDelta]) -> tuple[ToolCall, ...]:
    """The whole calls from a stream's deltas, in index order."""
    calls: dict[int, list[str]] = {}
    for delta in deltas:
        entry = calls.setdefault(delta.index, ["", "", ""])
        if delta.id:
            entry[0] = delta.id
        if delta.name:
            entry[1] = delta.name
        entry[2] += delta.arguments
    return tuple(
        ToolCall(call_id or f"call_{index}", name, arguments or "{}")
        for index, (call_id, name, arguments) in sorted(calls.items())
    )


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image: ``url`` is ``https://...`` or ``data:image/<png|jpeg|gif|webp>;base64,...``;
    ``detail`` is OpenAI's low/high/auto hint (dropped where a protocol has none)."""

    url: str
    detail: str | None = None

    @property
    def is_data(self) -> bool:
        return self.url.startswith("data:")

    def media_type_and_data(self) -> tuple[str, str]:
        """For a ``data:`` URL: (``image/png``, the base64 text)."""
        header, _, data = self.url.partition(",")
        return header[5:].split(";", 1)[0], data


ContentPart = TextPart | ImagePart


def parse_parts(value: Any, where: str) -> tuple[ContentPart, ...]:
    """Content parts from OpenAI's ``[{"type": "text", "text"}, {"type": "image_url",
    "image_url": {"url", "detail"}}]`` (or these values)."""
    parts: list[ContentPart] = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        part: ContentPart
        if isinstance(item, (TextPart, ImagePart)):
            part = item
        elif isinstance(item, Mapping) and item.get("type") == "text":
            text = item.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError(f"{at}.text", "must be a string")
            part = TextPart(text)
        elif isinstance(item, Mapping) and item.get("type") == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            detail = image.get("detail") if isinstance(image, Mapping) else None
            part = ImagePart(url, detail) if isinstance(url, str) else ImagePart("")
        else:
            raise InvalidRequestError(at, "must be a 'text' or an 'image_url' part")
        if isinstance(part, ImagePart):
            _check_image(part, f"{at}.image_url")
        parts.append(part)
    if not parts:
        raise InvalidRequestError(where, "must hold at least one part")
    return tuple(parts)


def _check_image(part: ImagePart, where: str) -> None:
    url = part.url
    if url.startswith("https://"):
        if len(url) > MAX_IMAGE_URL_CHARS or any(c.isspace() for c in url):
            raise InvalidRequestError(
                f"{where}.url", f"an https URL without spaces, at most {MAX_IMAGE_URL_CHARS} chars"
            )
    elif not _DATA_URL.match(url):
        raise InvalidRequestError(
            f"{where}.url",
            "must be an https:// URL or a data:image/(png|jpeg|gif|webp);base64,... URL",
        )
    elif len(url) > MAX_IMAGE_DATA_CHARS:
        raise InvalidRequestError(
            f"{where}.url", f"a data: URL longer than {MAX_IMAGE_DATA_CHARS} characters"
        )
    if part.detail is not None and part.detail not in ("low", "high", "auto"):
        raise InvalidRequestError(f"{where}.detail", "must be low, high or auto")


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """``type`` text, json_object or json_schema (then ``schema``, ``name``, ``strict``)."""

    type: str = "text"
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool | None = None

    @classmethod
    def parse(cls, value: Any) -> ResponseFormat:
        """From a ResponseFormat or OpenAI's ``{"type": "json_schema", "json_schema":
        {"name", "schema", "strict"}}`` / ``{"type": "json_object"}`` / ``{"type":
        "text"}``."""
        if isinstance(value, ResponseFormat):
            return value
        if isinstance(value, str) and value in RESPONSE_FORMATS and value != "json_schema":
            return cls(value)
        model_schema = getattr(value, "model_json_schema", None)
        if isinstance(value, type) and callable(model_schema):  # a pydantic model class
            value = {
                "type": "json_schema",
                "json_schema": {"name": value.__name__[:64], "schema": model_schema()},
            }
        if not isinstance(value, Mapping):
            raise InvalidRequestError("response_format", "must be an object with a 'type'")
        kind = value.get("type")
        if kind not in RESPONSE_FORMATS:
            raise InvalidRequestError(
                "response_format.type",
                f"unknown type {kind!r}; allowed: {', '.join(RESPONSE_FORMATS)}",
            )
        if kind != "json_schema":
            return cls(kind)
        spec = value.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema"), Mapping):
            raise InvalidRequestError(
                "response_format.json_schema.schema", "must be a JSON Schema object"
            )
        name = spec.get("name", "response")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise InvalidRequestError(
                "response_format.json_schema.name",
                "must be 1-64 characters of letters, digits, '_' or '-'",
            )
        strict = spec.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise InvalidRequestError("response_format.json_schema.strict", "must be a boolean")
        schema = _frozen_json("response_format.json_schema.schema", spec["schema"])
        problem = schema_problem(schema)
        if problem:
            raise InvalidRequestError("response_format.json_schema.schema", problem)
        return cls("json_schema", schema, name, strict)

    def to_openai(self) -> dict[str, Any]:
        if self.type != "json_schema":
            return {"type": self.type}
        spec: dict[str, Any] = {"name": self.name, "schema": dict(self.schema or {})}
        if self.strict is not None:
            spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}


def parse_stop(value: Any) -> tuple[str, ...]:
    """``stop``: a string or up to four non-empty strings."""
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(s, str) and s for s in items
    ):
        raise InvalidRequestError("stop", "must be a non-empty string or a list of them")
    if len(items) > MAX_STOP_SEQUENCES:
        raise InvalidRequestError("stop", f"at most {MAX_STOP_SEQUENCES} sequences")
    return tuple(items)


def parse_tools(value: Any) -> tuple[Tool, ...] | None:
    """``tools``: a list of tools (OpenAI's or the flat shape, or :class:`Tool` values),
    at most :data:`MAX_TOOLS`, names unique. An empty list is no tools (None)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidRequestError("tools", "must be a list of tools")
    tools = tuple(Tool.parse(item, f"tools[{index}]") for index, item in enumerate(value))
    if len(tools) > MAX_TOOLS:
        raise InvalidRequestError("tools", f"at most {MAX_TOOLS} tools")
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        if tool.name in seen:
            raise InvalidRequestError(f"tools[{index}].name", f"{tool.name!r} is given twice")
        seen.add(tool.name)
    return tools or None


def parse_tool_calls(value: Any, where: str) -> tuple[ToolCall, ...]:
    """An assistant message's ``tool_calls`` (OpenAI's shape or :class:`ToolCall`)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidRequestError(where, "must be a list of tool calls")
    return tuple(ToolCall.parse(item, f"{where}[{index}]") for index, item in enumerate(value))


Content = str | tuple[ContentPart, ...] | None


def parse_content(role: str, value: Any, where: str, *, has_tool_calls: bool) -> Content:
    """A message's content for ``role``: a non-empty string or parts (images only in user
    messages); an assistant message with tool calls may have none; a tool result may be
    an empty string."""
    if value is None or value == "":
        if role == "assistant" and has_tool_calls:
            return None
        if role == "tool" and value == "":
            return ""
        raise InvalidRequestError(where, "must be a non-empty string")
    if isinstance(value, str):
        if not value.strip() and role != "tool":
            raise InvalidRequestError(where, "must be a non-empty string")
        return value
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidRequestError(where, "must be a string or a list of content parts")
    parts = parse_parts(value, where)
    if role != "user" and any(isinstance(p, ImagePart) for p in parts):
        raise InvalidRequestError(where, f"images are allowed only in user messages, not {role}")
    return parts


def text_of(content: Content) -> str:
    """The text of a message's content: the string, or its text parts joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.text for p in content if isinstance(p, TextPart))


def content_to_openai(content: Content) -> str | list[dict[str, Any]] | None:
    """Content in OpenAI's message shape (a string, or a list of parts)."""
    if content is None or isinstance(content, str):
        return content
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        else:
            image: dict[str, Any] = {"url": part.url}
            if part.detail is not None:
                image["detail"] = part.detail
            out.append({"type": "image_url", "image_url": image})
    return out


def images_of(content: Content) -> tuple[ImagePart, ...]:
    if content is None or isinstance(content, str):
        return ()
    return tuple(p for p in content if isinstance(p, ImagePart))


def parse_number(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False
) -> float | None:
    """An optional number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if low_open:
        allowed = f"greater than {low:g} and at most {high:g}"
    else:
        allowed = f"between {low:g} and {high:g}"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidRequestError(name, f"must be a number {allowed}")
    if value > high or value < low or (low_open and value == low):
        raise InvalidRequestError(name, f"must be {allowed}, got {value}")
    return float(value)


#: ``seed`` is carried as a signed 64-bit integer by every protocol that has one.
SEED_RANGE = (-(2**63), 2**63 - 1)


def parse_seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError("seed", "must be an integer")
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise InvalidRequestError("seed", "must fit in a signed 64-bit integer")
    return value


def needed_capabilities(
    *,
    tools: tuple[Tool, ...] | None,
    tool_choice: ToolChoice | None,
    response_format: ResponseFormat | None,
    stop: tuple[str, ...] | None,
    seed: int | None,
    images: Iterable[ImagePart],
    tool_history: bool,
) -> frozenset[str]:
    """The capabilities (:data:`CAPABILITIES`) a provider needs to answer a request:
    ``tools`` when tools are offered (and tool_choice is not none) or the conversation
    holds tool calls or tool results (a provider without tools cannot carry them);
    ``json_object``/``json_schema`` per ``response_format``; ``images`` for data: images
    and ``image_urls`` for https ones; ``stop``; ``seed``."""
    needed: set[str] = set()
    if (tools and (tool_choice is None or tool_choice.mode != "none")) or tool_history:
        needed.add("tools")
    if response_format is not None and response_format.type != "text":
        needed.add(response_format.type)
    for image in images:
        needed.add("images" if image.is_data else "image_urls")
    if stop:
        needed.add("stop")
    if seed is not None:
        needed.add("seed")
    return frozenset(needed)


def unsupported_reason(missing: Iterable[str]) -> str:
    """The trail's reason for skipping a provider that lacks ``missing`` capabilities:
    ``no tool support`` (the first missing one, in :data:`CAPABILITIES` order)."""
    first = next(c for c in CAPABILITIES if c in set(missing))
    return f"no {CAPABILITIES[first]} support"


def as_deltas(calls: Iterable[ToolCall]) -> tuple[ToolCallDelta, ...]:
    """Whole calls as stream deltas, one each (a cached answer replayed as a stream)."""
    return tuple(ToolCallDelta(i, c.id, c.name, c.arguments) for i, c in enumerate(calls))


def tool_call_problem(calls: Iterable[ToolCall]) -> str | None:
    """None when every call has a name and arguments that are a JSON object; else what
    is wrong (the reply is malformed: the next provider is tried)."""
    for index, call in enumerate(calls):
        if not call.name:
            return f"tool call {index} has no function name"
        try:
            arguments = json.loads(call.arguments or "{}")
        except (ValueError, RecursionError):
            return f"tool call {index} ({call.name}): arguments are not JSON"
        if not isinstance(arguments, dict):
            return f"tool call {index} ({call.name}): arguments are not a JSON object"
    return None


def parse_output(form: ResponseFormat, content: str) -> Any:
    """The JSON a ``json_object``/``json_schema`` answer holds, checked against the
    schema; :class:`ValueError` saying why when it is not JSON or does not validate."""
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        raise ValueError("the answer is not JSON") from None
    if form.type == "json_schema" and form.schema is not None:
        problem = validate(value, form.schema)
        if problem:
            raise ValueError(f"the answer does not match the schema: {problem}")
    return value

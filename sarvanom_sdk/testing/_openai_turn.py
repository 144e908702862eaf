"""A Chat Completions request's chat surface, read into a :class:`~._chat.Turn`, with
the 400s OpenAI answers for malformed parts (raised as :class:`~._chat.WireError`).

Read (the documented request shapes)::

    tools            [{"type": "function", "function": {"name", "description"?,
                      "parameters"?, "strict"?}}]
    tool_choice      "none" | "auto" | "required" | {"type": "function",
                      "function": {"name"}}
    tool result      {"role": "tool", "tool_call_id", "content": str | [text parts]}
    image part       {"type": "image_url", "image_url": {"url": "https://..." |
                      "data:image/<png|jpeg|gif|webp>;base64,<data>", "detail"?}}
    response_format  {"type": "text"} | {"type": "json_object"} |
                     {"type": "json_schema", "json_schema": {"name", "schema"?,
                      "strict"?}}
    stop             a string or up to 4 strings

``seed``, ``top_p``, penalties and ``parallel_tool_calls`` are accepted and change
nothing. Used by OpenAI, the Hugging Face router and OpenAI-compatible GPU boxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._answer import text_of
from ._chat import ToolSpec, Turn, WireError, base64_error, stop_list

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_STOP = 4


def read_turn(body: Mapping[str, Any]) -> Turn:
    """The turn ``body`` asks for; :class:`WireError` for what OpenAI refuses."""
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    tools = _tools(body.get("tools"))
    choice, name = _choice(body.get("tool_choice"), tools)
    fmt, schema = _format(body.get("response_format"))
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > MAX_STOP:
        raise WireError(
            f"Invalid 'stop': array too long. Expected an array with maximum length "
            f"{MAX_STOP}, but got an array with length {len(stop)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    return Turn(
        tools=tools,
        choice=choice,
        choice_name=name,
        tool_results=_tool_results(messages),
        images=_images(messages),
        format=fmt,
        schema=schema,
        stop=stop_list(stop),
    )


def _tools(value: Any) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise WireError(
            "Invalid type for 'tools': expected an array of objects.",
            param="tools",
            code="invalid_type",
        )
    specs = []
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            where = f"tools[{index}].function"
            missing = f"{where}.name" if isinstance(function, Mapping) else where
            raise WireError(
                f"Missing required parameter: '{missing}'.",
                param=missing,
                code="missing_required_parameter",
            )
        assert isinstance(function, Mapping)  # the name above came from it
        specs.append(ToolSpec(name, function.get("parameters")))
    return tuple(specs)


def _choice(value: Any, tools: tuple[ToolSpec, ...]) -> tuple[Any, str | None]:
    if value is None:
        return "auto", None
    if not tools:
        raise WireError(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
            "are specified.",
            param="tool_choice",
            code=None,
        )
    if value in ("none", "auto", "required"):
        return value, None
    function = value.get("function") if isinstance(value, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str):
        raise WireError(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or "
            "{\"type\": \"function\", \"function\": {\"name\": ...}}.",
            param="tool_choice",
            code="invalid_value",
        )
    if name not in {tool.name for tool in tools}:
        raise WireError(
            f"Invalid value for 'tool_choice': function '{name}' is not in 'tools'.",
            param="tool_choice",
            code="invalid_value",
        )
    return "tool", name


def _format(value: Any) -> tuple[Any, Any]:
    if value is None:
        return "text", None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return "text", None
    if kind == "json_object":
        return "json", None
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, Mapping):
            raise WireError(
                "Missing required parameter: 'response_format.json_schema'.",
                param="response_format.json_schema",
                code="missing_required_parameter",
            )
        if not isinstance(spec.get("name"), str):
            raise WireError(
                "Missing required parameter: 'response_format.json_schema.name'.",
                param="response_format.json_schema.name",
                code="missing_required_parameter",
            )
        return "schema", spec.get("schema", {})
    raise WireError(
        "Invalid value for 'response_format.type': expected one of 'text', 'json_object' "
        "or 'json_schema'.",
        param="response_format.type",
        code="invalid_value",
    )


def _tool_results(messages: list[Any]) -> tuple[str, ...] | None:
    """The contents of the ``tool`` messages that end the conversation."""
    results: list[str] = []
    for message in reversed(messages):
        if not (isinstance(message, Mapping) and message.get("role") == "tool"):
            break
        results.append(text_of(message.get("content")))
    return tuple(reversed(results)) if results else None


def _images(messages: list[Any]) -> int:
    """How many image parts the conversation holds; a malformed one raises."""
    count = 0
    for m_index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for p_index, part in enumerate(content):
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                _check_image(part.get("image_url"), f"messages[{m_index}].content[{p_index}]")
                count += 1
    return count


def _check_image(image: Any, where: str) -> None:
    url = image.get("url") if isinstance(image, Mapping) else None
    param = f"{where}.image_url.url"
    if not isinstance(url, str) or not url:
        raise WireError(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    if url.startswith(("https://", "http://")):
        return
    head, comma, data = url.partition(",")
    media = head[5:].removesuffix(";base64") if head.startswith("data:") else ""
    if not comma or not head.endswith(";base64") or media not in IMAGE_TYPES:
        raise WireError(
            f"Invalid '{param}'. Expected a base64-encoded data URL with an image MIME type "
            "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), or an http(s) URL.",
            param=param,
            code="invalid_value",
        )
    if not data or base64_error(data) is not None:
        raise WireError(
            "You uploaded an unsupported image. Please make sure your image is below 20 MB "
            "in size and is of one the following formats: ['png', 'jpeg', 'gif', 'webp'].",
            param=None,
            code="invalid_image_format",
        )

"""A Messages API request's chat surface, read into a :class:`~._chat.Turn`, with the
400s Anthropic answers for malformed parts (raised as :class:`~._chat.WireError`; its
messages name the field by its path, as the API's validation errors do).

Read (the documented request shapes)::

    tools           [{"name", "description"?, "input_schema"}] (server tools, which have
                     a "type" and no "input_schema", are ignored)
    tool_choice     {"type": "auto" | "any" | "none"} | {"type": "tool", "name"}
    tool result     a final user turn holding {"type": "tool_result", "tool_use_id",
                     "content"?: str | [text blocks], "is_error"?}
    image block     {"type": "image", "source": {"type": "base64", "media_type":
                     "image/jpeg" | "image/png" | "image/gif" | "image/webp", "data"}}
                    or {"type": "image", "source": {"type": "url", "url"}}
    stop_sequences  a list of strings

The Messages API has no response format: structured output is a forced tool, which the
tools rule covers. ``top_p``, ``top_k`` and ``temperature`` are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._answer import text_of
from ._chat import ToolSpec, Turn, WireError, base64_error, stop_list

MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_MEDIA_LIST = "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"


def read_turn(body: Mapping[str, Any]) -> Turn:
    """The turn ``body`` asks for; :class:`WireError` for what Anthropic refuses."""
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    tools = _tools(body.get("tools"))
    choice, name = _choice(body.get("tool_choice"), tools)
    return Turn(
        tools=tools,
        choice=choice,
        choice_name=name,
        tool_results=_tool_results(messages),
        images=_images(messages),
        stop=stop_list(body.get("stop_sequences")),
    )


def _tools(value: Any) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise WireError("tools: Input should be a valid list")
    specs = []
    for index, tool in enumerate(value):
        if not isinstance(tool, Mapping):
            raise WireError(f"tools.{index}: Input should be a valid dictionary")
        if "input_schema" not in tool and tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search, code execution...)
        for field in ("name", "input_schema"):
            if field not in tool:
                raise WireError(f"tools.{index}.custom.{field}: Field required")
        specs.append(ToolSpec(str(tool["name"]), tool["input_schema"]))
    return tuple(specs)


def _choice(value: Any, tools: tuple[ToolSpec, ...]) -> tuple[Any, str | None]:
    if value is None:
        return "auto", None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind in ("auto", "none"):
        return kind, None
    if kind == "any":
        return "required", None
    if kind == "tool":
        name = value.get("name")
        if not isinstance(name, str):
            raise WireError("tool_choice.tool.name: Field required")
        if name not in {tool.name for tool in tools}:
            raise WireError(f"Tool '{name}' not found in provided tools")
        return "tool", name
    raise WireError(
        "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', "
        "'tool', 'none'"
    )


def _tool_results(messages: list[Any]) -> tuple[str, ...] | None:
    """The ``tool_result`` blocks of the final user turn, as text."""
    last = messages[-1] if messages else None
    content = last.get("content") if isinstance(last, Mapping) else None
    if not (isinstance(last, Mapping) and last.get("role") == "user" and isinstance(content, list)):
        return None
    results = [
        text_of(block.get("content"))
        for block in content
        if isinstance(block, Mapping) and block.get("type") == "tool_result"
    ]
    return tuple(results) if results else None


def _images(messages: list[Any]) -> int:
    count = 0
    for m_index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for b_index, block in enumerate(content):
            if isinstance(block, Mapping) and block.get("type") == "image":
                _check_image(block.get("source"), f"messages.{m_index}.content.{b_index}.image")
                count += 1
    return count


def _check_image(source: Any, where: str) -> None:
    if not isinstance(source, Mapping):
        raise WireError(f"{where}.source: Field required")
    kind = source.get("type")
    if kind == "url":
        if not isinstance(source.get("url"), str):
            raise WireError(f"{where}.source.url.url: Field required")
        return
    if kind != "base64":
        raise WireError(
            f"{where}.source: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags: 'base64', 'url'"
        )
    for field in ("media_type", "data"):
        if field not in source:
            raise WireError(f"{where}.source.base64.{field}: Field required")
    if source["media_type"] not in MEDIA_TYPES:
        raise WireError(f"{where}.source.base64.media_type: Input should be {_MEDIA_LIST}")
    data = source["data"]
    if not isinstance(data, str) or not data or base64_error(data) is not None:
        raise WireError(f"{where}.source.base64.data: The image data is not valid base64.")

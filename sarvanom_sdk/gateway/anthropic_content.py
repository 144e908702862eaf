"""Anthropic's conversation shapes translated to the SDK's (OpenAI-shaped) ones, sans-IO:
messages and their content blocks, ``tools``, ``tool_choice``. Every refusal is a 400
:class:`~.limits.GatewayError` naming the field.

=============================================== ===============================================
Anthropic                                       SDK (:mod:`sarvanom_sdk.chat`)
=============================================== ===============================================
``text`` blocks                                 text (a message's text blocks joined by "\\n")
``image`` block, ``source.type: base64``        ``image_url`` part ``data:<media_type>;base64,``
``image`` block, ``source.type: url``           ``image_url`` part with that URL
assistant ``tool_use`` {id, name, input}        ``tool_calls`` (arguments: ``input`` as JSON)
user ``tool_result`` {tool_use_id, content,     a ``tool`` message (``tool_call_id``), before
is_error}                                       the user's other blocks; ``is_error`` prefixes
                                                the text with "Error: "
assistant ``thinking``/``redacted_thinking``    dropped (a model's earlier thinking)
``tools`` [{name, description, input_schema}]   ``tools`` (``parameters``: ``input_schema``)
``tool_choice`` auto/any/tool/none              auto/required/function/none;
                                                ``disable_parallel_tool_use``:
                                                ``parallel_tool_calls: false``
=============================================== ===============================================

Other block types (documents, server tools' blocks...) and server tools (a ``type`` other
than ``custom``) are refused with 400 ``unsupported_parameter``. ``cache_control`` on
blocks and tools is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .limits import GatewayError

_DROPPED = frozenset({"thinking", "redacted_thinking"})
_USER_BLOCKS = ("text", "image", "tool_result")
_ASSISTANT_BLOCKS = ("text", "tool_use", "thinking", "redacted_thinking")


def bad(field: str, message: str) -> GatewayError:
    """400 about ``field`` (the message begins with it)."""
    return GatewayError.bad_request(
        field.partition("[")[0].partition(".")[0], f"{field}: {message}"
    )


def _unsupported(where: str, kind: Any, allowed: tuple[str, ...]) -> GatewayError:
    return GatewayError.bad_request(
        where.partition("[")[0],
        f"{where}.type: {str(kind)[:50]!r} blocks are not supported by this gateway here; "
        f"allowed: {', '.join(allowed)}",
        code="unsupported_parameter",
    )


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad(where, "must be a string")
    return value


def text_blocks(value: Any, where: str) -> str:
    """``system``: a string, or the text of a list of ``text`` blocks joined by newlines."""
    if isinstance(value, str):
        return value
    blocks = _block_list(value, where)
    texts = []
    for index, block in enumerate(blocks):
        here = f"{where}[{index}]"
        if block.get("type") != "text":
            raise _unsupported(here, block.get("type"), ("text",))
        texts.append(_string(block.get("text"), f"{here}.text"))
    return "\n".join(texts)


def _block_list(value: Any, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad(where, "must be a string or a non-empty array of content blocks")
    for index, block in enumerate(value):
        if not isinstance(block, dict):
            raise bad(f"{where}[{index}]", "must be a content block object")
    return value


def _image(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An ``image`` block as OpenAI's ``image_url`` part (the SDK checks the URL)."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{where}.source", "must be an object with 'type' base64 or url")
    kind = source.get("type")
    if kind == "base64":
        media_type = _string(source.get("media_type"), f"{where}.source.media_type")
        data = _string(source.get("data"), f"{where}.source.data")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        url = _string(source.get("url"), f"{where}.source.url")
    else:
        raise bad(f"{where}.source.type", f"must be 'base64' or 'url', got {str(kind)[:50]!r}")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A ``tool_result`` block as a ``tool`` message."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{where}.tool_use_id", "must be a non-empty string")
    content = block.get("content", "")
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            here = f"{where}.content[{index}]"
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else part
                raise _unsupported(here, kind, ("text",))
            texts.append(_string(part.get("text"), f"{here}.text"))
        content = "\n".join(texts)
    content = _string(content, f"{where}.content")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise bad(f"{where}.is_error", "must be true or false")
    if is_error:
        content = f"Error: {content}"
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _tool_use(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A ``tool_use`` block as an OpenAI tool call."""
    call_id = block.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise bad(f"{where}.id", "must be a non-empty string")
    name = _string(block.get("name"), f"{where}.name")
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise bad(f"{where}.input", "must be an object")
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]] | None:
    """Parts as a message's content: text alone joined into a string."""
    if not parts:
        return None
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _user(content: Any, where: str) -> list[dict[str, Any]]:
    """A user turn: its tool results (as ``tool`` messages), then its text and images."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(_block_list(content, where)):
        here, kind = f"{where}[{index}]", block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": _string(block.get("text"), f"{here}.text")})
        elif kind == "image":
            parts.append(_image(block, here))
        elif kind == "tool_result":
            results.append(_tool_result(block, here))
        else:
            raise _unsupported(here, kind, _USER_BLOCKS)
    joined = _content(parts)
    return [*results, *([{"role": "user", "content": joined}] if joined is not None else [])]


def _assistant(content: Any, where: str) -> list[dict[str, Any]]:
    """An assistant turn: its text, and its ``tool_use`` blocks as ``tool_calls``."""
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(_block_list(content, where)):
        here, kind = f"{where}[{index}]", block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": _string(block.get("text"), f"{here}.text")})
        elif kind == "tool_use":
            calls.append(_tool_use(block, here))
        elif kind not in _DROPPED:
            raise _unsupported(here, kind, _ASSISTANT_BLOCKS)
    if not parts and not calls:
        return []  # nothing but earlier thinking
    message: dict[str, Any] = {"role": "assistant", "content": _content(parts)}
    if calls:
        message["tool_calls"] = calls
    return [message]


def messages(value: Any) -> list[dict[str, Any]]:
    """Anthropic's ``messages`` as the SDK's OpenAI-shaped message dicts."""
    if not isinstance(value, list) or not value:
        raise bad("messages", "must be a non-empty array of messages")
    out: list[dict[str, Any]] = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad(where, "must be an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            raise bad(
                f"{where}.role",
                f"must be 'user' or 'assistant', got {str(role)[:50]!r} "
                "(a system prompt goes in the top-level 'system' field)",
            )
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        else:
            out.extend(
                _user(content, f"{where}.content")
                if role == "user"
                else _assistant(content, f"{where}.content")
            )
    if not out:
        raise bad("messages", "holds nothing but earlier thinking")
    return out


def tools(value: Any) -> list[dict[str, Any]] | None:
    """Anthropic's ``tools`` (client tools) in the SDK's flat shape."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad("tools", "must be an array of tools")
    out = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise bad(where, "must be a tool object")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise GatewayError.bad_request(
                "tools",
                f"{where}.type: {str(kind)[:50]!r}: server tools are not supported by this "
                "gateway; give client tools (name, description, input_schema)",
                code="unsupported_parameter",
            )
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise bad(f"{where}.input_schema", "must be a JSON Schema object")
        flat: dict[str, Any] = {"name": tool.get("name"), "parameters": schema}
        for key in ("description", "strict"):
            if tool.get(key) is not None:
                flat[key] = tool[key]
        out.append(flat)
    return out


def tool_choice(value: Any) -> tuple[dict[str, Any] | None, bool | None]:
    """``(tool_choice for the SDK, parallel_tool_calls)`` from Anthropic's ``tool_choice``."""
    if value is None:
        return None, None
    if not isinstance(value, dict) or value.get("type") not in ("auto", "any", "tool", "none"):
        raise bad("tool_choice", "must be an object with 'type' auto, any, tool or none")
    disable = value.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise bad("tool_choice.disable_parallel_tool_use", "must be true or false")
    choice = {"type": value["type"]}
    if value["type"] == "tool":
        choice["name"] = _string(value.get("name"), "tool_choice.name")
    return choice, (False if disable else None)

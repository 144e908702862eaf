"""The chat surface in Ollama's ``/api/chat`` shapes (issue 14): messages with images,
tool calls and tool results; tools; ``format``; sampling options; and a reply's
``message.tool_calls`` back into :class:`ToolCall` values.

Requests (documented shapes)::

    user images   {"role": "user", "content", "images": [base64, ...]}  (data: URLs only)
    tool call     {"role": "assistant", "content", "tool_calls":
                   [{"function": {"name", "arguments": {...object...}}}]}
    tool result   {"role": "tool", "content", "tool_name"?}  (the called function's name,
                  from the message's ``name`` or the call its ``tool_call_id`` answers)
    tools         [{"type": "function", "function": {"name", "description"?, "parameters"}}]
    format        "json" (json_object) or the JSON schema itself (json_schema)
    options       num_predict, temperature, top_p?, seed?, stop?, presence_penalty?,
                  frequency_penalty?

Ollama has no ``tool_choice``: ``none`` sends no tools, a named function sends only that
tool, ``required`` cannot be enforced (the tools are sent, the model may answer in
text); ``parallel_tool_calls`` has no equivalent and is left out.

Replies: ``message.tool_calls`` holds whole calls (in streams too, in one chunk); ids are
the call's ``id`` when the server gives one, else ``call_<n>`` (``n`` counting the calls
of the reply or stream from 0), so the same bytes always give the same ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..chat import ImagePart, ToolCall
from ..errors import BadResponseError, InvalidRequestError
from ..types import LLMRequest, Message
from ._chat_wire import image_data, normalised_finish, reply_arguments, request_arguments

__all__ = ["DONE_REASONS", "options", "output_format", "read_calls", "turns", "wire_tools"]

#: ``done_reason`` to the SDK's finish reasons (others, e.g. ``load``, are passed on).
DONE_REASONS: Mapping[str, str] = {"stop": "stop", "length": "length"}


def turns(request: LLMRequest) -> list[dict[str, Any]]:
    """The conversation as ``/api/chat`` messages, ``request.system`` first."""
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    if request.prompt is not None:
        out.append({"role": "user", "content": request.prompt})
        return out
    names: dict[str, str] = {}
    for index, message in enumerate(request.messages or ()):
        out.append(_turn(message, f"messages[{index}]", names))
    return out


def _turn(message: Message, where: str, names: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": message.role, "content": message.text}
    images = _images(message, where)
    if images:
        entry["images"] = images
    if message.tool_calls:
        entry["tool_calls"] = [
            {
                "function": {
                    "name": call.name,
                    "arguments": request_arguments(
                        call, f"{where}.tool_calls[{number}].function.arguments"
                    ),
                }
            }
            for number, call in enumerate(message.tool_calls)
        ]
        names.update((call.id, call.name) for call in message.tool_calls)
    if message.role == "tool":
        name = message.name or names.get(message.tool_call_id or "")
        if name:
            entry["tool_name"] = name
    return entry


def _images(message: Message, where: str) -> list[str]:
    """The base64 data of a message's images; an https image cannot be sent (Ollama
    takes image bytes only): :class:`InvalidRequestError` naming the part."""
    if message.content is None or isinstance(message.content, str):
        return []
    images = []
    for number, part in enumerate(message.content):
        if not isinstance(part, ImagePart):
            continue
        if not part.is_data:
            raise InvalidRequestError(
                f"{where}.content[{number}].image_url.url",
                "ollama_local takes images only as data: URLs (base64), not https URLs",
            )
        images.append(image_data(part)[1])
    return images


def wire_tools(request: LLMRequest) -> list[dict[str, Any]] | None:
    """``tools`` for the body (None: leave the key out), narrowed by ``tool_choice``."""
    tools = request.tools or ()
    choice = request.tool_choice
    if choice is not None and choice.mode == "none":
        return None
    if choice is not None and choice.mode == "function":
        tools = tuple(tool for tool in tools if tool.name == choice.name)
    out = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = tool.schema()
        out.append({"type": "function", "function": function})
    return out or None


def output_format(request: LLMRequest) -> str | dict[str, Any] | None:
    """``format``: "json" for json_object, the schema for json_schema, else None."""
    form = request.response_format
    if form is None:
        return None
    if form.type == "json_object":
        return "json"
    if form.type == "json_schema" and form.schema is not None:
        return dict(form.schema)
    return None


#: Request fields carried as ``options`` of the same name when set.
_OPTIONAL = ("top_p", "seed", "presence_penalty", "frequency_penalty")


def options(request: LLMRequest) -> dict[str, Any]:
    """``options``: ``num_predict``, ``temperature``, and whichever of ``top_p``,
    ``seed``, ``stop``, ``presence_penalty``, ``frequency_penalty`` the request sets."""
    out: dict[str, Any] = {"num_predict": request.max_tokens, "temperature": request.temperature}
    for name in _OPTIONAL:
        value = getattr(request, name)
        if value is not None:
            out[name] = value
    if request.stop:
        out["stop"] = list(request.stop)
    return out


def read_calls(value: Any, provider: str, first: int = 0) -> tuple[ToolCall, ...]:
    """``message.tool_calls`` as :class:`ToolCall` values (``first``: the index of the
    first, for ids made up as ``call_<index>``); :class:`BadResponseError` for a list
    that is not one of calls, a call without a name, or arguments that are not an
    object."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadResponseError("message.tool_calls is not a list", provider=provider)
    calls = []
    for number, item in enumerate(value, start=first):
        function = item.get("function") if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(function, dict) or not isinstance(name, str) or not name:
            raise BadResponseError("a tool call without a function name", provider=provider)
        call_id = item.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{number}"
        arguments = reply_arguments(function.get("arguments", {}), provider, f"{name} arguments")
        calls.append(ToolCall(call_id, name, arguments))
    return tuple(calls)


def finish(done_reason: str | None, calls: bool) -> str | None:
    """``done_reason`` normalised; ``tool_calls`` when the reply holds calls."""
    return normalised_finish(done_reason, DONE_REASONS, calls)

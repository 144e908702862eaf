"""The chat surface in Anthropic's Messages API shapes (issue 14): conversation turns with
images, tool calls and tool results; tools and ``tool_choice``; structured output through
a forced tool; and the reply's content blocks back into text, tool calls and JSON.

Requests (documented shapes)::

    user image   {"type": "image", "source": {"type": "base64", "media_type", "data"}}
                 {"type": "image", "source": {"type": "url", "url"}}
    tool call    assistant {"type": "tool_use", "id", "name", "input": {...}} (ids made
                 valid for the API: :func:`wire_id`)
    tool result  user {"type": "tool_result", "tool_use_id", "content"?} — consecutive
                 results share one user turn, as the API requires
    tools        [{"name", "description"?, "input_schema"}]
    tool_choice  auto {"type": "auto"}, required {"type": "any"}, a function
                 {"type": "tool", "name"}, none {"type": "none"};
                 parallel_tool_calls=False adds "disable_parallel_tool_use": true

Structured output (``response_format`` json_object / json_schema): one more tool,
:data:`ANSWER_TOOL`, whose ``input_schema`` is the schema, and a ``tool_choice`` that
makes the model call it (forced alone; ``any`` when the caller's own tools may be
called instead). Its ``input`` is the answer: the reply's JSON ``content``. A schema
whose root is not an object (Anthropic's ``input_schema`` must be one) is wrapped as the
``value`` property of :data:`ANSWER_VALUE_TOOL` and unwrapped from the reply. The names
are reserved: a caller's tool may not use them (the reply is read without the request,
so the name is what tells the answer from a call). A conversation that ends with an
assistant prefill (a cut JSON answer being continued) gets no answer tool: the model
continues the JSON as text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..chat import ImagePart, ResponseFormat, TextPart, Tool, ToolCall
from ..errors import BadResponseError, InvalidRequestError
from ..types import LLMRequest, Message
from ._chat_wire import image_data, normalised_finish, reply_arguments, request_arguments
from ._wire import as_dict

__all__ = [
    "ANSWER_TOOL",
    "ANSWER_VALUE_TOOL",
    "answer_text",
    "conversation",
    "finish_reason",
    "tools_and_choice",
]

#: The tool whose input is a structured answer (an object schema, or json_object).
ANSWER_TOOL = "sarvanom_answer"
#: The tool whose input's ``value`` is a structured answer (a schema of another root).
ANSWER_VALUE_TOOL = "sarvanom_answer_value"
ANSWER_TOOLS = frozenset({ANSWER_TOOL, ANSWER_VALUE_TOOL})

#: ``stop_reason`` to the SDK's finish reasons (unknown values are passed on).
STOP_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


# -- requests ---------------------------------------------------------------------------


def conversation(request: LLMRequest) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts (``request.system`` first, then system messages in order) and the
    user/assistant turns of ``request`` in the Messages API's shapes."""
    system = [request.system] if request.system else []
    if request.prompt is not None:
        return system, [{"role": "user", "content": request.prompt}]
    turns: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the open user turn of tool results
    for index, message in enumerate(request.messages or ()):
        where = f"messages[{index}]"
        if message.role == "system":
            system.append(message.text)
        elif message.role == "tool":
            if results is None:
                results = []
                turns.append({"role": "user", "content": results})
            results.append(_tool_result(message))
            continue
        elif message.role == "assistant":
            turns.append({"role": "assistant", "content": _assistant_content(message, where)})
        else:
            turns.append({"role": "user", "content": _user_content(message)})
        results = None
    return system, turns


def _user_content(message: Message) -> str | list[dict[str, Any]]:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    return [_part_block(part) for part in content]


def _part_block(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.is_data:
        media_type, data = image_data(part)
        source = {"type": "base64", "media_type": media_type, "data": data}
    else:
        source = {"type": "url", "url": part.url}
    return {"type": "image", "source": source}


def _assistant_content(message: Message, where: str) -> str | list[dict[str, Any]]:
    """Plain text as a string (a final one is a prefill the model continues); with tool
    calls, a text block (if any) then one ``tool_use`` block per call."""
    if not message.tool_calls:
        return message.text
    blocks: list[dict[str, Any]] = []
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    for number, call in enumerate(message.tool_calls):
        arguments = request_arguments(call, f"{where}.tool_calls[{number}].function.arguments")
        blocks.append(
            {"type": "tool_use", "id": wire_id(call.id), "name": call.name, "input": arguments}
        )
    return blocks


def _tool_result(message: Message) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": wire_id(message.tool_call_id)}
    if message.text:
        block["content"] = message.text
    return block


#: The ids the Messages API accepts for ``tool_use`` blocks.
_ID = re.compile(r"[A-Za-z0-9_-]+")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


def wire_id(call_id: str | None) -> str:
    """A tool call id as the Messages API accepts it (``^[a-zA-Z0-9_-]+$``): unchanged
    when valid; otherwise (an id another provider made, e.g. with ``:`` or ``.``) the
    other characters become ``_`` and a digest of the original is appended, so a call
    and its result still match and two ids never merge into one."""
    text = call_id or ""
    if _ID.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{_NOT_ID.sub('_', text)}_{digest}"


def tools_and_choice(
    request: LLMRequest,
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """``tools`` and ``tool_choice`` for the body (None: leave the key out), the answer
    tool included for structured output."""
    own = request.tools or ()
    for index, tool in enumerate(own):
        if tool.name in ANSWER_TOOLS:
            raise InvalidRequestError(
                f"tools[{index}].name",
                f"{tool.name!r} is reserved (the anthropic adapter's structured-output tool)",
            )
    tools = [_tool_block(tool) for tool in own]
    choice = request.tool_choice
    mode = choice.mode if choice is not None else None
    named = choice.name if choice is not None and choice.mode == "function" else None
    answer = None if _prefilled(request) else _answer_tool(request.response_format)
    wire: dict[str, Any] | None
    if answer is not None:
        tools.append(answer)
        if named is not None:
            wire = {"type": "tool", "name": named}
        elif own and mode != "none":  # a call of the caller's tools, or the answer
            wire = {"type": "any"}
        else:
            wire = {"type": "tool", "name": answer["name"], "disable_parallel_tool_use": True}
    elif not tools:
        return None, None
    elif named is not None:
        wire = {"type": "tool", "name": named}
    elif mode is not None:
        wire = {"type": _CHOICE_TYPES[mode]}
    elif request.parallel_tool_calls is False:
        wire = {"type": "auto"}
    else:
        wire = None
    if request.parallel_tool_calls is False and wire is not None and wire["type"] != "none":
        wire["disable_parallel_tool_use"] = True
    return tools, wire


def _prefilled(request: LLMRequest) -> bool:
    """The conversation ends with assistant text the model is to continue (a prefill:
    the caller's, or a cut stream's text sent on by ``stream_recovery="continue"``).
    Structured output then continues that JSON text instead of calling the answer tool,
    which would start a new answer after the part already delivered."""
    messages = request.messages or ()
    return bool(messages) and messages[-1].role == "assistant" and not messages[-1].tool_calls


#: ``tool_choice`` modes without a name, as the Messages API's types.
_CHOICE_TYPES = {"auto": "auto", "required": "any", "none": "none"}


def _tool_block(tool: Tool) -> dict[str, Any]:
    block: dict[str, Any] = {"name": tool.name}
    if tool.description:
        block["description"] = tool.description
    block["input_schema"] = tool.schema()
    return block


def _answer_tool(form: ResponseFormat | None) -> dict[str, Any] | None:
    if form is None or form.type not in ("json_object", "json_schema"):
        return None
    if form.type == "json_object" or form.schema is None:
        name, schema, what = ANSWER_TOOL, {"type": "object"}, "a JSON object"
    else:
        schema = dict(form.schema)
        what = f"JSON matching the schema {form.name!r}"
        if schema.get("type") == "object" or ("type" not in schema and "properties" in schema):
            name, schema = ANSWER_TOOL, {**schema, "type": "object"}
        else:
            name, schema = ANSWER_VALUE_TOOL, _wrapped(schema)
    holder = "its input's 'value'" if name == ANSWER_VALUE_TOOL else "its input"
    description = f"Give your final answer by calling this tool: {holder} is the answer, {what}."
    return {"name": name, "description": description, "input_schema": schema}


#: Schema keywords that hold definitions referred to from the root (``#/$defs/...``).
_DEFINITIONS = ("$defs", "definitions")


def _wrapped(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema whose ``value`` property is ``schema``; its definitions stay at
    the root, where its ``$ref``s point."""
    inner = {k: v for k, v in schema.items() if k not in _DEFINITIONS}
    outer: dict[str, Any] = {
        "type": "object",
        "properties": {"value": inner},
        "required": ["value"],
    }
    outer.update({k: schema[k] for k in _DEFINITIONS if k in schema})
    return outer


# -- replies ----------------------------------------------------------------------------


def answer_text(name: str, value: Any, provider: str) -> str:
    """The JSON text of an answer tool's ``input`` (its ``value`` for the wrapped form);
    :class:`BadResponseError` if the input is not the object the tool asked for."""
    if not isinstance(value, dict) or (name == ANSWER_VALUE_TOOL and "value" not in value):
        raise BadResponseError(
            f"the {name} tool's input is not the answer object it asked for", provider=provider
        )
    return json.dumps(value["value"] if name == ANSWER_VALUE_TOOL else value)


def tool_call(block: Mapping[str, Any], provider: str) -> ToolCall:
    """A ``tool_use`` block as a :class:`ToolCall` (arguments: ``json.dumps(input)``)."""
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise BadResponseError("a tool_use block without its id or name", provider=provider)
    return ToolCall(call_id, name, reply_arguments(block.get("input"), provider, f"{name} input"))


def read_blocks(
    blocks: Iterable[Any], provider: str
) -> tuple[str, str, tuple[ToolCall, ...], str | None]:
    """A reply's content blocks: joined text, joined thinking, the tool calls, and the
    structured answer's JSON text (None when the answer tool was not called)."""
    text: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    answer: str | None = None
    for block in blocks:
        part = as_dict(block)
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            text.append(part["text"])
        elif kind == "thinking" and isinstance(part.get("thinking"), str):
            thinking.append(part["thinking"])
        elif kind == "tool_use" and part.get("name") in ANSWER_TOOLS:
            answer = answer_text(part["name"], part.get("input"), provider)
        elif kind == "tool_use":
            calls.append(tool_call(part, provider))
    return "".join(text), "".join(thinking), tuple(calls), answer


def finish_reason(stop_reason: str | None, calls: bool, answered: bool) -> str | None:
    """``stop_reason`` normalised: ``tool_calls`` when the reply holds calls; a
    ``tool_use`` stop that only gave the structured answer is a ``stop``."""
    if answered and not calls and stop_reason == "tool_use":
        return "stop"
    return normalised_finish(stop_reason, STOP_REASONS, calls)

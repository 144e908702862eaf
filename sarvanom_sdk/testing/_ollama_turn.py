"""An Ollama request's chat surface, read into a :class:`~._chat.Turn`, with the 400
Ollama answers for an image that is not base64 (raised as :class:`~._chat.WireError`).

Read (the documented request shapes)::

    tools        /api/chat: [{"type": "function", "function": {"name", "description"?,
                  "parameters"}}] (Ollama has no tool_choice: tools are always offered)
    tool result  /api/chat: final {"role": "tool", "content", "tool_name"?} messages
    images       /api/chat: a message's "images": [base64, ...];
                 /api/generate: the body's "images"
    format       "json" | a JSON schema object
    options      "stop" (a list), "seed", "top_p", "num_predict" ... (accepted)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._answer import text_of
from ._chat import Format, ToolSpec, Turn, WireError, base64_error, stop_list


def read_turn(body: Mapping[str, Any], *, chat: bool) -> Turn:
    """The turn ``body`` asks for (``chat``: an ``/api/chat`` body, else
    ``/api/generate``); :class:`WireError` for what Ollama refuses."""
    options = body.get("options")
    stop = options.get("stop") if isinstance(options, Mapping) else None
    fmt = body.get("format")
    shape: Format = "json" if fmt == "json" else "schema" if isinstance(fmt, Mapping) else "text"
    if chat:
        messages = body.get("messages")
        messages = messages if isinstance(messages, list) else []
        images = sum(
            _count(m.get("images")) for m in messages if isinstance(m, Mapping)
        )
        return Turn(
            tools=_tools(body.get("tools")),
            tool_results=_tool_results(messages),
            images=images,
            format=shape,
            schema=fmt if shape == "schema" else None,
            stop=stop_list(stop),
        )
    return Turn(
        images=_count(body.get("images")),
        format=shape,
        schema=fmt if shape == "schema" else None,
        stop=stop_list(stop),
    )


def _tools(value: Any) -> tuple[ToolSpec, ...]:
    if not isinstance(value, list):
        return ()
    specs = []
    for tool in value:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            specs.append(ToolSpec(function["name"], function.get("parameters")))
    return tuple(specs)


def _tool_results(messages: list[Any]) -> tuple[str, ...] | None:
    results: list[str] = []
    for message in reversed(messages):
        if not (isinstance(message, Mapping) and message.get("role") == "tool"):
            break
        results.append(text_of(message.get("content")))
    return tuple(reversed(results)) if results else None


def _count(images: Any) -> int:
    """How many images a list holds; one that is not base64 fails as Go's JSON decoder
    fails on it (Ollama answers its error text with a 400)."""
    if not isinstance(images, list):
        return 0
    for image in images:
        if not isinstance(image, str):
            raise WireError("json: cannot unmarshal into Go struct field of type api.ImageData")
        where = base64_error(image)
        if where is not None:
            raise WireError(f"illegal base64 data at input byte {where}")
    return len(images)

"""Helpers for the chat-surface adapter tests (issue 14): streams that carry tool-call
deltas as well as text, summed up and compared across chunkings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import adapter_helpers as h

from sarvanom_sdk.chat import ToolCall, assemble_tool_calls
from sarvanom_sdk.providers.base import StreamDecoder, StreamEvent

#: A 1x1 transparent PNG, base64 (the data of a ``data:image/png`` URL).
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_URL = f"data:image/png;base64,{PNG_B64}"
HTTPS_IMAGE = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"

#: The weather tool of the providers' tool-use guides, in OpenAI's shape.
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {
            "type": "string",
            "description": "The city and state, e.g. San Francisco, CA",
        }
    },
    "required": ["location"],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": WEATHER_SCHEMA,
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": None}}

#: A structured-output schema (an object root) and its response_format.
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
}


@dataclass(frozen=True)
class ToolStream:
    """What a stream amounted to: joined text, the assembled calls, its done event."""

    text: str
    reasoning: str
    calls: tuple[ToolCall, ...]
    done: StreamEvent


def summarize(events: Sequence[StreamEvent]) -> ToolStream:
    """Joined deltas and assembled calls; asserts one done event, last, and no empty
    delta event."""
    assert events and events[-1].done, events
    assert sum(e.done for e in events) == 1, events
    deltas = events[:-1]
    assert all(e.text or e.reasoning or e.tool_calls for e in deltas), "empty delta event"
    return ToolStream(
        "".join(e.text for e in deltas),
        "".join(e.reasoning for e in deltas),
        assemble_tool_calls(d for e in deltas for d in e.tool_calls),
        events[-1],
    )


def streamed(make: Callable[[], StreamDecoder], chunks: Sequence[bytes]) -> ToolStream:
    return summarize(h.decode(make, chunks))


def assert_any_split_same(make: Callable[[], StreamDecoder], data: bytes, cuts: list[int]) -> None:
    """Decoding ``data`` cut at ``cuts`` gives what decoding it whole gives."""
    assert streamed(make, h.split(data, cuts)) == streamed(make, [data])

"""Issue 15 item 2, sans-IO: the Messages API's stream events and error types."""

from __future__ import annotations

import json

import pytest

from sarvanom_sdk.chat import ToolCall, ToolCallDelta
from sarvanom_sdk.gateway.anthropic_wire import (
    InterleavedToolCalls,
    StreamEvents,
    error_type,
    message_body,
)
from sarvanom_sdk.types import LLMResponse, ProviderName


def _events(data: bytes) -> list[dict]:
    lines = data.decode().splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def test_issue15_2_blocks_open_and_close_in_order() -> None:
    events = StreamEvents("msg_1", "sarvanom/openai/m", 9)
    data = events.start() + events.text("Hi") + events.text("")
    data += events.tool_call(ToolCallDelta(0, "call_a", "f", '{"x"'))
    data += events.tool_call(ToolCallDelta(0, arguments=": 1}"))
    data += events.text("after")
    response = LLMResponse(True, ProviderName.OPENAI, "Hi after", finish_reason="tool_calls")
    data += events.finish(response)
    kinds = [(e["type"], e.get("index")) for e in _events(data)]
    assert kinds == [
        ("message_start", None),
        ("content_block_start", 0),
        ("ping", None),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    parsed = _events(data)
    assert parsed[5]["content_block"] == {
        "type": "tool_use",
        "id": "call_a",
        "name": "f",
        "input": {},
    }
    assert parsed[-2]["delta"]["stop_reason"] == "tool_use"
    assert parsed[-2]["usage"] == {"input_tokens": 9, "output_tokens": 0}


def test_issue15_2_interleaved_tool_call_pieces_are_refused_not_misfiled() -> None:
    events = StreamEvents("msg_1", "m", 1)
    events.tool_call(ToolCallDelta(0, "a", "f", "{"))
    events.tool_call(ToolCallDelta(1, "b", "g", "{"))
    with pytest.raises(InterleavedToolCalls):
        events.tool_call(ToolCallDelta(0, arguments="}"))


def test_issue15_2_message_body_with_tool_calls() -> None:
    response = LLMResponse(
        True,
        ProviderName.OLLAMA_LOCAL,
        "",
        model="qwen",
        finish_reason="tool_calls",
        tool_calls=(ToolCall("call_1", "f", '{"a": [1]}'),),
    )
    body = message_body(response, "msg_x", 5)
    assert body["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": [1]}}
    ]
    assert body["stop_reason"] == "tool_use" and body["model"] == "sarvanom/ollama_local/qwen"
    assert body["usage"] == {"input_tokens": 5, "output_tokens": 0}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (405, "invalid_request_error"),
        (413, "request_too_large"),
        (415, "invalid_request_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
    ],
)
def test_issue15_2_error_types(status, kind) -> None:
    assert error_type(status) == kind

"""Issue 14 item 7: the gateway's OpenAI wire translation (:mod:`sarvanom_sdk.gateway.
chat_wire`), function by function, without a server."""

from __future__ import annotations

import pytest

from sarvanom_sdk.chat import ToolCall, ToolCallDelta
from sarvanom_sdk.gateway import chat_wire
from sarvanom_sdk.gateway.limits import GatewayError
from sarvanom_sdk.types import LLMRequest, LLMResponse, ProviderName, StreamChunk

GPU, OLLAMA = ProviderName.REMOTE_GPU, ProviderName.OLLAMA_LOCAL
CALL = ToolCall("call_1", "get_weather", '{"city": "Oslo"}')
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


def answer(**fields) -> LLMResponse:
    return LLMResponse(success=True, provider=GPU, content=fields.pop("content", ""), **fields)


def test_issue14_item7_a_tool_call_answer_has_null_content_and_tool_calls() -> None:
    message = chat_wire.message_body(answer(tool_calls=(CALL,), finish_reason="tool_calls"))
    assert message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    # text beside the calls is kept
    assert (
        chat_wire.message_body(answer(content="Let me look", tool_calls=(CALL,)))["content"]
        == "Let me look"
    )


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        (None, (), "stop"),
        (None, (CALL,), "tool_calls"),
        ("tool_calls", (CALL,), "tool_calls"),
        ("stop", (CALL,), "stop"),  # a forced named call: OpenAI says stop
        ("length", (), "length"),
        ("content_filter", (), "content_filter"),
        ("end_turn", (), "stop"),
        ("tool_use", (CALL,), "tool_calls"),
        ("max_tokens", (), "length"),
        ("something_new", (), "stop"),
    ],
)
def test_issue14_item7_finish_reason(reason, calls, expected) -> None:
    assert chat_wire.finish_reason(answer(finish_reason=reason, tool_calls=calls)) == expected


def test_issue14_item7_stream_deltas_carry_tool_calls_by_index() -> None:
    first = chat_wire.chunk_delta(
        StreamChunk(tool_calls=(ToolCallDelta(0, "call_1", "get_weather", '{"ci'),)), True
    )
    assert first == {
        "role": "assistant",
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"ci'},
            }
        ],
    }
    more = chat_wire.chunk_delta(
        StreamChunk(tool_calls=(ToolCallDelta(0, arguments='ty"}'),)), False
    )
    assert more == {"tool_calls": [{"index": 0, "function": {"arguments": 'ty"}'}}]}
    assert chat_wire.chunk_delta(StreamChunk(text="hi"), False) == {"content": "hi"}
    assert chat_wire.chunk_delta(StreamChunk(reasoning="hm"), True) == {
        "role": "assistant",
        "reasoning_content": "hm",
    }


def test_issue14_item7_request_fields_translate_the_body() -> None:
    fields = chat_wire.request_fields(
        {
            "messages": [
                {"role": "developer", "content": "Be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [CALL.to_openai()],
                    "refusal": None,
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
            ],
            "tools": [TOOL],
            "tool_choice": "required",
            "max_completion_tokens": 30,
            "max_tokens": 40,
            "stop": "END",
            "user": "ignored",
        }
    )
    assert fields["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": None, "tool_calls": [CALL.to_openai()]},
        {"role": "tool", "content": "rain", "tool_call_id": "call_1"},
    ]
    assert (fields["max_tokens"], fields["stop"], fields["tool_choice"]) == (30, "END", "required")
    assert "user" not in fields
    request = LLMRequest(**fields)
    assert request.messages[2].tool_calls == (CALL,)
    assert request.needed_capabilities() == {"tools", "stop"}


def test_issue14_item7_refused_only_when_nobody_reachable_can() -> None:
    request = LLMRequest(prompt="hi", tools=[TOOL], seed=1)
    everything = {GPU: chat_wire.CAPABILITIES.keys(), OLLAMA: {"stop"}}
    chat_wire.refuse_incapable(request, (OLLAMA, GPU), everything)  # GPU can: no error
    with pytest.raises(GatewayError) as caught:
        chat_wire.refuse_incapable(request, (OLLAMA,), everything)
    assert (caught.value.param, caught.value.code) == ("tools", "unsupported_parameter")
    pinned = LLMRequest(prompt="hi", seed=1, provider=OLLAMA)
    with pytest.raises(GatewayError) as caught:
        chat_wire.refuse_incapable(pinned, (OLLAMA,), everything)
    assert caught.value.param == "seed"
    assert "the pinned provider ollama_local has no seed support" in caught.value.message
    chat_wire.refuse_incapable(LLMRequest(prompt="plain"), (), {})  # nothing needed

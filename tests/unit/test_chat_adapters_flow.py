"""The Anthropic and Ollama adapters inside the router (issue 14 proof, on fakes): a tool
loop that Ollama starts and Anthropic finishes after Ollama fails, structured output
through Anthropic's forced tool checked into ``resp.parsed``, and tool calls streamed by
either protocol assembled on the final response. Replies are the providers' documented
bytes; the transport is scripted, the clock fake."""

from __future__ import annotations

import json
from typing import Any

import adapter_helpers as ah
import pytest
from fakes import Harness, reply

from sarvanom_sdk.chat import ToolCall
from sarvanom_sdk.http import HttpCall, HttpReply
from sarvanom_sdk.providers import AnthropicAdapter, OllamaAdapter
from sarvanom_sdk.providers._anthropic_chat import ANSWER_TOOL
from sarvanom_sdk.runners import drive
from sarvanom_sdk.types import AttemptOutcome, LLMRequest, LLMResponse, ProviderName

OLLAMA = ProviderName.OLLAMA_LOCAL
ANTHROPIC = ProviderName.ANTHROPIC
#: The fake transport scripts by the URL's last segment: /api/chat and /v1/messages.
CHAT, MESSAGES = "chat", "messages"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CITY = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["name", "population"],
        },
    },
}


def harness() -> tuple[Harness, list[HttpCall]]:
    """A router over the real Ollama and Anthropic adapters; the calls it sends."""
    h = Harness((OLLAMA, ANTHROPIC), max_retries=0)
    adapters = {
        OLLAMA: OllamaAdapter(base_url="http://fake", default_model="llama3.2"),
        ANTHROPIC: AnthropicAdapter(
            base_url="http://fake", api_key="k", default_model="claude-opus-4-1-20250805"
        ),
    }
    for provider, adapter in adapters.items():
        h.endpoints[provider][0].adapter = adapter
        h.router.adapters[provider] = adapter
    sent: list[HttpCall] = []
    send, open_stream = h.transport.send, h.transport.open_stream

    def record_send(call: HttpCall, timeout: float) -> HttpReply:
        sent.append(call)
        return send(call, timeout)

    def record_stream(call: HttpCall, timeout: float) -> Any:
        sent.append(call)
        return open_stream(call, timeout)

    h.transport.send = record_send  # type: ignore[method-assign]
    h.transport.open_stream = record_stream  # type: ignore[method-assign]
    return h, sent


def script(h: Harness, name: str, *outcomes: Any) -> None:
    h.transport.scripts[name].extend(outcomes)


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


OLLAMA_CALL = {
    "model": "llama3.2",
    "created_at": "2024-07-22T20:33:28.123648Z",
    "message": {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
    },
    "done_reason": "stop",
    "done": True,
    "prompt_eval_count": 122,
    "eval_count": 33,
}


def anthropic_reply(*content: dict[str, Any], stop: str = "end_turn") -> bytes:
    return body({
        "id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-opus-4-1-20250805", "content": list(content), "stop_reason": stop,
        "usage": {"input_tokens": 50, "output_tokens": 10},
    })


def test_issue14_a_tool_loop_started_on_ollama_finishes_on_anthropic() -> None:
    """Ollama asks for a tool (its call gets the id call_0); when the result is sent,
    Ollama fails and Anthropic receives the call as a tool_use block and the result as a
    tool_result block, with the tools, and answers."""
    h, sent = harness()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Oslo?"}]
    script(h, CHAT, body(OLLAMA_CALL))
    first = h.complete(messages=messages, tools=[WEATHER])
    assert first.provider is OLLAMA and first.finish_reason == "tool_calls"
    assert first.tool_calls == (ToolCall("call_0", "get_weather", '{"city": "Oslo"}'),)
    messages += [
        {"role": "assistant", "content": None,
         "tool_calls": [c.to_openai() for c in first.tool_calls]},
        {"role": "tool", "tool_call_id": "call_0", "content": "18 C"},
    ]
    script(h, CHAT, reply(503, '{"error": "overloaded"}'))
    script(h, MESSAGES, anthropic_reply({"type": "text", "text": "It is 18 C in Oslo."}))
    second = h.complete(messages=messages, tools=[WEATHER])
    assert (second.provider, second.content, second.finish_reason) == (
        ANTHROPIC, "It is 18 C in Oslo.", "stop"
    )
    assert [a.outcome for a in second.attempts[:1]] == [AttemptOutcome.FAILED]
    to_anthropic = ah.call_body(sent[-1])
    assert to_anthropic["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_0", "name": "get_weather",
             "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_0", "content": "18 C"}]},
    ]
    assert [t["name"] for t in to_anthropic["tools"]] == ["get_weather"]


def test_issue14_structured_output_through_anthropics_forced_tool_is_parsed() -> None:
    h, sent = harness()
    script(h, CHAT, reply(503, '{"error": "overloaded"}'))
    script(h, MESSAGES, anthropic_reply(
        {"type": "tool_use", "id": "toolu_1", "name": ANSWER_TOOL,
         "input": {"name": "Oslo", "population": 709000}}, stop="tool_use"))
    response = h.complete("Largest city of Norway?", response_format=CITY)
    assert response.provider is ANTHROPIC
    assert response.parsed == {"name": "Oslo", "population": 709000}
    assert (response.finish_reason, response.tool_calls) == ("stop", ())
    assert ah.call_body(sent[-1])["tool_choice"]["name"] == ANSWER_TOOL


def test_issue14_a_forced_answer_that_fails_the_schema_is_a_provider_failure() -> None:
    h, _ = harness()
    script(h, CHAT, reply(503, '{"error": "overloaded"}'))
    script(h, MESSAGES, anthropic_reply(
        {"type": "tool_use", "id": "toolu_1", "name": ANSWER_TOOL, "input": {"name": "Oslo"}},
        stop="tool_use"))
    response = h.complete("Largest city of Norway?", response_format=CITY)
    assert response.provider is ProviderName.LOCAL_STUB
    assert response.attempts[1].error_type == "malformed_reply"


def test_issue14_ollama_tool_arguments_that_are_not_an_object_fall_over_to_anthropic() -> None:
    h, _ = harness()
    bad = {**OLLAMA_CALL, "message": {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": "Oslo"}}]}}
    script(h, CHAT, body(bad))
    script(h, MESSAGES, anthropic_reply(
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        stop="tool_use"))
    response = h.complete("Weather in Oslo?", tools=[WEATHER])
    assert response.provider is ANTHROPIC
    assert response.attempts[0].error_type == "malformed_reply"
    assert response.tool_calls == (ToolCall("toolu_1", "get_weather", '{"city": "Oslo"}'),)


def streamed(h: Harness, request: LLMRequest) -> tuple[list[Any], LLMResponse]:
    chunks, final = [], None
    for item in drive(h.router.stream_flow(request), h.transport, h.clock.advance):
        if isinstance(item, LLMResponse):
            final = item
        else:
            chunks.append(item)
    assert final is not None
    return chunks, final


def sse_event(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"type": kind, **fields}


ANTHROPIC_TOOL_STREAM = ah.sse(
    sse_event("message_start", message={"model": "claude-opus-4-1-20250805",
                                        "usage": {"input_tokens": 9, "output_tokens": 1}}),
    sse_event("content_block_start", index=0, content_block={
        "type": "tool_use", "id": "toolu_7", "name": "get_weather", "input": {}}),
    sse_event("content_block_delta", index=0,
              delta={"type": "input_json_delta", "partial_json": '{"city": '}),
    sse_event("content_block_delta", index=0,
              delta={"type": "input_json_delta", "partial_json": '"Oslo"}'}),
    sse_event("content_block_stop", index=0),
    sse_event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 20}),
    sse_event("message_stop"),
)


@pytest.mark.parametrize("provider", [OLLAMA, ANTHROPIC])
def test_issue14_streamed_tool_calls_are_assembled_on_the_response(provider: ProviderName) -> None:
    h, _ = harness()
    if provider is ANTHROPIC:
        script(h, CHAT, reply(503, '{"error": "overloaded"}'))
        script(h, MESSAGES, list(ah.split(ANTHROPIC_TOOL_STREAM, range(0, 2000, 7))))
        call = ToolCall("toolu_7", "get_weather", '{"city": "Oslo"}')
    else:
        data = ah.ndjson({**OLLAMA_CALL, "done": False}, {**OLLAMA_CALL, "message": {
            "role": "assistant", "content": ""}})
        script(h, CHAT, list(ah.split(data, range(0, 2000, 5))))
        call = ToolCall("call_0", "get_weather", '{"city": "Oslo"}')
    chunks, final = streamed(h, LLMRequest(prompt="Weather in Oslo?", tools=[WEATHER]))
    assert final.provider is provider
    assert final.tool_calls == (call,)
    assert final.finish_reason == "tool_calls"
    assert any(chunk.tool_calls for chunk in chunks)


def test_issue14_a_streamed_forced_answer_is_text_and_parsed() -> None:
    h, _ = harness()
    pieces = ['{"name": "Os', 'lo", "popul', 'ation": 709000}']
    data = ah.sse(
        sse_event("message_start", message={"model": "claude-opus-4-1-20250805"}),
        sse_event("content_block_start", index=0, content_block={
            "type": "tool_use", "id": "toolu_1", "name": ANSWER_TOOL, "input": {}}),
        *[sse_event("content_block_delta", index=0,
                    delta={"type": "input_json_delta", "partial_json": p}) for p in pieces],
        sse_event("content_block_stop", index=0),
        sse_event("message_delta", delta={"stop_reason": "tool_use"}),
        sse_event("message_stop"),
    )
    script(h, CHAT, reply(503, '{"error": "overloaded"}'))
    script(h, MESSAGES, [data])
    chunks, final = streamed(h, LLMRequest(prompt="Largest city?", response_format=CITY))
    assert "".join(chunk.text for chunk in chunks) == "".join(pieces)
    assert final.parsed == {"name": "Oslo", "population": 709000}
    assert (final.finish_reason, final.tool_calls) == ("stop", ())

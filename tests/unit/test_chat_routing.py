"""Issue 14 items 2, 4, 5, 6 in the router, on fakes and a fake clock: capability-aware
routing, checked structured output (``resp.parsed``), tool calls whole and streamed, the
cache key, and a tool loop that continues on another provider."""

from __future__ import annotations

import json

import pytest
from fakes import HANG, Harness, reply

from sarvanom_sdk.chat import ToolCall, ToolCallDelta
from sarvanom_sdk.errors import AllProvidersFailed, ProviderConnectionError, StreamInterrupted
from sarvanom_sdk.layers.cache import request_key
from sarvanom_sdk.runners import drive
from sarvanom_sdk.shared_state.cache_backend import decode, encode
from sarvanom_sdk.types import AttemptOutcome, LLMRequest, LLMResponse, ProviderName

OLLAMA = ProviderName.OLLAMA_LOCAL
GPU = ProviderName.REMOTE_GPU
HF = ProviderName.HUGGINGFACE
STUB = ProviderName.LOCAL_STUB

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
CITY_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["name", "population"],
            "additionalProperties": False,
        },
    },
}
NO_TOOLS = frozenset({"json_object", "json_schema", "stop", "seed"})


def stream(h: Harness, request: LLMRequest) -> tuple[list, LLMResponse | None]:
    chunks, final = [], None
    for item in drive(h.router.stream_flow(request), h.transport, h.clock.advance):
        if isinstance(item, LLMResponse):
            final = item
        else:
            chunks.append(item)
    return chunks, final


def tools_call(*calls: tuple[str, str, str]) -> bytes:
    return ("TOOLS:" + json.dumps([list(c) for c in calls])).encode()


# -- capability-aware routing (item 5) ----------------------------------------------------


def test_issue14_a_provider_without_a_needed_capability_is_skipped_without_a_call() -> None:
    h = Harness((OLLAMA, GPU), capabilities={OLLAMA: NO_TOOLS})
    h.transport.script(GPU, tools_call(("call_1", "get_weather", '{"city": "Oslo"}')))
    response = h.complete("weather in Oslo?", tools=[WEATHER])
    assert response.provider is GPU
    skipped = response.attempts[0]
    assert (skipped.provider, skipped.outcome) == (OLLAMA, AttemptOutcome.SKIPPED)
    assert skipped.reason == "no tool support"
    assert skipped.error_type == "unsupported"
    assert h.transport.count(OLLAMA) == 0
    # no breaker or health effect
    assert h.circuits[OLLAMA].view().consecutive_failures == 0
    assert h.router.health.snapshot({})[OLLAMA.value].error_count == 0


def test_issue14_plain_requests_still_reach_a_provider_without_capabilities() -> None:
    h = Harness((OLLAMA, GPU), capabilities={OLLAMA: frozenset()})
    assert h.complete("hi").provider is OLLAMA


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"response_format": CITY_SCHEMA}, "no JSON schema output support"),
        ({"response_format": {"type": "json_object"}}, "no JSON output support"),
        ({"stop": "END"}, "no stop sequence support"),
        ({"seed": 7}, "no seed support"),
    ],
)
def test_issue14_each_capability_names_itself_in_the_trail(
    options: dict[str, object], reason: str
) -> None:
    h = Harness((OLLAMA, GPU), capabilities={OLLAMA: frozenset({"tools"})})
    h.transport.script(GPU, b'{"name": "Oslo", "population": 700000}')
    response = h.complete("x", **options)
    assert response.provider is GPU
    assert response.attempts[0].reason == reason


def test_issue14_images_need_the_image_capability_of_their_kind() -> None:
    h = Harness((OLLAMA, GPU), capabilities={OLLAMA: frozenset({"images"})})
    picture = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    response = h.complete(messages=[{"role": "user", "content": picture}])
    assert response.provider is GPU
    assert response.attempts[0].reason == "no image input (https URLs) support"


def test_issue14_when_no_provider_is_capable_the_stub_says_so() -> None:
    h = Harness((OLLAMA, GPU), capabilities={OLLAMA: NO_TOOLS, GPU: NO_TOOLS})
    response = h.complete("x", tools=[WEATHER])
    assert response.provider is STUB and not response.success
    assert h.transport.calls == []
    assert response.error_message is not None
    assert response.error_message.startswith("no capable provider was available")
    assert "ollama_local skipped (no tool support)" in response.content
    error = AllProvidersFailed(response.attempts[:-1])
    assert str(error).startswith("no capable provider was available")


def test_issue14_a_pinned_provider_without_the_capability_is_not_called() -> None:
    h = Harness((OLLAMA, GPU), capabilities={OLLAMA: NO_TOOLS})
    response = h.complete("x", tools=[WEATHER], provider="ollama_local")
    assert response.provider is STUB
    assert h.transport.calls == []
    assert response.attempts[0].reason == "no tool support"


def test_issue14_strict_stream_without_a_capable_provider_raises_saying_so() -> None:
    h = Harness((OLLAMA,), capabilities={OLLAMA: NO_TOOLS}, fallback_to_stub=False)
    with pytest.raises(AllProvidersFailed, match="no capable provider was available"):
        stream(h, LLMRequest(prompt="x", tools=[WEATHER]))


def test_issue14_tool_choice_none_does_not_need_tool_support() -> None:
    h = Harness((OLLAMA,), capabilities={OLLAMA: frozenset()})
    response = h.complete("x", tools=[WEATHER], tool_choice="none")
    assert response.provider is OLLAMA


# -- structured output (item 2) ---------------------------------------------------------


def test_issue14_json_schema_answer_is_parsed() -> None:
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, b'{"name": "Oslo", "population": 709000}')
    response = h.complete("x", response_format=CITY_SCHEMA)
    assert response.parsed == {"name": "Oslo", "population": 709000}


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (b"Oslo has 709000 people", "the answer is not JSON"),
        (b'{"name": "Oslo"}', "does not match the schema: $: "),
        (b'{"name": "Oslo", "population": "many"}', "does not match the schema: $.population"),
        (b'{"name": "Oslo", "population": 1, "x": 2}', "does not match the schema: $"),
    ],
)
def test_issue14_an_answer_that_fails_the_schema_is_a_provider_failure(
    bad: bytes, why: str
) -> None:
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, bad)
    h.transport.script(GPU, b'{"name": "Oslo", "population": 709000}')
    response = h.complete("x", response_format=CITY_SCHEMA)
    assert response.provider is GPU
    assert response.parsed == {"name": "Oslo", "population": 709000}
    failed = response.attempts[0]
    assert failed.outcome is AttemptOutcome.FAILED
    assert failed.error_type == "malformed_reply"
    assert why in failed.reason
    assert "many" not in failed.reason  # the answer's values stay out of the trail


def test_issue14_json_object_answer_is_parsed_and_non_json_falls_over() -> None:
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, b"```json\n{}\n```")
    h.transport.script(GPU, b'{"ok": true}')
    response = h.complete("x", response_format={"type": "json_object"})
    assert response.provider is GPU and response.parsed == {"ok": True}


def test_issue14_a_plain_request_has_no_parsed_value() -> None:
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, b'{"a": 1}')
    assert h.complete("x").parsed is None


# -- tool calls (items 2, 4) ------------------------------------------------------------------


def test_issue14_tool_calls_reach_the_response() -> None:
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, tools_call(("call_1", "get_weather", '{"city": "Oslo"}')))
    response = h.complete("x", tools=[WEATHER])
    assert response.tool_calls == (ToolCall("call_1", "get_weather", '{"city": "Oslo"}'),)
    assert response.finish_reason == "tool_calls"
    assert response.content == ""


def test_issue14_a_tool_call_answer_is_not_held_to_the_json_format() -> None:
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, tools_call(("c", "get_weather", "{}")))
    response = h.complete("x", tools=[WEATHER], response_format=CITY_SCHEMA)
    assert response.provider is OLLAMA and response.parsed is None


@pytest.mark.parametrize("arguments", ["[1, 2]", "{not json", '"Oslo"'])
def test_issue14_tool_call_arguments_that_are_not_an_object_fall_over(arguments: str) -> None:
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, tools_call(("c", "get_weather", arguments)))
    h.transport.script(GPU, tools_call(("c", "get_weather", '{"city": "Oslo"}')))
    response = h.complete("x", tools=[WEATHER])
    assert response.provider is GPU
    assert response.attempts[0].error_type == "malformed_reply"


def test_issue14_streamed_tool_call_deltas_are_relayed_and_assembled() -> None:
    h = Harness((OLLAMA,))
    h.transport.script(
        OLLAMA,
        [
            b"TOOL:0:call_1:get_weather:\n",
            b'TOOL:0:::{"city": \n',
            b'TOOL:0:::"Oslo"}\n',
            b"FINISH:tool_calls\n",
        ],
    )
    chunks, final = stream(h, LLMRequest(prompt="x", tools=[WEATHER]))
    deltas = [d for c in chunks for d in c.tool_calls]
    assert deltas[0] == ToolCallDelta(0, "call_1", "get_weather", "")
    assert [d.arguments for d in deltas] == ["", '{"city": ', '"Oslo"}']
    assert final is not None
    assert final.tool_calls == (ToolCall("call_1", "get_weather", '{"city": "Oslo"}'),)
    assert final.finish_reason == "tool_calls"


def test_issue14_a_tool_call_delta_commits_the_stream() -> None:
    """The first content that commits a stream may be a tool-call delta: a cut after it
    is a cut (StreamInterrupted), not a silent move to the next provider."""
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, [b"TOOL:0:call_1:get_weather:{\n", ProviderConnectionError("reset")])
    with pytest.raises(StreamInterrupted):
        stream(h, LLMRequest(prompt="x", tools=[WEATHER]))
    assert h.transport.count(GPU) == 0


def test_issue14_a_tool_call_cut_with_continue_policy_restarts_instead() -> None:
    """Half a tool call cannot be continued as a text prefill: the next provider is
    asked again from the start (restart), without an assistant prefill."""
    h = Harness((OLLAMA, GPU))
    h.adapter(GPU).accepts_prefill = True
    h.transport.script(OLLAMA, [b"TOOL:0:call_1:get_weather:{\n", ProviderConnectionError("reset")])
    h.transport.script(GPU, [b'TOOL:0:call_9:get_weather:{"city": "Oslo"}\n', b"DONE\n"])
    chunks, final = stream(h, LLMRequest(prompt="x", tools=[WEATHER], stream_recovery="continue"))
    assert any(c.restart for c in chunks)
    assert final is not None
    assert final.tool_calls == (ToolCall("call_9", "get_weather", '{"city": "Oslo"}'),)
    sent = h.adapter(GPU).requests[-1]
    assert sent.prompt == "x" and sent.messages is None


def test_issue14_a_streamed_answer_failing_the_schema_is_a_cut() -> None:
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, [b'{"name": \n', b'"Oslo"}\n', b"DONE\n"])
    h.transport.script(GPU, [b'{"name": "Oslo", "population": 3}\n', b"DONE\n"])
    request = LLMRequest(prompt="x", response_format=CITY_SCHEMA, stream_recovery="restart")
    chunks, final = stream(h, request)
    assert final is not None and final.provider is GPU
    assert final.parsed == {"name": "Oslo", "population": 3}
    assert final.attempts[1].error_type == "malformed_reply"
    with pytest.raises(StreamInterrupted, match="not JSON"):
        h2 = Harness((OLLAMA,))
        h2.transport.script(OLLAMA, [b"not json\n", b"DONE\n"])
        stream(h2, LLMRequest(prompt="x", response_format=CITY_SCHEMA))


def test_issue14_streamed_json_answer_is_parsed() -> None:
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, [b'{"name": "Oslo", \n', b'"population": 3}\n', b"DONE\n"])
    _, final = stream(h, LLMRequest(prompt="x", response_format=CITY_SCHEMA))
    assert final is not None and final.parsed == {"name": "Oslo", "population": 3}


def test_issue14_a_stream_silent_but_for_no_content_still_falls_over_before_commit() -> None:
    h = Harness((OLLAMA, GPU), first_token_timeout=2.0, max_retries=0)
    h.transport.script(OLLAMA, [HANG])
    h.transport.script(GPU, [b"TOOL:0:c:get_weather:{}\n", b"DONE\n"])
    _, final = stream(h, LLMRequest(prompt="x", tools=[WEATHER]))
    assert final is not None and final.provider is GPU
    assert final.tool_calls == (ToolCall("c", "get_weather", "{}"),)


# -- the cache key (item 6) -------------------------------------------------------------------


def key(**options: object) -> str:
    if "messages" not in options:
        options.setdefault("prompt", "hello")
    return request_key(LLMRequest(trace_id="t", **options), "chain")


@pytest.mark.parametrize(
    "options",
    [
        {"tools": [WEATHER]},
        {"tools": [WEATHER], "tool_choice": "required"},
        {
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {"parallel_tool_calls": False},
        {"response_format": {"type": "json_object"}},
        {"response_format": CITY_SCHEMA},
        {"stop": "END"},
        {"top_p": 0.5},
        {"seed": 1},
        {"presence_penalty": 1.0},
        {"frequency_penalty": 1.0},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]},
        {"messages": [{"role": "user", "content": "hello", "name": "ann"}]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hello"},
                        {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}},
                    ],
                }
            ]
        },
    ],
)
def test_issue14_every_answer_changing_field_changes_the_cache_key(
    options: dict[str, object],
) -> None:
    assert key(**options) != key()
    assert key(**options) == key(**options)


def test_issue14_cache_key_tells_tool_results_and_schemas_apart() -> None:
    def conversation(result: str) -> list[dict[str, object]]:
        return [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": result},
        ]

    assert key(messages=conversation("18C")) != key(messages=conversation("25C"))
    other = json.loads(json.dumps(CITY_SCHEMA))
    other["json_schema"]["schema"]["required"] = ["name"]
    assert key(response_format=other) != key(response_format=CITY_SCHEMA)


def test_issue14_a_cached_tool_call_answer_replays_its_calls() -> None:
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, tools_call(("call_1", "get_weather", '{"city": "Oslo"}')))
    first = h.complete("x", tools=[WEATHER])
    again = h.complete("x", tools=[WEATHER])
    assert again.cached and again.tool_calls == first.tool_calls
    chunks, final = stream(h, LLMRequest(prompt="x", tools=[WEATHER]))
    assert final is not None and final.cached
    assert chunks[0].tool_calls == (ToolCallDelta(0, "call_1", "get_weather", '{"city": "Oslo"}'),)


def test_issue14_shared_cache_entries_keep_tool_calls_and_parsed() -> None:
    response = LLMResponse(
        success=True,
        provider=OLLAMA,
        content='{"a": 1}',
        tool_calls=(ToolCall("c", "f", "{}"),),
        parsed={"a": 1},
    )
    decoded = decode(encode(12.5, response))
    assert decoded is not None
    assert decoded[1].tool_calls == response.tool_calls and decoded[1].parsed == {"a": 1}


# -- a tool loop through fallback (issue 14, proof) ------------------------------------------


def test_issue14_a_tool_loop_continues_on_the_next_provider() -> None:
    """The first provider asks for a tool, then fails when the loop sends the result; the
    second provider gets the whole conversation (call and result) and answers."""
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, tools_call(("call_1", "get_weather", '{"city": "Oslo"}')))
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = h.complete(messages=messages, tools=[WEATHER])
    assert first.provider is OLLAMA and first.finish_reason == "tool_calls"
    call = first.tool_calls[0]
    messages.append(
        {
            "role": "assistant",
            "content": first.content or None,
            "tool_calls": [c.to_openai() for c in first.tool_calls],
        }
    )
    result = {"city": call.parsed_arguments()["city"], "temp_c": 18}
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    h.transport.script(OLLAMA, reply(503, "overloaded"))
    h.transport.script(GPU, b"It is 18 C in Oslo.")
    second = h.complete(messages=messages, tools=[WEATHER])
    assert second.provider is GPU and second.content == "It is 18 C in Oslo."
    assert second.attempts[0].status == 503
    sent = h.adapter(GPU).requests[-1]
    assert sent.chat_messages() == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [call.to_openai()]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"city": "Oslo", "temp_c": 18}'},
    ]
    assert sent.tools == h.adapter(OLLAMA).requests[0].tools


def test_issue14_a_streamed_tool_loop_continues_on_the_next_provider() -> None:
    """The same loop streamed: the first provider streams a tool call, then refuses the
    follow-up before any content; the second streams the answer to the whole loop."""
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(
        OLLAMA,
        [b"TOOL:0:call_1:get_weather:\n", b'TOOL:0:::{"city": "Oslo"}\n', b"FINISH:tool_calls\n"],
    )
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Oslo?"}]
    _, first = stream(h, LLMRequest(messages=messages, tools=[WEATHER]))
    assert first is not None and first.provider is OLLAMA
    (call,) = first.tool_calls
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.to_openai()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'},
    ]
    h.transport.script(OLLAMA, reply(503, "overloaded"))
    h.transport.script(GPU, [b"It is 18 C.\n", b"DONE\n"])
    chunks, second = stream(h, LLMRequest(messages=messages, tools=[WEATHER]))
    assert second is not None and second.provider is GPU
    assert "".join(c.text for c in chunks) == "It is 18 C."
    assert [a.outcome for a in second.attempts] == [AttemptOutcome.FAILED, AttemptOutcome.OK]
    sent = h.adapter(GPU).requests[-1]
    assert sent.messages is not None and sent.messages[1].tool_calls == (call,)
    assert sent.messages[2].tool_call_id == "call_1"


def test_issue14_a_plain_requests_cache_key_is_unchanged() -> None:
    """Keys of requests without the new fields are what they were before issue 14, so a
    shared (Redis) cache filled by an older version stays valid."""
    import hashlib

    request = LLMRequest(
        messages=[{"role": "user", "content": "hi"}], system="s", max_tokens=9, trace_id="t"
    )
    old_payload = ("chain", None, "s", None, [["user", "hi"]], 9, 0.7, None)
    old = hashlib.sha256(
        json.dumps(old_payload, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    assert request_key(request, "chain") == old

"""AnthropicAdapter, the chat surface (issue 14 items 3-4): tools and tool_choice, tool
calls and results in the conversation, images, stop sequences and top_p, structured
output through a forced tool, and the same in replies and streams. Golden bodies follow
the Messages API's documentation (tool use, vision, streaming guides)."""

from __future__ import annotations

import json
import re

import adapter_helpers as h
import chat_adapter_helpers as c
import pytest
from hypothesis import given

from sarvanom_sdk.chat import ToolCall, ToolCallDelta
from sarvanom_sdk.errors import BadResponseError, InvalidRequestError
from sarvanom_sdk.providers import AnthropicAdapter
from sarvanom_sdk.providers._anthropic_chat import ANSWER_TOOL, ANSWER_VALUE_TOOL
from sarvanom_sdk.providers.base import Completion
from sarvanom_sdk.types import Usage

ADAPTER = AnthropicAdapter(
    base_url="https://api.anthropic.com", api_key="k", default_model="claude-opus-4-1-20250805"
)
TOOL_USE_ID = "toolu_01A09q90qw90lq917835lq9"
ASK = {"role": "user", "content": "What is the weather like in San Francisco?"}
ASKED = {
    "role": "assistant",
    "content": "I'll check the current weather in San Francisco for you.",
    "tool_calls": [
        {
            "id": TOOL_USE_ID,
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA"}'},
        }
    ],
}
RESULT = {"role": "tool", "tool_call_id": TOOL_USE_ID, "content": "15 degrees"}
WEATHER_BLOCK = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": c.WEATHER_SCHEMA,
}


def body(**fields: object) -> dict[str, object]:
    return h.call_body(ADAPTER.build(h.request(**fields)))


def test_issue14_capabilities_are_declared() -> None:
    assert ADAPTER.capabilities == frozenset(
        {"tools", "json_object", "json_schema", "images", "image_urls", "stop"}
    )


# -- requests --------------------------------------------------------------------------------


def test_issue14_tools_golden_body() -> None:
    """The tool-use guide's first request: tools with input_schema, no tool_choice."""
    assert body(messages=[ASK], tools=[c.WEATHER_TOOL], max_tokens=1024) == {
        "model": "claude-opus-4-1-20250805",
        "max_tokens": 1024,
        "messages": [ASK],
        "temperature": 0.5,
        "tools": [WEATHER_BLOCK],
    }


def test_issue14_tool_without_parameters_gets_the_empty_object_schema() -> None:
    tools = body(tools=[c.TIME_TOOL])["tools"]
    assert tools == [{"name": "get_time", "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize(
    ("choice", "parallel", "wire"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_issue14_tool_choice_maps(choice: object, parallel: bool | None, wire: object) -> None:
    sent = body(tools=[c.WEATHER_TOOL], tool_choice=choice, parallel_tool_calls=parallel)
    assert sent.get("tool_choice") == wire
    assert sent["tools"] == [WEATHER_BLOCK]


def test_issue14_tool_loop_turns_golden() -> None:
    """The guide's second request: the assistant's tool_use block (input an object), then
    the result as a user tool_result block."""
    sent = body(messages=[ASK, ASKED, RESULT], tools=[c.WEATHER_TOOL])
    assert sent["messages"] == [
        ASK,
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": ASKED["content"]},
                {
                    "type": "tool_use",
                    "id": TOOL_USE_ID,
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": TOOL_USE_ID, "content": "15 degrees"}
            ],
        },
    ]


def test_issue14_consecutive_tool_results_share_one_user_turn() -> None:
    calls = [
        {"id": f"toolu_{n}", "type": "function", "function": {"name": "get_weather",
         "arguments": json.dumps({"location": city})}}
        for n, city in enumerate(["Paris", "Oslo"])
    ]
    messages = [
        {"role": "system", "content": "Be brief."},
        ASK,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "toolu_0", "content": "18"},
        {"role": "tool", "tool_call_id": "toolu_1", "content": ""},
        {"role": "user", "content": "And tomorrow?"},
    ]
    sent = body(messages=messages, tools=[c.WEATHER_TOOL])
    assert sent["system"] == "Be brief."
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_0", "name": "get_weather",
             "input": {"location": "Paris"}},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"location": "Oslo"}},
        ],
    }
    assert sent["messages"][2:] == [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_0", "content": "18"},
                {"type": "tool_result", "tool_use_id": "toolu_1"},
            ],
        },
        {"role": "user", "content": "And tomorrow?"},
    ]


def test_issue14_tool_call_arguments_that_are_not_an_object_are_refused() -> None:
    bad = {**ASKED, "tool_calls": [{**ASKED["tool_calls"][0], "function": {
        "name": "get_weather", "arguments": "[1, 2]"}}]}
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build(h.request(messages=[ASK, bad, RESULT], tools=[c.WEATHER_TOOL]))
    assert info.value.field == "messages[1].tool_calls[0].function.arguments"


def test_issue14_images_golden_blocks() -> None:
    """The vision guide's shapes: base64 source for data: URLs, url source for https."""
    message = {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": c.PNG_URL, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": c.HTTPS_IMAGE}},
            {"type": "text", "text": "Describe these images."},
        ],
    }
    assert body(messages=[message])["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": c.PNG_B64}},
                {"type": "image", "source": {"type": "url", "url": c.HTTPS_IMAGE}},
                {"type": "text", "text": "Describe these images."},
            ],
        }
    ]


def test_issue14_stop_sequences_and_top_p() -> None:
    sent = body(stop=["\n\nHuman:", "END"], top_p=0.9, seed=7, presence_penalty=0.5)
    assert (sent["stop_sequences"], sent["top_p"]) == (["\n\nHuman:", "END"], 0.9)
    assert not {"seed", "presence_penalty", "frequency_penalty", "stop"} & set(sent)


def test_issue14_a_plain_request_has_no_chat_keys() -> None:
    assert set(body()) == {"model", "max_tokens", "messages", "temperature"}


def test_issue14_json_schema_is_a_forced_answer_tool() -> None:
    sent = body(response_format=c.PERSON_FORMAT)
    assert sent["tools"] == [
        {
            "name": ANSWER_TOOL,
            "description": "Give your final answer by calling this tool: its input is the "
            "answer, JSON matching the schema 'person'.",
            "input_schema": c.PERSON_SCHEMA,
        }
    ]
    assert sent["tool_choice"] == {
        "type": "tool", "name": ANSWER_TOOL, "disable_parallel_tool_use": True
    }


def test_issue14_json_object_is_a_forced_tool_taking_any_object() -> None:
    sent = body(response_format={"type": "json_object"})
    assert sent["tools"][0]["input_schema"] == {"type": "object"}
    assert sent["tool_choice"]["name"] == ANSWER_TOOL


def test_issue14_a_schema_of_another_root_is_wrapped_with_its_definitions_at_the_root() -> None:
    schema = {"type": "array", "items": {"$ref": "#/$defs/Item"},
              "$defs": {"Item": {"type": "string"}}}
    form = {"type": "json_schema", "json_schema": {"name": "items", "schema": schema}}
    tool = body(response_format=form)["tools"][0]
    assert tool["name"] == ANSWER_VALUE_TOOL
    assert tool["input_schema"] == {
        "type": "object",
        "properties": {"value": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
        "required": ["value"],
        "$defs": {"Item": {"type": "string"}},
    }


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (None, {"type": "any"}),
        ("required", {"type": "any"}),
        ("none", {"type": "tool", "name": ANSWER_TOOL, "disable_parallel_tool_use": True}),
        ({"type": "function", "function": {"name": "get_weather"}},
         {"type": "tool", "name": "get_weather"}),
    ],
)
def test_issue14_structured_output_with_own_tools(choice: object, wire: object) -> None:
    """The model may call the caller's tools or give the answer (``any``); ``none``
    forces the answer; a named function is forced as asked."""
    sent = body(tools=[c.WEATHER_TOOL], tool_choice=choice, response_format=c.PERSON_FORMAT)
    assert [t["name"] for t in sent["tools"]] == ["get_weather", ANSWER_TOOL]
    assert sent["tool_choice"] == wire


def test_issue14_the_answer_tool_names_are_reserved() -> None:
    tool = {"name": ANSWER_TOOL, "parameters": {"type": "object"}}
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build(h.request(tools=[c.WEATHER_TOOL, tool]))
    assert info.value.field == "tools[1].name"


# -- replies ---------------------------------------------------------------------------------

# The tool-use guide's response.
TOOL_REPLY = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "model": "claude-opus-4-1-20250805",
    "stop_reason": "tool_use",
    "role": "assistant",
    "content": [
        {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
        {"type": "tool_use", "id": TOOL_USE_ID, "name": "get_weather",
         "input": {"location": "San Francisco, CA", "unit": "celsius"}},
    ],
    "usage": {"input_tokens": 472, "output_tokens": 89},
}


def test_issue14_tool_use_reply_golden() -> None:
    assert ADAPTER.parse(h.reply(200, TOOL_REPLY)) == Completion(
        content="I'll check the current weather in San Francisco for you.",
        model="claude-opus-4-1-20250805",
        usage=Usage(472, 89),
        finish_reason="tool_calls",
        tool_calls=(
            ToolCall(TOOL_USE_ID, "get_weather",
                     json.dumps({"location": "San Francisco, CA", "unit": "celsius"})),
        ),
    )


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("tool_use", "tool_calls"),
        (None, None),
    ],
)
def test_issue14_stop_reason_is_normalised(stop: str | None, finish: str | None) -> None:
    reply = {**TOOL_REPLY, "stop_reason": stop, "content": [{"type": "text", "text": "x"}]}
    assert ADAPTER.parse(h.reply(200, reply)).finish_reason == finish


@pytest.mark.parametrize(
    "block",
    [
        {"type": "tool_use", "id": TOOL_USE_ID, "name": "get_weather", "input": "San Francisco"},
        {"type": "tool_use", "id": TOOL_USE_ID, "name": "get_weather", "input": [1]},
        {"type": "tool_use", "id": TOOL_USE_ID, "name": "get_weather"},
        {"type": "tool_use", "name": "get_weather", "input": {}},
        {"type": "tool_use", "id": TOOL_USE_ID, "input": {}},
    ],
    ids=["string-input", "list-input", "no-input", "no-id", "no-name"],
)
def test_issue14_a_tool_use_block_that_is_not_a_call_is_a_bad_response(block: dict) -> None:
    error = h.parse_error(ADAPTER, h.reply(200, {**TOOL_REPLY, "content": [block]}))
    assert type(error) is BadResponseError and error.provider == "anthropic"


def test_issue14_forced_answer_becomes_the_json_content() -> None:
    reply = {**TOOL_REPLY, "content": [
        {"type": "tool_use", "id": "toolu_9", "name": ANSWER_TOOL,
         "input": {"name": "Ada", "age": 36}}]}
    completion = ADAPTER.parse(h.reply(200, reply))
    assert json.loads(completion.content) == {"name": "Ada", "age": 36}
    assert (completion.tool_calls, completion.finish_reason) == ((), "stop")


def test_issue14_wrapped_answer_is_unwrapped() -> None:
    reply = {**TOOL_REPLY, "content": [
        {"type": "tool_use", "id": "toolu_9", "name": ANSWER_VALUE_TOOL,
         "input": {"value": ["a", "b"]}}]}
    assert json.loads(ADAPTER.parse(h.reply(200, reply)).content) == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "value"), [(ANSWER_TOOL, "text"), (ANSWER_VALUE_TOOL, {"other": 1})]
)
def test_issue14_an_answer_that_is_not_its_object_is_a_bad_response(
    name: str, value: object
) -> None:
    reply = {**TOOL_REPLY, "content": [
        {"type": "tool_use", "id": "toolu_9", "name": name, "input": value}]}
    assert type(h.parse_error(ADAPTER, h.reply(200, reply))) is BadResponseError


def test_issue14_answer_and_a_call_together_keep_both() -> None:
    reply = {**TOOL_REPLY, "content": [
        TOOL_REPLY["content"][1],
        {"type": "tool_use", "id": "toolu_9", "name": ANSWER_TOOL, "input": {"a": 1}}]}
    completion = ADAPTER.parse(h.reply(200, reply))
    assert completion.content == '{"a": 1}'
    assert [call.name for call in completion.tool_calls] == ["get_weather"]
    assert completion.finish_reason == "tool_calls"


# -- streams ---------------------------------------------------------------------------------


def event(kind: str, **fields: object) -> tuple[str, dict[str, object]]:
    return kind, {"type": kind, **fields}


def json_delta(index: int, piece: str) -> tuple[str, dict[str, object]]:
    return event("content_block_delta", index=index,
                 delta={"type": "input_json_delta", "partial_json": piece})


MESSAGE_START = {
    "id": "msg_014p7gG3wDgGV9EUtLvnow3U", "type": "message", "role": "assistant",
    "model": "claude-opus-4-1-20250805", "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 2}, "content": [], "stop_reason": None,
}
TOOL_PIECES = ['{"location":', ' "San', ' Francisc', 'o,', ' CA"', ", ",
               '"unit": "fah', 'renheit"}']
# The streaming guide's tool-use example (a text block, then a tool_use block), and a
# second call so that call indexes count tool_use blocks only.
TOOL_STREAM = h.sse(
    event("message_start", message=MESSAGE_START),
    event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    event("ping"),
    event("content_block_delta", index=0,
          delta={"type": "text_delta", "text": "Okay, let's check"}),
    event("content_block_stop", index=0),
    event("content_block_start", index=1, content_block={
        "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
        "input": {}}),
    json_delta(1, ""),
    *[json_delta(1, piece) for piece in TOOL_PIECES],
    event("content_block_stop", index=1),
    event("content_block_start", index=2, content_block={
        "type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}}),
    json_delta(2, ""),
    event("content_block_stop", index=2),
    event("message_delta", delta={"stop_reason": "tool_use", "stop_sequence": None},
          usage={"output_tokens": 89}),
    event("message_stop"),
)
CALLS = (
    ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather",
             '{"location": "San Francisco, CA", "unit": "fahrenheit"}'),
    ToolCall("toolu_02", "get_time", "{}"),
)


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_issue14_tool_stream_golden(how: str) -> None:
    result = c.streamed(ADAPTER.stream_decoder, h.stream_chunkings(TOOL_STREAM)[how])
    assert result.text == "Okay, let's check"
    assert result.calls == CALLS
    assert (result.done.finish_reason, result.done.usage) == ("tool_calls", Usage(472, 89))


def test_issue14_tool_stream_deltas_by_call_index() -> None:
    events = h.decode(ADAPTER.stream_decoder, [TOOL_STREAM])
    deltas = [d for e in events for d in e.tool_calls]
    assert deltas[0] == ToolCallDelta(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", "")
    assert [d.arguments for d in deltas[1:-1]] == TOOL_PIECES
    assert deltas[-1] == ToolCallDelta(1, "toolu_02", "get_time", "")


@given(h.cut_points(TOOL_STREAM))
def test_issue14_tool_stream_any_split_gives_the_same_result(cuts: list[int]) -> None:
    c.assert_any_split_same(ADAPTER.stream_decoder, TOOL_STREAM, cuts)


def test_issue14_streamed_arguments_that_are_not_an_object_are_a_bad_response() -> None:
    data = TOOL_STREAM.replace(b'renheit\\"}', b'renheit\\"]')
    error = h.stream_error(ADAPTER.stream_decoder, data)
    assert type(error) is BadResponseError and "get_weather" in str(error)


def test_issue14_a_streamed_tool_use_without_an_id_is_a_bad_response() -> None:
    data = TOOL_STREAM.replace(b'"id": "toolu_02", ', b"")
    assert type(h.stream_error(ADAPTER.stream_decoder, data)) is BadResponseError


def answer_stream(name: str, pieces: list[str]) -> bytes:
    return h.sse(
        event("message_start", message=MESSAGE_START),
        event("content_block_start", index=0, content_block={
            "type": "tool_use", "id": "toolu_9", "name": name, "input": {}}),
        *[json_delta(0, piece) for piece in pieces],
        event("content_block_stop", index=0),
        event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 9}),
        event("message_stop"),
    )


ANSWER_STREAM = answer_stream(ANSWER_TOOL, ['{"name": "A', 'da", "ag', 'e": 36}'])


def test_issue14_streamed_answer_is_text() -> None:
    events = h.decode(ADAPTER.stream_decoder, [ANSWER_STREAM])
    assert [e.text for e in events[:-1]] == ['{"name": "A', 'da", "ag', 'e": 36}']
    assert (events[-1].finish_reason, [e for e in events if e.tool_calls]) == ("stop", [])


@given(h.cut_points(ANSWER_STREAM))
def test_issue14_answer_stream_any_split_gives_the_same_result(cuts: list[int]) -> None:
    c.assert_any_split_same(ADAPTER.stream_decoder, ANSWER_STREAM, cuts)


def test_issue14_streamed_wrapped_answer_is_unwrapped_at_the_block_end() -> None:
    data = answer_stream(ANSWER_VALUE_TOOL, ['{"value": ["a",', ' "b"]}'])
    result = c.streamed(ADAPTER.stream_decoder, h.bytewise(data))
    assert (json.loads(result.text), result.calls) == (["a", "b"], ())


def test_issue14_streamed_wrapped_answer_without_its_value_is_a_bad_response() -> None:
    data = answer_stream(ANSWER_VALUE_TOOL, ['{"other": 1}'])
    assert type(h.stream_error(ADAPTER.stream_decoder, data)) is BadResponseError


def test_issue14_tool_stream_cut_anywhere_before_its_stop_reason_raises() -> None:
    h.cut_everywhere(ADAPTER.stream_decoder, TOOL_STREAM, b'"stop_reason": "tool_use"')


def test_issue14_tool_stream_ending_cleanly_after_its_stop_reason_is_complete() -> None:
    data = TOOL_STREAM[: TOOL_STREAM.index(b"event: message_stop")]
    result = c.streamed(ADAPTER.stream_decoder, [data])
    assert (result.calls, result.done.finish_reason) == (CALLS, "tool_calls")


def test_issue14_call_ids_from_other_providers_are_made_valid_and_still_match() -> None:
    """The Messages API refuses tool_use ids outside ``^[a-zA-Z0-9_-]+$``; an id another
    provider made (``functions.get_weather:0``) is rewritten the same way in the call and
    in its result, and two ids that differ only in such characters stay apart."""
    ids = ["functions.get_weather:0", "functions_get_weather_0", "functions:get_weather.0"]
    messages: list[dict[str, object]] = [ASK]
    for call_id in ids:
        call = {**ASKED["tool_calls"][0], "id": call_id}
        messages += [{**ASKED, "tool_calls": [call]}, {**RESULT, "tool_call_id": call_id}]
    sent = body(messages=messages, tools=[c.WEATHER_TOOL])["messages"]
    uses = [turn["content"][1]["id"] for turn in sent[1::2]]
    results = [turn["content"][0]["tool_use_id"] for turn in sent[2::2]]
    assert uses == results
    assert uses[1] == "functions_get_weather_0"  # a valid id is kept as it is
    assert len(set(uses)) == 3
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]+", u) for u in uses)


def test_issue14_a_prefilled_json_answer_is_continued_as_text_not_restarted_by_the_tool() -> None:
    """stream_recovery="continue" sends the JSON delivered so far as a prefill: the
    model must continue that text, so no answer tool is forced (it would start over)."""
    messages = [{"role": "user", "content": "Who?"},
                {"role": "assistant", "content": '{"name": "Ad'}]
    sent = body(messages=messages, response_format=c.PERSON_FORMAT)
    assert "tools" not in sent and "tool_choice" not in sent
    assert sent["messages"][-1] == {"role": "assistant", "content": '{"name": "Ad'}
    with_tools = body(messages=messages, response_format=c.PERSON_FORMAT, tools=[c.WEATHER_TOOL])
    assert [t["name"] for t in with_tools["tools"]] == ["get_weather"]
    assert "tool_choice" not in with_tools

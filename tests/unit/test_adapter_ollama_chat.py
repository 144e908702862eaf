"""OllamaAdapter, the chat surface (issue 14 items 3-4): tools, tool calls and results,
``format`` for JSON and JSON-schema output, base64 images, sampling options, and tool
calls in replies and streams. Golden bodies follow Ollama's API reference (chat with
tools, structured outputs, images, reproducible outputs) and tool-calling guide."""

from __future__ import annotations

import json

import adapter_helpers as h
import chat_adapter_helpers as c
import pytest
from hypothesis import given

from sarvanom_sdk.chat import ToolCall, ToolCallDelta
from sarvanom_sdk.errors import BadResponseError, InvalidRequestError
from sarvanom_sdk.providers import OllamaAdapter
from sarvanom_sdk.providers.base import Completion
from sarvanom_sdk.types import Usage

ADAPTER = OllamaAdapter(base_url="http://localhost:11434", default_model="llama3.2")
ASK = {"role": "user", "content": "What is the weather today in Paris?"}
ASKED = {
    "role": "assistant",
    "content": "",
    "tool_calls": [
        {"id": "call_0", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"location": "Paris, FR"}'}}
    ],
}
RESULT = {"role": "tool", "tool_call_id": "call_0", "content": "22 degrees celsius"}


def body(**fields: object) -> dict[str, object]:
    return h.call_body(ADAPTER.build(h.request(**fields)))


def test_issue14_capabilities_are_declared() -> None:
    assert ADAPTER.capabilities == frozenset(
        {"tools", "json_object", "json_schema", "images", "stop", "seed"}
    )


# -- requests --------------------------------------------------------------------------------


def test_issue14_tools_golden_body() -> None:
    """The reference's "chat request (with tools)"."""
    assert body(messages=[ASK], tools=[c.WEATHER_TOOL], temperature=0) == {
        "model": "llama3.2",
        "messages": [ASK],
        "stream": False,
        "options": {"num_predict": 64, "temperature": 0.0},
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Get the current weather in a given location",
                    "parameters": c.WEATHER_SCHEMA,
                },
            }
        ],
    }


@pytest.mark.parametrize(
    ("choice", "names"),
    [
        (None, ["get_weather", "get_time"]),
        ("auto", ["get_weather", "get_time"]),
        ("required", ["get_weather", "get_time"]),
        ({"type": "function", "function": {"name": "get_time"}}, ["get_time"]),
        ("none", None),
    ],
)
def test_issue14_tool_choice_narrows_the_tools(choice: object, names: list[str] | None) -> None:
    sent = body(tools=[c.WEATHER_TOOL, c.TIME_TOOL], tool_choice=choice,
                parallel_tool_calls=False)
    tools = sent.get("tools")
    assert (None if tools is None else [t["function"]["name"] for t in tools]) == names
    assert "tool_choice" not in sent and "parallel_tool_calls" not in sent


def test_issue14_tool_loop_turns_golden() -> None:
    """The tool-calling guide's loop: the assistant's call with an arguments *object*,
    then the result as a tool message naming the function."""
    assert body(messages=[ASK, ASKED, RESULT], tools=[c.WEATHER_TOOL])["messages"] == [
        ASK,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"location": "Paris, FR"}}}
            ],
        },
        {"role": "tool", "content": "22 degrees celsius", "tool_name": "get_weather"},
    ]


def test_issue14_tool_result_name_from_the_message_or_none() -> None:
    named = {**RESULT, "name": "lookup", "tool_call_id": "elsewhere"}
    orphan = {**RESULT, "tool_call_id": "elsewhere"}
    sent = body(messages=[ASK, ASKED, named, orphan])["messages"]
    assert sent[2]["tool_name"] == "lookup"
    assert "tool_name" not in sent[3]


def test_issue14_tool_call_arguments_that_are_not_an_object_are_refused() -> None:
    bad = {**ASKED, "tool_calls": [{"id": "call_0", "type": "function", "function": {
        "name": "get_weather", "arguments": "not json"}}]}
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build(h.request(messages=[ASK, bad, RESULT]))
    assert info.value.field == "messages[1].tool_calls[0].function.arguments"


def test_issue14_images_are_base64_on_the_message() -> None:
    """The reference's "chat request (with images)": the text as content, the images'
    base64 data (whitespace removed) in ``images``."""
    wrapped = c.PNG_URL[:40] + "\n" + c.PNG_URL[40:]
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is in this image?"},
            {"type": "image_url", "image_url": {"url": wrapped, "detail": "high"}},
        ],
    }
    assert body(messages=[message])["messages"] == [
        {"role": "user", "content": "what is in this image?", "images": [c.PNG_B64]}
    ]


def test_issue14_https_images_cannot_be_sent() -> None:
    message = {"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": c.HTTPS_IMAGE}}]}
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build(h.request(messages=[message]))
    assert info.value.field == "messages[0].content[1].image_url.url"


def test_issue14_structured_output_golden_body() -> None:
    """The reference's "chat request (structured outputs)": the schema as ``format``."""
    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer"}, "available": {"type": "boolean"}},
        "required": ["age", "available"],
    }
    form = {"type": "json_schema", "json_schema": {"name": "status", "schema": schema}}
    prompt = ("Ollama is 22 years old and busy saving the world. Return a JSON object with "
              "the age and availability.")
    assert body(prompt=prompt, response_format=form, temperature=0, model="llama3.1",
                provider="ollama_local") == {
        "model": "llama3.1",
        "messages": [{"role": "user", "content": prompt}],
        "stream": False,
        "options": {"num_predict": 64, "temperature": 0.0},
        "format": schema,
    }


def test_issue14_json_object_is_format_json() -> None:
    assert body(response_format={"type": "json_object"})["format"] == "json"


def test_issue14_sampling_options() -> None:
    """The reference's "reproducible outputs" (``options.seed``) and the other options."""
    sent = body(seed=101, temperature=0, top_p=0.9, stop=["\n\n", "END"],
                presence_penalty=0.5, frequency_penalty=-0.5)
    assert sent["options"] == {
        "num_predict": 64, "temperature": 0.0, "top_p": 0.9, "seed": 101,
        "presence_penalty": 0.5, "frequency_penalty": -0.5, "stop": ["\n\n", "END"],
    }


def test_issue14_a_plain_request_has_no_chat_keys() -> None:
    sent = body()
    assert set(sent) == {"model", "messages", "stream", "options"}
    assert set(sent["options"]) == {"num_predict", "temperature"}


# -- replies ---------------------------------------------------------------------------------

# The reference's "chat request (with tools)" response.
TOOL_REPLY = {
    "model": "llama3.2",
    "created_at": "2024-07-22T20:33:28.123648Z",
    "message": {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": "get_current_weather",
                          "arguments": {"format": "celsius", "location": "Paris, FR"}}}
        ],
    },
    "done_reason": "stop",
    "done": True,
    "total_duration": 885095291,
    "load_duration": 3753500,
    "prompt_eval_count": 122,
    "prompt_eval_duration": 328493000,
    "eval_count": 33,
    "eval_duration": 552222000,
}


def test_issue14_tool_call_reply_golden() -> None:
    assert ADAPTER.parse(h.reply(200, TOOL_REPLY)) == Completion(
        content="",
        model="llama3.2",
        usage=Usage(122, 33),
        finish_reason="tool_calls",
        tool_calls=(
            ToolCall("call_0", "get_current_weather",
                     json.dumps({"format": "celsius", "location": "Paris, FR"})),
        ),
    )


def test_issue14_ids_from_the_server_are_kept_and_missing_ones_numbered() -> None:
    calls = [
        {"id": "call_abc", "function": {"index": 0, "name": "a", "arguments": {}}},
        {"function": {"index": 1, "name": "b", "arguments": '{"x": 1}'}},
    ]
    reply = {**TOOL_REPLY, "message": {"role": "assistant", "tool_calls": calls}}
    completion = ADAPTER.parse(h.reply(200, reply))
    assert completion.tool_calls == (
        ToolCall("call_abc", "a", "{}"),
        ToolCall("call_1", "b", '{"x": 1}'),
    )
    assert completion.content == ""


@pytest.mark.parametrize(
    ("done_reason", "finish"), [("stop", "stop"), ("length", "length"), (None, None)]
)
def test_issue14_done_reason_is_normalised(done_reason: str | None, finish: str | None) -> None:
    reply = {**TOOL_REPLY, "done_reason": done_reason,
             "message": {"role": "assistant", "content": "hi"}}
    assert ADAPTER.parse(h.reply(200, reply)).finish_reason == finish


@pytest.mark.parametrize(
    "calls",
    [
        [{"function": {"name": "f", "arguments": [1, 2]}}],
        [{"function": {"name": "f", "arguments": "not json"}}],
        [{"function": {"name": "f", "arguments": "[1]"}}],
        [{"function": {"arguments": {}}}],
        [{"name": "f"}],
        ["f"],
        {"function": {"name": "f", "arguments": {}}},
    ],
    ids=["list-args", "text-args", "array-text-args", "no-name", "no-function", "string",
         "not-a-list"],
)
def test_issue14_malformed_tool_calls_are_a_bad_response(calls: object) -> None:
    reply = {**TOOL_REPLY, "message": {"role": "assistant", "content": "", "tool_calls": calls}}
    error = h.parse_error(ADAPTER, h.reply(200, reply))
    assert type(error) is BadResponseError and error.provider == "ollama_local"


def test_issue14_structured_output_reply_is_the_content() -> None:
    reply = {**TOOL_REPLY, "message": {"role": "assistant",
                                       "content": '{"age": 22, "available": false}'}}
    completion = ADAPTER.parse(h.reply(200, reply))
    assert completion.content == '{"age": 22, "available": false}'
    assert completion.finish_reason == "stop"


# -- streams ---------------------------------------------------------------------------------


def chunk(content: str = "", tool_calls: list[object] | None = None) -> dict[str, object]:
    message: dict[str, object] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"model": "llama3.2", "created_at": "2025-05-29T09:35:56.1Z", "message": message,
            "done": False}


FINAL = {**TOOL_REPLY, "message": {"role": "assistant", "content": ""}}
WEATHER_CALL = {"function": {"name": "get_weather", "arguments": {"location": "Paris, FR"}}}
TIME_CALL = {"function": {"name": "get_time", "arguments": {}}}
# A streamed tool-calling turn: some text, then whole calls in chunks of their own.
TOOL_STREAM = h.ndjson(
    chunk("Let me check."),
    chunk(tool_calls=[WEATHER_CALL]),
    chunk(tool_calls=[TIME_CALL]),
    FINAL,
)
CALLS = (
    ToolCall("call_0", "get_weather", '{"location": "Paris, FR"}'),
    ToolCall("call_1", "get_time", "{}"),
)


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_issue14_tool_stream_golden(how: str) -> None:
    result = c.streamed(ADAPTER.stream_decoder, h.stream_chunkings(TOOL_STREAM)[how])
    assert (result.text, result.calls) == ("Let me check.", CALLS)
    assert (result.done.finish_reason, result.done.usage) == ("tool_calls", Usage(122, 33))


def test_issue14_tool_stream_deltas_are_whole_calls() -> None:
    events = h.decode(ADAPTER.stream_decoder, [TOOL_STREAM])
    assert [e.tool_calls for e in events if e.tool_calls] == [
        (ToolCallDelta(0, "call_0", "get_weather", '{"location": "Paris, FR"}'),),
        (ToolCallDelta(1, "call_1", "get_time", "{}"),),
    ]


@given(h.cut_points(TOOL_STREAM))
def test_issue14_tool_stream_any_split_gives_the_same_result(cuts: list[int]) -> None:
    c.assert_any_split_same(ADAPTER.stream_decoder, TOOL_STREAM, cuts)


def test_issue14_calls_in_the_final_object_are_delivered() -> None:
    data = h.ndjson({**FINAL, "message": {"role": "assistant", "content": "",
                                          "tool_calls": [WEATHER_CALL]}})
    result = c.streamed(ADAPTER.stream_decoder, [data])
    assert (result.calls, result.done.finish_reason) == (CALLS[:1], "tool_calls")


def test_issue14_streamed_malformed_arguments_are_a_bad_response() -> None:
    bad = {"function": {"name": "get_weather", "arguments": "Paris"}}
    data = h.ndjson(chunk("Let me check."), chunk(tool_calls=[bad]), FINAL)
    assert type(h.stream_error(ADAPTER.stream_decoder, data)) is BadResponseError


def test_issue14_tool_stream_cut_anywhere_before_the_done_object_raises() -> None:
    h.cut_everywhere(ADAPTER.stream_decoder, TOOL_STREAM, b'"done_reason": "stop"')

"""Issue 14 item 3: the OpenAI protocol speaks the whole chat surface — tools, tool
choice, tool messages, structured output, sampling controls, images; tool calls and
finish reasons out, streamed ``delta.tool_calls`` by index. Golden shapes from OpenAI's
Chat Completions reference and its function-calling, structured-output and vision
guides. Also the Hugging Face task API's ``stop``/``seed`` and each adapter's declared
capabilities. Bytes in, values out."""

from __future__ import annotations

import json

import adapter_helpers as h
import pytest
from hypothesis import given

from sarvanom_sdk.chat import CAPABILITIES, ToolCall, ToolCallDelta, assemble_tool_calls
from sarvanom_sdk.errors import BadResponseError
from sarvanom_sdk.providers import HuggingFaceAdapter, OpenAIAdapter, RemoteGPUAdapter
from sarvanom_sdk.types import ProviderName

ADAPTER = OpenAIAdapter(
    name=ProviderName.OPENAI,
    base_url="https://api.openai.com/v1",
    api_key="test-openai-key-7Hq2",
    default_model="gpt-4o-mini",
)

# The function-calling guide's tool.
GET_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}

# The reference's "Functions" example response.
TOOL_REPLY = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1699896916,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{\n"location": "Boston, MA"\n}',
                        },
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
}

# The structured-outputs guide's schema.
MATH_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "math_response",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "explanation": {"type": "string"},
                            "output": {"type": "string"},
                        },
                        "required": ["explanation", "output"],
                        "additionalProperties": False,
                    },
                },
                "final_answer": {"type": "string"},
            },
            "required": ["steps", "final_answer"],
            "additionalProperties": False,
        },
    },
}

IMAGE_URL = "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg"


def body_of(**fields: object) -> dict[str, object]:
    return h.call_body(ADAPTER.build(h.request(**fields)))


# -- request bodies ----------------------------------------------------------------------------


def test_issue14_golden_tool_request() -> None:
    body = body_of(
        prompt="What's the weather like in Boston today?",
        tools=[GET_WEATHER],
        tool_choice="auto",
    )
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What's the weather like in Boston today?"}],
        "max_tokens": 64,
        "temperature": 0.5,
        "tools": [GET_WEATHER],
        "tool_choice": "auto",
    }


def test_issue14_named_tool_choice_and_parallel_flag() -> None:
    body = body_of(
        prompt="x",
        tools=[GET_WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_current_weather"}},
        parallel_tool_calls=False,
    )
    assert body["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_current_weather"},
    }
    assert body["parallel_tool_calls"] is False


def test_issue14_tool_choice_and_parallel_flag_only_beside_tools() -> None:
    body = body_of(prompt="x", parallel_tool_calls=True, tool_choice="none")
    assert "tools" not in body and "tool_choice" not in body
    assert "parallel_tool_calls" not in body


def test_issue14_golden_tool_result_conversation() -> None:
    messages = [
        {"role": "user", "content": "What's the weather like in Boston today?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": TOOL_REPLY["choices"][0]["message"]["tool_calls"],  # type: ignore[index]
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temperature": "22C"}'},
    ]
    body = body_of(messages=messages, tools=[GET_WEATHER], system="Be brief.")
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, *messages]


def test_issue14_golden_structured_output_request() -> None:
    body = body_of(prompt="solve 8x + 7 = -23", response_format=MATH_FORMAT)
    assert body["response_format"] == MATH_FORMAT
    assert body_of(prompt="x", response_format={"type": "json_object"})["response_format"] == {
        "type": "json_object"
    }


def test_issue14_sampling_controls_are_sent_under_openai_names() -> None:
    body = body_of(
        prompt="x",
        stop=["\n\n", "END"],
        top_p=0.9,
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
    )
    assert {
        k: body[k] for k in ("stop", "top_p", "seed", "presence_penalty", "frequency_penalty")
    } == {
        "stop": ["\n\n", "END"],
        "top_p": 0.9,
        "seed": 42,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
    }


def test_issue14_a_plain_request_body_is_unchanged() -> None:
    assert set(body_of(prompt="x")) == {"model", "messages", "max_tokens", "temperature"}


def test_issue14_golden_image_request() -> None:
    content = [
        {"type": "text", "text": "What's in this image?"},
        {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "low"}},
    ]
    body = body_of(messages=[{"role": "user", "content": content}])
    assert body["messages"] == [{"role": "user", "content": content}]


# -- replies ---------------------------------------------------------------------------------


def test_issue14_golden_tool_call_reply() -> None:
    completion = ADAPTER.parse(h.reply(200, TOOL_REPLY))
    assert completion.content == ""
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls == (
        ToolCall("call_abc123", "get_current_weather", '{\n"location": "Boston, MA"\n}'),
    )
    assert completion.tool_calls[0].parsed_arguments() == {"location": "Boston, MA"}
    assert completion.usage is not None and completion.usage.prompt_tokens == 82


def reply_with(message: dict[str, object], finish: str = "tool_calls") -> object:
    body = json.loads(json.dumps(TOOL_REPLY))
    body["choices"][0]["message"] = {"role": "assistant", **message}
    body["choices"][0]["finish_reason"] = finish
    return h.reply(200, body)


def test_issue14_several_tool_calls_and_text_together() -> None:
    completion = ADAPTER.parse(
        reply_with(
            {
                "content": "Checking both.",
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {
                        "id": "b",
                        "type": "function",
                        "function": {"name": "g", "arguments": '{"x":1}'},
                    },
                ],
            }
        )
    )
    assert completion.content == "Checking both."
    assert [c.id for c in completion.tool_calls] == ["a", "b"]


def test_issue14_servers_variants_of_tool_calls_are_read() -> None:
    """Arguments as an object (some compatible servers), empty arguments, a missing id,
    and the legacy ``function_call`` with its finish reason."""
    completion = ADAPTER.parse(
        reply_with(
            {
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}},
                    {"id": "b", "type": "function", "function": {"name": "g", "arguments": ""}},
                ],
            }
        )
    )
    assert completion.tool_calls == (ToolCall("call_0", "f", '{"x": 1}'), ToolCall("b", "g", "{}"))
    legacy = ADAPTER.parse(
        reply_with(
            {"content": None, "function_call": {"name": "f", "arguments": "{}"}}, "function_call"
        )
    )
    assert legacy.tool_calls == (ToolCall("call_0", "f", "{}"),)
    assert legacy.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "calls",
    [
        [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}],
        [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
        [{"id": "a", "type": "function", "function": {"arguments": "{}"}}],
        [{"id": "a", "type": "function", "function": {"name": "f", "arguments": 3}}],
        "not a list",
    ],
)
def test_issue14_malformed_tool_calls_are_a_bad_reply(calls: object) -> None:
    with pytest.raises(BadResponseError) as info:
        ADAPTER.parse(reply_with({"content": None, "tool_calls": calls}))
    assert info.value.provider == "openai"


def test_issue14_no_content_and_no_tool_calls_is_still_no_answer() -> None:
    with pytest.raises(BadResponseError, match="content"):
        ADAPTER.parse(reply_with({"content": None}, "stop"))


@pytest.mark.parametrize(
    ("given_reason", "normal"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("eos", "stop"),
    ],
)
def test_issue14_finish_reasons_are_normalised(given_reason: str, normal: str) -> None:
    assert ADAPTER.parse(reply_with({"content": "x"}, given_reason)).finish_reason == normal


# -- streams -----------------------------------------------------------------------------------


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def tool_delta(index: int, arguments: str, **first: str) -> dict[str, object]:
    piece: dict[str, object] = {"index": index, "function": {"arguments": arguments}}
    if first:
        piece = {
            "index": index,
            "id": first["id"],
            "type": "function",
            "function": {"name": first["name"], "arguments": arguments},
        }
    return {"tool_calls": [piece]}


# The function-calling guide's streamed tool call (two calls, interleaved by index).
TOOL_STREAM = h.sse(
    (
        None,
        chunk(
            {
                "role": "assistant",
                "content": None,
                **tool_delta(0, "", id="call_DdmO9pD3", name="get_weather"),
            }
        ),
    ),
    (None, chunk(tool_delta(0, '{"'))),
    (None, chunk(tool_delta(0, "location"))),
    (None, chunk(tool_delta(0, '":"'))),
    (None, chunk(tool_delta(1, "", id="call_2", name="get_time"))),
    (None, chunk(tool_delta(0, "Paris, France"))),
    (None, chunk(tool_delta(1, "{}"))),
    (None, chunk(tool_delta(0, '"}'))),
    (None, chunk({}, "tool_calls")),
    (None, "[DONE]"),
)
TOOL_STREAM_CALLS = (
    ToolCall("call_DdmO9pD3", "get_weather", '{"location":"Paris, France"}'),
    ToolCall("call_2", "get_time", "{}"),
)


def streamed_calls(chunks: list[bytes]) -> tuple[tuple[ToolCall, ...], str | None]:
    events = h.decode(ADAPTER.stream_decoder, chunks)
    assert events[-1].done and sum(e.done for e in events) == 1
    deltas = [d for e in events for d in e.tool_calls]
    return assemble_tool_calls(deltas), events[-1].finish_reason


@pytest.mark.parametrize("chunking", ["whole", "bytewise", "halves"])
def test_issue14_streamed_tool_calls_are_assembled_by_index(chunking: str) -> None:
    calls, finish = streamed_calls(h.stream_chunkings(TOOL_STREAM)[chunking])
    assert calls == TOOL_STREAM_CALLS
    assert finish == "tool_calls"


@given(cuts=h.cut_points(TOOL_STREAM))
def test_issue14_streamed_tool_calls_survive_any_chunking(cuts: list[int]) -> None:
    assert streamed_calls(h.split(TOOL_STREAM, cuts))[0] == TOOL_STREAM_CALLS


def test_issue14_first_tool_delta_carries_id_and_name() -> None:
    events = h.decode(ADAPTER.stream_decoder, [TOOL_STREAM])
    assert events[0].tool_calls == (ToolCallDelta(0, "call_DdmO9pD3", "get_weather", ""),)
    assert events[1].tool_calls == (ToolCallDelta(0, None, None, '{"'),)


# -- other adapters of the protocol, and capabilities ------------------------------------------


def test_issue14_openai_protocol_adapters_declare_every_capability() -> None:
    hf = HuggingFaceAdapter(api_key="k", default_model="m")
    gpu = RemoteGPUAdapter(url="http://127.0.0.1:9", protocol="openai")
    for adapter in (ADAPTER, hf, gpu):
        assert adapter.capabilities == frozenset(CAPABILITIES)
    body = h.call_body(gpu.build(h.request(prompt="x", tools=[GET_WEATHER], seed=1)))
    assert body["tools"] == [GET_WEATHER] and body["seed"] == 1


def test_issue14_prompt_protocols_declare_what_they_carry() -> None:
    task = HuggingFaceAdapter(api_key="k", default_model="gpt2", api="task")
    seed = RemoteGPUAdapter(url="http://127.0.0.1:9")
    assert task.capabilities == frozenset({"stop", "seed"})
    assert seed.capabilities == frozenset()


def test_issue14_hf_task_api_sends_stop_seed_and_top_p() -> None:
    task = HuggingFaceAdapter(api_key="k", default_model="gpt2", api="task")
    body = h.call_body(task.build(h.request(prompt="x", stop="END", seed=7, top_p=0.9)))
    assert body["parameters"]["stop"] == ["END"]
    assert body["parameters"]["seed"] == 7
    assert body["parameters"]["top_p"] == 0.9
    plain = h.call_body(task.build(h.request(prompt="x", top_p=1.0)))
    assert set(plain["parameters"]) == {"max_new_tokens", "return_full_text", "temperature"}


def test_issue14_a_server_without_some_capabilities_can_say_so() -> None:
    limited = OpenAIAdapter(
        base_url="http://127.0.0.1:8080/v1",
        default_model="m",
        capabilities=frozenset({"json_schema", "json_object"}),
        context_window=8192,
    )
    assert limited.capabilities == {"json_schema", "json_object"}
    assert limited.context_window == 8192

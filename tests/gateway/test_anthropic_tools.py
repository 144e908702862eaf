"""Issue 15 item 2 with the chat surface (issue 14): Anthropic's tools, tool_choice,
tool_use/tool_result blocks, image blocks, stop_sequences, top_p and output_config carried
through the SDK's types to a provider, and tool calls carried back as ``tool_use`` blocks
(streamed: ``input_json_delta``). The provider is a scripted OpenAI-protocol server on
127.0.0.1 (the remote GPU box's ``openai`` protocol), so both directions are checked on
the wire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from gateway_helpers import JSON_TYPE, ollama_client

from sarvanom_sdk import AsyncSarvanClient, Settings

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
ASK = [{"role": "user", "content": "Weather in Paris?"}]
PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)


class ScriptedOpenAI:
    """A /v1/chat/completions server answering from a script: each reply is a
    ``(message, finish_reason)``; a streamed request gets it as chunks (tool-call
    arguments in two pieces). Every request body is kept in ``bodies``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.replies: list[tuple[dict[str, Any], str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        message, finish = self.replies.pop(0) if self.replies else ({"content": "ok"}, "stop")
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", **message}}
            return web.json_response(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "model": "scripted",
                    "choices": [{**choice, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)

        async def send(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any):
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "model": "scripted",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            await out.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        await send({"role": "assistant"})
        if message.get("content"):
            await send({"content": message["content"]})
        for index, call in enumerate(message.get("tool_calls", ())):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            head = {"index": index, "id": call["id"], "type": "function"}
            first = {"name": call["function"]["name"], "arguments": arguments[:half]}
            await send({"tool_calls": [{**head, "function": first}]})
            await send(
                {"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}
            )
        await send({}, finish)
        await out.write(
            b"data: " + json.dumps({"id": "c1", "choices": [], "usage": usage}).encode() + b"\n\n"
        )
        await out.write(b"data: [DONE]\n\n")
        return out


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedOpenAI, str]]:
    fake = ScriptedOpenAI()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def claude(scripted, open_gateway) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The anthropic client on a gateway whose chain is the scripted OpenAI server."""
    _, url = scripted
    settings = Settings(
        providers=("remote_gpu",), gpu_remote_url=url, gpu_remote_protocol="openai", max_retries=0
    )
    gateway = await open_gateway(AsyncSarvanClient(settings))
    client = anthropic.AsyncAnthropic(
        base_url=str(gateway.make_url("")), api_key="x", max_retries=0
    )
    yield client
    await client.close()


async def test_issue15_2_a_tool_call_comes_back_as_a_tool_use_block(scripted, claude) -> None:
    fake, _ = scripted
    fake.replies.append(
        (
            {
                "content": "Let me check.",
                "tool_calls": [_call("call_1", "get_weather", {"city": "Paris"})],
            },
            "tool_calls",
        )
    )
    message = await claude.messages.create(
        model="sarvanom/auto",
        max_tokens=100,
        messages=ASK,
        tools=[WEATHER],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Let me check."
    use = message.content[1]
    assert (use.id, use.name, use.input) == ("call_1", "get_weather", {"city": "Paris"})
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    sent = fake.bodies[-1]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER["input_schema"],
            },
        }
    ]
    assert sent["tool_choice"] == "required"
    assert sent["parallel_tool_calls"] is False


async def test_issue15_2_a_named_tool_choice_and_sampling_controls(scripted, claude) -> None:
    fake, _ = scripted
    await claude.messages.create(
        model="sarvanom/auto",
        max_tokens=100,
        messages=ASK,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        stop_sequences=["\n\nHuman:", "END"],
        extra_body={"top_p": 0.5, "temperature": 0.3},
    )
    sent = fake.bodies[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["stop"] == ["\n\nHuman:", "END"]
    assert sent["top_p"] == 0.5 and sent["temperature"] == 0.3


async def test_issue15_2_the_tool_loop_and_images_reach_the_provider(scripted, claude) -> None:
    """An assistant turn with text and tool_use, a user turn with a tool_result (one an
    error), text and two images (base64 and url): OpenAI's tool messages, tool_calls and
    image parts on the wire, in Anthropic's order."""
    fake, _ = scripted
    message = await claude.messages.create(
        model="sarvanom/auto",
        max_tokens=100,
        tools=[WEATHER],
        messages=[
            *ASK,
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "get_weather",
                        "input": {"city": "Lyon"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "city unknown"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "And these pictures?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                ],
            },
        ],
    )
    assert message.content[0].text == "ok"
    sent = fake.bodies[-1]["messages"]
    assert sent[0] == {"role": "user", "content": "Weather in Paris?"}
    assert sent[1]["role"] == "assistant" and sent[1]["content"] == "Checking."
    assert [(c["id"], json.loads(c["function"]["arguments"])) for c in sent[1]["tool_calls"]] == [
        ("toolu_1", {"city": "Paris"}),
        ("toolu_2", {"city": "Lyon"}),
    ]
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"}
    assert sent[3] == {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: city unknown"}
    assert sent[4]["role"] == "user"
    assert sent[4]["content"] == [
        {"type": "text", "text": "And these pictures?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]


async def test_issue15_2_streamed_tool_use_blocks_with_input_json_delta(scripted, claude) -> None:
    fake, _ = scripted
    calls = [
        _call("call_1", "get_weather", {"city": "Paris"}),
        _call("call_2", "get_weather", {"city": "Rome"}),
    ]
    fake.replies.append(({"content": "Checking both.", "tool_calls": calls}, "tool_calls"))
    body = {"model": "sarvanom/auto", "max_tokens": 100, "messages": ASK, "tools": [WEATHER]}
    events = [e async for e in await claude.messages.create(**body, stream=True)]
    starts = [e for e in events if e.type == "content_block_start"]
    assert [(e.index, e.content_block.type) for e in starts] == [
        (0, "text"),
        (1, "tool_use"),
        (2, "tool_use"),
    ]
    assert [(s.content_block.id, s.content_block.name) for s in starts[1:]] == [
        ("call_1", "get_weather"),
        ("call_2", "get_weather"),
    ]
    pieces: dict[int, str] = {}
    for e in events:
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta":
            pieces[e.index] = pieces.get(e.index, "") + e.delta.partial_json
    assert {i: json.loads(p) for i, p in pieces.items()} == {
        1: {"city": "Paris"},
        2: {"city": "Rome"},
    }
    stops = [e.index for e in events if e.type == "content_block_stop"]
    assert stops == [0, 1, 2]
    assert events[-2].delta.stop_reason == "tool_use" and events[-1].type == "message_stop"

    fake.replies.append(({"tool_calls": calls[:1]}, "tool_calls"))
    async with claude.messages.stream(**body) as stream:
        final = await stream.get_final_message()
    assert [(b.type, b.id, b.input) for b in final.content] == [
        ("tool_use", "call_1", {"city": "Paris"})
    ]
    assert final.stop_reason == "tool_use"


async def test_issue15_2_output_config_json_schema_is_the_response_format(scripted, claude) -> None:
    fake, _ = scripted
    fake.replies.append(({"content": '{"city": "Paris"}'}, "stop"))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    message = await claude.messages.create(
        model="sarvanom/auto",
        max_tokens=100,
        messages=ASK,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert json.loads(message.content[0].text) == {"city": "Paris"}
    assert fake.bodies[-1]["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"name": "x"}]}, "tools[0].input_schema"),
        ({"tools": [{"name": "bad name!", "input_schema": {"type": "object"}}]}, "tools[0].name"),
        ({"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice"),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"top_p": 0}, "top_p"),
        ({"output_config": {"format": {"type": "xml"}}}, "output_config.format"),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}
                ]
            },
            "messages[0].content[0].source.type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "http://x/a.png"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
            "messages[0].content[0].tool_use_id",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": []}],
                    }
                ]
            },
            "messages[0].content[0].input",
        ),
    ],
)
async def test_issue15_2_bad_chat_surface_is_400_naming_the_field(
    open_gateway, emulator, extra, field
) -> None:
    client = await open_gateway(ollama_client(emulator))
    body = {"model": "sarvanom/auto", "max_tokens": 10, "messages": ASK, **extra}
    reply = await client.post("/v1/messages", json=body, headers=JSON_TYPE)
    assert reply.status == 400, await reply.text()
    error = (await reply.json())["error"]
    assert error["type"] == "invalid_request_error" and field in error["message"]
    assert emulator.request_count() == 0


async def test_issue15_2_count_tokens_counts_the_tools(open_gateway) -> None:
    from gateway_helpers import stub_client

    client = await open_gateway(stub_client())
    body = {"model": "sarvanom/auto", "messages": ASK}
    plain = await (await client.post("/v1/messages/count_tokens", json=body)).json()
    tooled = await (
        await client.post("/v1/messages/count_tokens", json={**body, "tools": [WEATHER]})
    ).json()
    assert tooled["input_tokens"] > plain["input_tokens"] + 10

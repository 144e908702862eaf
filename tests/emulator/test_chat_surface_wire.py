"""Issue 14 proof (emulator): every chat protocol speaks tools, structured output and
images in its provider's documented shapes, streamed and not, checked with the official
``openai``, ``anthropic`` and ``ollama`` clients (which parse those shapes) and, for the
exact layout, against golden bodies written from the providers' API references."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anthropic
import ollama
import openai
import pydantic
import pytest
import requests

from sarvanom_sdk.testing import Fault, ProviderEmulator

OPENAI_PROTOCOL = ("openai", "huggingface", "remote_gpu_openai")
MODELS = {
    "openai": "gpt-4o-mini",
    "huggingface": "meta-llama/Llama-3.1-8B-Instruct",
    "remote_gpu_openai": "default",
}
CLAUDE = "claude-3-5-haiku-20241022"
LLAMA = "llama3.2:3b"
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1},
        "verbose": {"type": "boolean"},
    },
    "required": ["city", "unit"],
}
WEATHER_ARGS = {"city": "example", "unit": "celsius"}
TIME_SCHEMA = {
    "type": "object",
    "properties": {"zone": {"type": "string"}, "hours": {"type": "array", "items": {}}},
    "required": ["zone", "hours"],
}
TIME_ARGS = {"zone": "example", "hours": ["example"]}
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME_SCHEMA}},
]
ANTHROPIC_TOOLS = [
    {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "input_schema": TIME_SCHEMA},
]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
PNG_URL = "data:image/png;base64," + PNG


class City(pydantic.BaseModel):
    name: str
    population: int
    country: Country


class Country(pydantic.BaseModel):
    code: str


City.model_rebuild()
CITY_VALUE = {"name": "example", "population": 1, "country": {"code": "example"}}


@pytest.fixture
def emu(provider_emulator: ProviderEmulator) -> ProviderEmulator:
    return provider_emulator


class Clients:
    """The official clients, pointed at the emulator and closed after the test."""

    def __init__(self, emu: ProviderEmulator) -> None:
        self.emu = emu
        self.stack = ExitStack()

    def openai(self, provider: str = "openai") -> openai.OpenAI:
        base = self.emu.url_for(provider) + ("/v1" if provider == "remote_gpu_openai" else "")
        return self.stack.enter_context(openai.OpenAI(base_url=base, api_key="k", max_retries=0))

    def anthropic(self) -> anthropic.Anthropic:
        client = anthropic.Anthropic(
            base_url=self.emu.url_for("anthropic"), api_key="k", max_retries=0
        )
        return self.stack.enter_context(client)

    def ollama(self) -> ollama.Client:
        client = ollama.Client(host=self.emu.url_for("ollama"))
        self.stack.callback(client.close)
        return client


@pytest.fixture
def clients(emu: ProviderEmulator) -> Iterator[Clients]:
    made = Clients(emu)
    with made.stack:
        yield made


def chat(clients: Clients, provider: str, **kw: Any) -> Any:
    kw.setdefault("messages", ASK)
    return clients.openai(provider).chat.completions.create(model=MODELS[provider], **kw)


def raw(emu: ProviderEmulator, provider: str, path: str, body: Any) -> requests.Response:
    base = emu.url_for(provider) + ("/v1" if provider == "remote_gpu_openai" else "")
    headers = {"Authorization": "Bearer k", "x-api-key": "k", "anthropic-version": "2023-06-01"}
    return requests.post(base + path, json=body, headers=headers, timeout=10)


def sse_events(response: requests.Response) -> list[Any]:
    """The JSON ``data:`` payloads of an SSE body (``[DONE]`` left out)."""
    return [
        json.loads(line[6:])
        for line in response.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def ndjson_lines(response: requests.Response) -> list[Any]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


# -- OpenAI protocol: OpenAI, the Hugging Face router, an OpenAI-compatible GPU box ------


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
def test_openai_protocol_tool_call_whole(clients: Clients, provider: str) -> None:
    reply = chat(clients, provider, tools=OPENAI_TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS


def test_openai_tool_call_golden_body(emu: ProviderEmulator) -> None:
    """The documented ``chat.completion`` with a tool call, ids and counts masked."""
    sent = {"model": "gpt-4o-mini", "messages": ASK, "tools": OPENAI_TOOLS}
    body = raw(emu, "openai", "/chat/completions", sent).json()
    (choice,) = body["choices"]
    call_id = choice["message"]["tool_calls"][0]["id"]
    assert choice == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps(WEATHER_ARGS)},
                }
            ],
            "refusal": None,
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert body["object"] == "chat.completion"
    assert body["usage"]["completion_tokens"] >= 1


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
def test_openai_protocol_tool_call_streamed_by_index(emu: ProviderEmulator, provider: str) -> None:
    """``delta.tool_calls`` by index: id, type and name first (arguments ""), then the
    arguments in several pieces, then ``finish_reason: "tool_calls"``."""
    body = {"model": MODELS[provider], "messages": ASK, "tools": OPENAI_TOOLS, "stream": True}
    events = sse_events(raw(emu, provider, "/chat/completions", body))
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    calls = [d["tool_calls"] for d in deltas if "tool_calls" in d]
    assert len(calls) >= 3
    first = calls[0][0]
    assert first["index"] == 0 and first["id"].startswith("call_")
    assert first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert deltas[0]["role"] == "assistant"
    later = [c[0] for c in calls[1:]]
    assert all(set(c) == {"index", "function"} and c["index"] == 0 for c in later)
    assert all(set(c["function"]) == {"arguments"} for c in later)
    assert json.loads("".join(c["function"]["arguments"] for c in later)) == WEATHER_ARGS
    finishes = [e["choices"][0]["finish_reason"] for e in events if e["choices"]]
    assert finishes[-1] == "tool_calls" and set(finishes[:-1]) == {None}


def test_openai_client_assembles_the_streamed_tool_call(clients: Clients) -> None:
    client = clients.openai()
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=ASK, tools=OPENAI_TOOLS
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
def test_openai_protocol_tool_choice(clients: Clients, provider: str) -> None:
    named = {"type": "function", "function": {"name": "get_time"}}
    reply = chat(clients, provider, tools=OPENAI_TOOLS, tool_choice=named)
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) == TIME_ARGS
    required = chat(clients, provider, tools=OPENAI_TOOLS, tool_choice="required")
    assert required.choices[0].message.tool_calls[0].function.name == "get_weather"
    none = chat(clients, provider, tools=OPENAI_TOOLS, tool_choice="none").choices[0]
    assert none.finish_reason == "stop" and none.message.tool_calls is None
    assert none.message.content.startswith(f"Emulated {provider} answer to:")


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
@pytest.mark.parametrize("stream", [False, True])
def test_openai_protocol_answers_a_tool_result(
    clients: Clients, provider: str, stream: bool
) -> None:
    """The loop's second request: the assistant's call and the ``tool`` result."""
    messages = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps(WEATHER_ARGS)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C and sunny"},
    ]
    reply = chat(clients, provider, messages=messages, tools=OPENAI_TOOLS, stream=stream)
    if stream:
        chunks = [c for c in reply if c.choices]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert not any(c.choices[0].delta.tool_calls for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
        assert reply.choices[0].message.tool_calls is None
    assert text == "The tool said: 18 C and sunny"
    assert finish == "stop"


def test_openai_tool_errors_have_openai_shape(emu: ProviderEmulator) -> None:
    body = {"model": "gpt-4o-mini", "messages": ASK, "tools": [{"type": "function"}]}
    reply = raw(emu, "openai", "/chat/completions", body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "tools[0].function"
    assert error["code"] == "missing_required_parameter"
    assert error["type"] == "invalid_request_error"
    without_tools = {**body, "tools": None, "tool_choice": "required"}
    alone = raw(emu, "openai", "/chat/completions", without_tools)
    assert alone.status_code == 400 and alone.json()["error"]["param"] == "tool_choice"


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
def test_openai_protocol_parse_gives_the_pydantic_model(clients: Clients, provider: str) -> None:
    """``response_format`` json_schema (``client.chat.completions.parse`` with a model):
    the content is a minimal valid instance, ``$defs`` references included."""
    reply = clients.openai(provider).chat.completions.parse(
        model=MODELS[provider], messages=ASK, response_format=City
    )
    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, City)
    assert parsed.model_dump() == CITY_VALUE


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
def test_openai_protocol_json_schema_streams_in_pieces(
    emu: ProviderEmulator, provider: str
) -> None:
    schema = {"name": "city", "schema": City.model_json_schema(), "strict": True}
    body = {
        "model": MODELS[provider],
        "messages": ASK,
        "response_format": {"type": "json_schema", "json_schema": schema},
        "stream": True,
    }
    events = sse_events(raw(emu, provider, "/chat/completions", body))
    pieces = [e["choices"][0]["delta"].get("content") for e in events if e["choices"]]
    pieces = [p for p in pieces if p]
    assert len(pieces) >= 2
    assert json.loads("".join(pieces)) == CITY_VALUE


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
def test_openai_protocol_json_object(clients: Clients, provider: str) -> None:
    reply = chat(clients, provider, response_format={"type": "json_object"})
    value = json.loads(reply.choices[0].message.content)
    assert value == {"answer": f"Emulated {provider} answer to: What is the weather in Paris?"}


def test_openai_json_schema_without_a_name_is_refused(emu: ProviderEmulator) -> None:
    bad = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
    body = {"model": "gpt-4o-mini", "messages": ASK, "response_format": bad}
    reply = raw(emu, "openai", "/chat/completions", body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "response_format.json_schema.name"


def image_ask(*urls: str) -> list[Any]:
    parts: list[Any] = [{"type": "text", "text": "What is in these pictures?"}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{"role": "user", "content": parts}]


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
@pytest.mark.parametrize("stream", [False, True])
def test_openai_protocol_sees_images(clients: Clients, provider: str, stream: bool) -> None:
    messages = image_ask(PNG_URL, "https://example.com/cat.jpg")
    reply = chat(clients, provider, messages=messages, stream=stream)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
    else:
        text = reply.choices[0].message.content
    assert text.endswith("I see 2 images.")
    one = chat(clients, provider, messages=image_ask(PNG_URL)).choices[0].message.content
    assert one.endswith("I see 1 image.")


@pytest.mark.parametrize(
    ("url", "param", "code"),
    [
        ("", "messages[0].content[1].image_url.url", "missing_required_parameter"),
        ("ftp://example.com/a.png", "messages[0].content[1].image_url.url", "invalid_value"),
        ("data:text/plain;base64,aGk=", "messages[0].content[1].image_url.url", "invalid_value"),
        ("data:image/png;base64,not*base64", None, "invalid_image_format"),
    ],
)
def test_openai_malformed_image_is_openais_400(
    clients: Clients, url: str, param: str | None, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(clients, "openai", messages=image_ask(url))
    error = caught.value.body
    assert caught.value.status_code == 400
    assert isinstance(error, dict)
    assert error["param"] == param and error["code"] == code
    assert error["type"] == "invalid_request_error"


def test_huggingface_malformed_image_has_huggingfaces_flat_error(emu: ProviderEmulator) -> None:
    body = {"model": MODELS["huggingface"], "messages": image_ask("ftp://x/a.png")}
    reply = raw(emu, "huggingface", "/chat/completions", body)
    assert reply.status_code == 400
    assert isinstance(reply.json()["error"], str)


@pytest.mark.parametrize("provider", OPENAI_PROTOCOL)
@pytest.mark.parametrize("stream", [False, True])
def test_openai_protocol_stop_seed_top_p(clients: Clients, provider: str, stream: bool) -> None:
    """``stop`` cuts the answer before the earliest stop sequence; ``seed`` and ``top_p``
    are accepted."""
    reply = chat(clients, provider, stop=["Paris", "answer"], seed=7, top_p=0.5, stream=stream)
    if stream:
        chunks = [c for c in reply if c.choices]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
    assert text == f"Emulated {provider} "
    assert finish == "stop"


def test_openai_the_wire_is_recorded(clients: Clients, emu: ProviderEmulator) -> None:
    chat(clients, "openai", tools=OPENAI_TOOLS, tool_choice="required", seed=3, stop="x")
    sent = emu.requests("openai")[-1].json
    assert sent["tools"] == OPENAI_TOOLS
    assert sent["tool_choice"] == "required" and sent["seed"] == 3 and sent["stop"] == "x"


# -- Anthropic Messages ------------------------------------------------------------------


def claude(clients: Clients, **kw: Any) -> Any:
    kw.setdefault("messages", ASK)
    return clients.anthropic().messages.create(model=CLAUDE, max_tokens=256, **kw)


def test_anthropic_tool_use_whole(clients: Clients) -> None:
    message = claude(clients, tools=ANTHROPIC_TOOLS)
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert block.name == "get_weather" and block.input == WEATHER_ARGS


def test_anthropic_tool_use_golden_body(emu: ProviderEmulator) -> None:
    body = {"model": CLAUDE, "max_tokens": 256, "messages": ASK, "tools": ANTHROPIC_TOOLS}
    message = raw(emu, "anthropic", "/v1/messages", body).json()
    block = message["content"][0]
    assert message["content"] == [
        {"type": "tool_use", "id": block["id"], "name": "get_weather", "input": WEATHER_ARGS}
    ]
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    assert message["type"] == "message" and message["role"] == "assistant"


def test_anthropic_tool_use_streams_input_json_deltas(emu: ProviderEmulator) -> None:
    body = {"model": CLAUDE, "max_tokens": 256, "messages": ASK, "tools": ANTHROPIC_TOOLS}
    body["stream"] = True
    events = sse_events(raw(emu, "anthropic", "/v1/messages", body))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    (start,) = [e for e in events if e["type"] == "content_block_start"]
    assert start["index"] == 0
    block = start["content_block"]
    assert block["type"] == "tool_use" and block["input"] == {}
    assert block["name"] == "get_weather" and block["id"].startswith("toolu_")
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert len(deltas) >= 2 and {d["type"] for d in deltas} == {"input_json_delta"}
    assert json.loads("".join(d["partial_json"] for d in deltas)) == WEATHER_ARGS
    assert kinds.index("content_block_stop") > kinds.index("content_block_delta")
    (ending,) = [e for e in events if e["type"] == "message_delta"]
    assert ending["delta"]["stop_reason"] == "tool_use"


def test_anthropic_client_assembles_the_streamed_tool_use(clients: Clients) -> None:
    with clients.anthropic().messages.stream(
        model=CLAUDE, max_tokens=256, messages=ASK, tools=ANTHROPIC_TOOLS
    ) as stream:
        for _ in stream:
            pass
        message = stream.get_final_message()
    (block,) = message.content
    assert block.type == "tool_use" and block.input == WEATHER_ARGS
    assert message.stop_reason == "tool_use"


def test_anthropic_tool_choice(clients: Clients) -> None:
    forced = {"type": "tool", "name": "get_time"}
    named = claude(clients, tools=ANTHROPIC_TOOLS, tool_choice=forced)
    assert named.content[0].name == "get_time" and named.content[0].input == TIME_ARGS
    anyone = claude(clients, tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"})
    assert anyone.content[0].name == "get_weather"
    none = claude(clients, tools=ANTHROPIC_TOOLS, tool_choice={"type": "none"})
    assert none.stop_reason == "end_turn" and none.content[0].type == "text"
    with pytest.raises(anthropic.BadRequestError):
        claude(clients, tools=ANTHROPIC_TOOLS, tool_choice={"type": "tool", "name": "nope"})


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_answers_a_tool_result(clients: Clients, stream: bool) -> None:
    messages = [
        *ASK,
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": WEATHER_ARGS,
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A",
                    "content": [{"type": "text", "text": "18 C and sunny"}],
                }
            ],
        },
    ]
    if stream:
        with clients.anthropic().messages.stream(
            model=CLAUDE, max_tokens=256, messages=messages, tools=ANTHROPIC_TOOLS
        ) as events:
            message = events.get_final_message()
    else:
        message = claude(clients, messages=messages, tools=ANTHROPIC_TOOLS)
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "The tool said: 18 C and sunny"


def test_anthropic_forced_tool_is_structured_output(clients: Clients) -> None:
    """The Messages API has no response format: a forced tool whose input is the answer."""
    tool = {"name": "answer", "input_schema": City.model_json_schema()}
    message = claude(clients, tools=[tool], tool_choice={"type": "tool", "name": "answer"})
    assert City.model_validate(message.content[0].input).model_dump() == CITY_VALUE


def anthropic_images(*sources: Any) -> list[Any]:
    blocks: list[Any] = [{"type": "image", "source": s} for s in sources]
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "Describe."}]}]


BASE64_SOURCE = {"type": "base64", "media_type": "image/png", "data": PNG}
URL_SOURCE = {"type": "url", "url": "https://example.com/cat.jpg"}


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sees_images(clients: Clients, stream: bool) -> None:
    messages = anthropic_images(BASE64_SOURCE, URL_SOURCE)
    if stream:
        with clients.anthropic().messages.stream(
            model=CLAUDE, max_tokens=256, messages=messages
        ) as events:
            text = events.get_final_text()
    else:
        text = claude(clients, messages=messages).content[0].text
    assert text == "Emulated anthropic answer to: Describe. I see 2 images."


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({**BASE64_SOURCE, "media_type": "image/bmp"}, "source.base64.media_type"),
        ({**BASE64_SOURCE, "data": "not base64!"}, "source.base64.data"),
        ({"type": "base64", "media_type": "image/png"}, "source.base64.data"),
        ({"type": "url"}, "source.url.url"),
        ({"type": "file", "file_id": "f"}, "image.source"),
    ],
)
def test_anthropic_malformed_image_is_anthropics_400(
    clients: Clients, source: Any, field: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude(clients, messages=anthropic_images(source))
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("messages.0.content.0.image.")
    assert field in body["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_stop_sequences(clients: Clients, stream: bool) -> None:
    kw: Any = {"stop_sequences": ["answer", "Emulated"], "extra_body": {"top_p": 0.5}}
    if stream:
        with clients.anthropic().messages.stream(
            model=CLAUDE, max_tokens=256, messages=ASK, **kw
        ) as events:
            message = events.get_final_message()
    else:
        message = claude(clients, **kw)
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "Emulated"
    assert message.content[0].text == ""
    cut = claude(clients, stop_sequences=["answer"])
    assert cut.content[0].text == "Emulated anthropic " and cut.stop_sequence == "answer"


# -- Ollama -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_tool_call(clients: Clients, stream: bool) -> None:
    """Ollama sends the whole call in one message (one line when streaming)."""
    client = clients.ollama()
    if stream:
        lines = list(client.chat(model=LLAMA, messages=ASK, tools=OPENAI_TOOLS, stream=True))
        with_calls = [line for line in lines if line.message.tool_calls]
        assert len(with_calls) == 1 and not with_calls[0].done
        assert lines[-1].done and lines[-1].done_reason == "stop"
        message = with_calls[0].message
    else:
        message = client.chat(model=LLAMA, messages=ASK, tools=OPENAI_TOOLS).message
    (call,) = message.tool_calls
    assert call.function.name == "get_weather"
    assert dict(call.function.arguments) == WEATHER_ARGS
    assert message.content == ""


def test_ollama_tool_call_golden_body(emu: ProviderEmulator) -> None:
    body = {"model": LLAMA, "messages": ASK, "tools": OPENAI_TOOLS, "stream": False}
    reply = raw(emu, "ollama", "/api/chat", body).json()
    assert reply["message"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": WEATHER_ARGS}}],
    }
    assert reply["done"] is True and reply["done_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_answers_a_tool_result(clients: Clients, stream: bool) -> None:
    messages = [
        *ASK,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": WEATHER_ARGS}}],
        },
        {"role": "tool", "content": "18 C and sunny", "tool_name": "get_weather"},
    ]
    client = clients.ollama()
    reply = client.chat(model=LLAMA, messages=messages, tools=OPENAI_TOOLS, stream=stream)
    if stream:
        lines = list(reply)
        assert not any(line.message.tool_calls for line in lines)
        text = "".join(line.message.content for line in lines)
    else:
        assert not reply.message.tool_calls
        text = reply.message.content
    assert text == "The tool said: 18 C and sunny"


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_format_schema(clients: Clients, stream: bool) -> None:
    client = clients.ollama()
    schema = City.model_json_schema()
    if stream:
        lines = client.chat(model=LLAMA, messages=ASK, format=schema, stream=True)
        pieces = [line.message.content for line in lines]
        assert len([p for p in pieces if p]) >= 2
        text = "".join(pieces)
    else:
        text = client.chat(model=LLAMA, messages=ASK, format=schema).message.content
    assert City.model_validate_json(text).model_dump() == CITY_VALUE


def test_ollama_format_json_chat_and_generate(clients: Clients) -> None:
    client = clients.ollama()
    chat_text = client.chat(model=LLAMA, messages=ASK, format="json").message.content
    assert json.loads(chat_text) == {
        "answer": "Emulated ollama answer to: What is the weather in Paris?"
    }
    generated = client.generate(model=LLAMA, prompt="Hi", format="json").response
    assert json.loads(generated) == {"answer": "Emulated ollama answer to: Hi"}


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_sees_images(clients: Clients, stream: bool) -> None:
    messages = [{"role": "user", "content": "Describe.", "images": [PNG, PNG]}]
    reply = clients.ollama().chat(model=LLAMA, messages=messages, stream=stream)
    text = "".join(c.message.content for c in reply) if stream else reply.message.content
    assert text == "Emulated ollama answer to: Describe. I see 2 images."


def test_ollama_generate_sees_images(clients: Clients) -> None:
    reply = clients.ollama().generate(model=LLAMA, prompt="Describe.", images=[PNG])
    assert reply.response.endswith("I see 1 image.")


def test_ollama_malformed_image_is_ollamas_400(emu: ProviderEmulator) -> None:
    body = {
        "model": LLAMA,
        "messages": [{"role": "user", "content": "x", "images": ["abc$def="]}],
        "stream": False,
    }
    reply = raw(emu, "ollama", "/api/chat", body)
    assert reply.status_code == 400
    assert reply.json() == {"error": "illegal base64 data at input byte 3"}


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_options_stop_seed_top_p(clients: Clients, stream: bool) -> None:
    options = {"stop": ["answer"], "seed": 1, "top_p": 0.9}
    reply = clients.ollama().chat(model=LLAMA, messages=ASK, options=options, stream=stream)
    if stream:
        lines = list(reply)
        text, last = "".join(c.message.content for c in lines), lines[-1]
    else:
        text, last = reply.message.content, reply
    assert text == "Emulated ollama "
    assert last.done_reason == "stop"


# -- a configured answer, the HF task API -------------------------------------------------


def test_reply_text_is_every_text_answer_but_tools_are_still_called() -> None:
    """A test can make a provider answer anything (invalid JSON for a schema too)."""
    with ProviderEmulator(reply_text='{"name": 1}') as emu:
        client = openai.OpenAI(base_url=emu.url_for("openai"), api_key="k", max_retries=0)
        with client:
            fmt = {"type": "json_schema", "json_schema": {"name": "c", "schema": {}}}
            schema = client.chat.completions.create(
                model="gpt-4o-mini", messages=image_ask(PNG_URL), response_format=fmt
            )
            assert schema.choices[0].message.content == '{"name": 1}'
            called = client.chat.completions.create(
                model="gpt-4o-mini", messages=ASK, tools=OPENAI_TOOLS
            )
            assert called.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_huggingface_task_api_stop(emu: ProviderEmulator) -> None:
    parameters = {"stop": ["answer"], "seed": 3, "return_full_text": False}
    body = {"inputs": "Hi", "parameters": parameters}
    reply = raw(emu, "huggingface_task", "/models/gpt2", body)
    assert reply.json() == [{"generated_text": "Emulated huggingface_task "}]


# -- faults on tool-call streams -----------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_stream_faults_cut_a_tool_call_stream(emu: ProviderEmulator, provider: str) -> None:
    """The tool-call events are a stream's content: ``stream_error`` cuts inside the
    arguments (then the provider's error event), ``no_terminator`` after them but before
    the finish; neither says the call is complete."""
    if provider == "openai":
        path, body = "/chat/completions", {"model": "gpt-4o-mini", "tools": OPENAI_TOOLS}
        finish = '"finish_reason":"tool_calls"'
    else:
        path = "/v1/messages"
        body = {"model": CLAUDE, "max_tokens": 64, "tools": ANTHROPIC_TOOLS}
        finish = '"stop_reason":"tool_use"'
    body = {**body, "messages": ASK, "stream": True}
    emu.inject(provider, Fault.stream_error(), on_requests=[1])
    emu.inject(provider, Fault.no_terminator(), on_requests=[2])
    broken = raw(emu, provider, path, body).text
    assert "get_weather" in broken and "celsius" not in broken and finish not in broken
    assert '"error"' in broken.rstrip().splitlines()[-1]
    unfinished = raw(emu, provider, path, body).text
    assert "celsius" in unfinished and finish not in unfinished
    whole = raw(emu, provider, path, body).text
    assert finish in whole

"""Issue 14 item 7: the unmodified official ``openai`` client against the gateway's
``/v1/chat/completions`` over the emulator's OpenAI-protocol GPU box (and its Ollama):
tools and tool calls (whole and streamed), a tool loop, ``parse(response_format=Model)``,
json_object, images and the sampling fields pass through both ways; a field no provider
of the chain supports is a 400 naming it. Parallel calls (which the emulator does not
make) come from a small fake model (:mod:`chat_fake`)."""

from __future__ import annotations

import base64
import json

import openai
import pytest
from chat_fake import fake_gateway
from gateway_helpers import ThreadedGateway, ollama_client, openai_client, stub_client
from pydantic import BaseModel

from sarvanom_sdk import AsyncSarvanClient, Settings
from sarvanom_sdk.gateway import create_app
from sarvanom_sdk.testing import ProviderEmulator

MODEL = "sarvanom/auto"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
            "required": ["zone"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


class City(BaseModel):
    name: str
    population: int


class Sent:
    """The request bodies the emulated GPU box received (``bodies[-1]``: the last)."""

    def __init__(self, emu: ProviderEmulator) -> None:
        self._emu = emu

    @property
    def bodies(self) -> list[dict]:
        return [r.json for r in self._emu.requests("remote_gpu_openai")]


@pytest.fixture(scope="module")
def served():
    """(what the model received, the gateway): a gateway whose chain is the emulator's
    OpenAI-protocol GPU box."""
    with ProviderEmulator(max_record_body=1 << 20) as emu:
        settings = Settings(
            providers=("remote_gpu",),
            gpu_remote_url=emu.url_for("remote_gpu_openai"),
            gpu_remote_protocol="openai",
            gpu_remote_model="emulated",
            max_retries=0,
        )
        with ThreadedGateway(create_app(AsyncSarvanClient(settings))) as gateway:
            yield Sent(emu), gateway


def test_issue14_item7_tool_call_comes_back_as_message_tool_calls(served) -> None:
    sent, gateway = served
    completion = openai_client(gateway).chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="auto"
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example"}  # a minimal instance
    body = sent.bodies[-1]
    assert body["tools"] == [WEATHER]
    assert body["tool_choice"] == "auto"


def test_issue14_item7_streamed_tool_calls_arrive_as_delta_tool_calls_by_index() -> None:
    """Two parallel calls, each in two pieces (the fake model; the emulator makes one)."""
    with fake_gateway() as (fake, gateway):
        chunks = list(
            openai_client(gateway).chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "weather and time, both please"}],
                tools=[WEATHER, TIME],
                parallel_tool_calls=True,
                stream=True,
            )
        )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or ():
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert not entry["id"], "id only with a call's first piece"
                entry["id"] = delta.id
                assert delta.type == "function"
            if delta.function.name:
                entry["name"] += delta.function.name
            entry["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert calls == {
        0: {"id": "call_0_get_weather", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        1: {"id": "call_1_get_time", "name": "get_time", "arguments": '{"zone": "UTC"}'},
    }
    assert fake.bodies[-1]["parallel_tool_calls"] is True


def test_issue14_item7_the_client_stream_helper_assembles_the_calls(served) -> None:
    _, gateway = served
    with openai_client(gateway).chat.completions.stream(
        model=MODEL, messages=ASK, tools=[WEATHER]
    ) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example"}


def test_issue14_item7_a_tool_loop_call_result_answer(served) -> None:
    sent, gateway = served
    client = openai_client(gateway)
    messages: list = [{"role": "system", "content": "Use tools."}, *ASK]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    asked = first.choices[0].message
    messages.append(asked.model_dump(exclude_none=True))  # content null is left out
    for call in asked.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "12 C, rain"})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The tool said: 12 C, rain"
    assert second.choices[0].message.tool_calls is None
    (call,) = asked.tool_calls
    history = sent.bodies[-1]["messages"]
    assert history[-2]["role"] == "assistant" and not history[-2].get("content")
    assert history[-2]["tool_calls"] == [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": call.function.arguments},
        }
    ]
    assert history[-1] == {"role": "tool", "content": "12 C, rain", "tool_call_id": call.id}


def test_issue14_item7_parse_with_a_pydantic_model(served) -> None:
    sent, gateway = served
    completion = openai_client(gateway).chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "A city?"}], response_format=City
    )
    assert completion.choices[0].message.parsed == City(name="example", population=1)
    form = sent.bodies[-1]["response_format"]
    assert form["type"] == "json_schema"
    assert form["json_schema"]["name"] == "City" and form["json_schema"]["strict"] is True
    assert form["json_schema"]["schema"]["required"] == ["name", "population"]


def test_issue14_item7_beta_parse_too(served) -> None:
    _, gateway = served
    beta = getattr(openai_client(gateway).beta, "chat", None)
    if beta is None:
        pytest.skip("this openai version has no client.beta.chat")
    completion = beta.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "A city?"}], response_format=City
    )
    assert completion.choices[0].message.parsed == City(name="example", population=1)


def test_issue14_item7_json_object(served) -> None:
    sent, gateway = served
    completion = openai_client(gateway).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "A city as JSON"}],
        response_format={"type": "json_object"},
    )
    assert set(json.loads(completion.choices[0].message.content)) == {"answer"}
    assert sent.bodies[-1]["response_format"] == {"type": "json_object"}


def test_issue14_item7_image_parts_pass_through(served) -> None:
    sent, gateway = served
    parts = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    ]
    completion = openai_client(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": parts}]
    )
    assert completion.choices[0].message.content.endswith("I see 2 images.")
    assert sent.bodies[-1]["messages"] == [{"role": "user", "content": parts}]


def test_issue14_item7_sampling_fields_pass_through(served) -> None:
    sent, gateway = served
    openai_client(gateway).chat.completions.create(
        model=MODEL,
        messages=ASK,
        stop=["\n\n", "END"],
        top_p=0.5,
        seed=42,
        presence_penalty=0.25,
        frequency_penalty=-0.5,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    body = sent.bodies[-1]
    assert (body["stop"], body["top_p"], body["seed"]) == (["\n\n", "END"], 0.5, 42)
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.25, -0.5)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("options", "param", "says"),
    [
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].name",
            "letters",
        ),
        (
            {"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": [WEATHER]},
            "tool_choice",
            "not one of the tools",
        ),
        ({"response_format": {"type": "xml"}}, "response_format.type", "allowed"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"top_p": 0}, "top_p", "greater than 0"),
        ({"seed": "1"}, "seed", "integer"),
        ({"presence_penalty": 3}, "presence_penalty", "between -2 and 2"),
        ({"functions": [{"name": "f"}]}, "functions", "send 'tools'"),
    ],
)
def test_issue14_item7_bad_chat_fields_are_400_naming_the_field(
    served, options, param, says
) -> None:
    sent, gateway = served
    before = len(sent.bodies)
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(gateway).chat.completions.create(model=MODEL, messages=ASK, **options)
    assert caught.value.param == param
    assert says in caught.value.message
    assert len(sent.bodies) == before  # refused before any provider call


def test_issue14_item7_bad_tool_messages_are_400(served) -> None:
    _, gateway = served
    client = openai_client(gateway)
    for messages, param in (
        ([*ASK, {"role": "tool", "content": "x"}], "messages[1].tool_call_id"),
        ([{"role": "user", "content": "x", "tool_calls": []}, *ASK], None),  # empty: fine
        ([*ASK, {"role": "function", "name": "f", "content": "x"}], "messages"),
        ([{"role": "assistant", "content": None}], "messages[0].content"),
    ):
        if param is None:
            client.chat.completions.create(model=MODEL, messages=messages)
            continue
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=MODEL, messages=messages)
        assert caught.value.param == param


# -- refused only when no provider of the chain can -----------------------------------------
@pytest.mark.parametrize(
    ("options", "messages", "param", "what"),
    [
        ({"tools": [WEATHER]}, ASK, "tools", "tool"),
        ({"response_format": {"type": "json_object"}}, ASK, "response_format", "JSON output"),
        ({"response_format": City}, ASK, "response_format", "JSON schema output"),
        ({"stop": "END"}, ASK, "stop", "stop sequence"),
        ({"seed": 7}, ASK, "seed", "seed"),
        (
            {},
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}],
            "messages",
            "image input",
        ),
        (
            {},
            [
                *ASK,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
            "messages",
            "tool",
        ),
    ],
)
def test_issue14_item7_what_no_provider_of_the_chain_supports_is_400(
    emulator, options, messages, param, what
) -> None:
    """The seed GPU protocol (/generate) has no capability at all: with it alone in the
    chain, every chat-surface field is refused, naming the field, before any call."""
    seed_gpu = AsyncSarvanClient(
        Settings(
            providers=("remote_gpu",), gpu_remote_url=emulator.url_for("remote_gpu"), max_retries=0
        )
    )
    with ThreadedGateway(create_app(seed_gpu)) as gateway:
        client = openai_client(gateway)
        create = (
            client.chat.completions.parse
            if options.get("response_format") is City
            else client.chat.completions.create
        )
        with pytest.raises(openai.BadRequestError) as caught:
            create(model=MODEL, messages=messages, **options)
        client.chat.completions.create(model=MODEL, messages=ASK)  # a plain one is served
    error = caught.value
    assert (error.param, error.code) == (param, "unsupported_parameter")
    assert f"no provider of this gateway's chain (remote_gpu) has {what}" in error.message
    assert emulator.request_count("remote_gpu") == 1


def test_issue14_item7_the_stub_alone_is_refused_too() -> None:
    with (
        ThreadedGateway(create_app(stub_client())) as gateway,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        openai_client(gateway).chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    assert caught.value.param == "tools"
    assert "(only local_stub) has tool support" in caught.value.message


def test_issue14_item7_a_request_one_provider_can_serve_skips_the_others(emulator) -> None:
    """Ollama cannot take an https image; the OpenAI-protocol GPU box behind it can: the
    request is served by the box, Ollama skipped without a call. Pinned to Ollama, the
    same request is a 400 naming ``messages``."""
    parts = [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    client = AsyncSarvanClient(
        Settings(
            providers=("ollama_local", "remote_gpu"),
            ollama_base_url=emulator.url_for("ollama"),
            gpu_remote_url=emulator.url_for("remote_gpu_openai"),
            gpu_remote_protocol="openai",
            max_retries=0,
        )
    )
    with ThreadedGateway(create_app(client)) as gateway:
        oa = openai_client(gateway)
        raw = oa.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": parts}]
        )
        assert raw.headers["x-sarvanom-provider"] == "remote_gpu"
        assert raw.parse().choices[0].message.content.endswith("I see 1 image.")
        assert emulator.request_count("ollama") == 0
        with pytest.raises(openai.BadRequestError) as caught:
            oa.chat.completions.create(
                model="sarvanom/ollama_local", messages=[{"role": "user", "content": parts}]
            )
        assert caught.value.param == "messages"
        assert "the pinned provider ollama_local has no image input (https URLs) support" in (
            caught.value.message
        )
        # a data: image Ollama can take goes to Ollama first
        oa.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [parts[0], {"type": "image_url", "image_url": {"url": PNG}}],
                }
            ],
        )
        assert emulator.request_count("ollama") == 1


def test_issue14_item7_tools_through_ollama_over_the_emulator(emulator) -> None:
    """The OpenAI wire translated to Ollama's /api/chat and back: the emulated model's
    whole tool call (arguments an object on Ollama's wire) comes back in OpenAI's shape,
    whole and streamed."""
    with ThreadedGateway(create_app(ollama_client(emulator))) as gateway:
        client = openai_client(gateway)
        completion = client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
        streamed = list(
            client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], stream=True)
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "example"},
    )
    sent = emulator.requests("ollama")[-1].json
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    pieces = [d for c in streamed for d in c.choices[0].delta.tool_calls or ()]
    assert pieces[0].index == 0 and pieces[0].id and pieces[0].function.name == "get_weather"
    assert json.loads("".join(p.function.arguments or "" for p in pieces)) == {"city": "example"}
    assert streamed[-1].choices[0].finish_reason == "tool_calls"


def test_issue14_item7_a_plain_request_is_unchanged(served) -> None:
    """A plain request: text, finish_reason stop, no tool_calls; nothing of the chat
    surface sent to the model."""
    sent, gateway = served
    completion = openai_client(gateway).chat.completions.create(model=MODEL, messages=ASK)
    assert completion.choices[0].message.content
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model.startswith("sarvanom/remote_gpu/")
    assert not {"tools", "response_format", "stop", "seed", "top_p"} & set(sent.bodies[-1])

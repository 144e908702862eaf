"""Issue 14 proof (emulator): both SDK clients against the emulator, end to end, for
every protocol that has the chat surface: tool calls (complete and stream), structured
output checked into ``resp.parsed`` (Anthropic's through the forced tool the SDK adds),
images, and a full tool loop through fallback — the first provider asks for a tool, then
fails on the request that carries the tool's result, and the second provider, speaking
another protocol, finishes the loop.

Skipped until the SDK's chat surface (lane/chat-core) and its Anthropic/Ollama adapters
(lane/chat-adapters) are merged beside the emulator.
"""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("sarvanom_sdk.chat", reason="needs the SDK's chat surface (issue 14)")
if importlib.util.find_spec("sarvanom_sdk.providers._anthropic_chat") is None:
    pytest.skip("needs the Anthropic/Ollama chat adapters (issue 14)", allow_module_level=True)

from parity.drivers import KINDS, Driver, open_driver  # noqa: E402
from reliability.helpers import chain, trail  # noqa: E402

from sarvanom_sdk import ProviderName  # noqa: E402
from sarvanom_sdk.testing import Fault, ProviderEmulator  # noqa: E402

CHAT_WIRES = ("openai", "huggingface", "remote_gpu_openai", "anthropic", "ollama")
SDK_NAME = {
    "openai": ProviderName.OPENAI,
    "huggingface": ProviderName.HUGGINGFACE,
    "remote_gpu_openai": ProviderName.REMOTE_GPU,
    "anthropic": ProviderName.ANTHROPIC,
    "ollama": ProviderName.OLLAMA_LOCAL,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city", "unit"],
        },
    },
}
WEATHER_ARGS = {"city": "example", "unit": "celsius"}
CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "population": {"type": "integer", "minimum": 1000},
        "tags": {"type": "array", "items": {"enum": ["capital", "port"]}},
    },
    "required": ["name", "population", "tags"],
    "additionalProperties": False,
}
CITY_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "city", "strict": True, "schema": CITY_SCHEMA},
}
CITY = {"name": "example", "population": 1000, "tags": ["capital"]}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
ASK = "What is the weather in Paris?"
#: Larger than the default record cut, so image bodies are kept whole and parsed.
RECORD_BODY = 1 << 20


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator(max_record_body=RECORD_BODY) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: ProviderEmulator) -> None:
    emu.clear()
    emu.reset()


@pytest.fixture(params=KINDS)
def connect(emu: ProviderEmulator, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``connect("ollama", "anthropic")``: a driver of this test's client kind over a
    chain of emulated providers (then the stub), no cache; closed after the test."""
    opened: list[Driver] = []

    def make(*wires: str) -> Driver:
        driver = open_driver(request.param, **chain(emu, *wires, cache_ttl_seconds=0))
        opened.append(driver)
        return driver

    yield make
    for driver in opened:
        driver.close()


@pytest.mark.parametrize("wire", CHAT_WIRES)
def test_tool_call_complete(connect: Any, emu: ProviderEmulator, wire: str) -> None:
    response = connect(wire).complete(ASK, tools=[WEATHER])
    assert response.provider is SDK_NAME[wire]
    assert response.finish_reason == "tool_calls"
    (call,) = response.tool_calls
    assert call.name == "get_weather" and call.id
    assert call.parsed_arguments() == WEATHER_ARGS
    assert emu.request_count(wire, endpoint="generate") == 1


@pytest.mark.parametrize("wire", CHAT_WIRES)
def test_tool_call_stream(connect: Any, wire: str) -> None:
    """Deltas reach the caller as ``StreamChunk.tool_calls``; the final response holds
    the assembled call (OpenAI by index, Anthropic's ``input_json_delta``, Ollama's whole
    call)."""
    result = connect(wire).stream(ASK, tools=[WEATHER])
    assert result.error is None and result.response is not None
    assert any(chunk.tool_calls for chunk in result.chunks)
    assert result.response.provider is SDK_NAME[wire]
    assert result.response.finish_reason == "tool_calls"
    (call,) = result.response.tool_calls
    assert call.name == "get_weather" and call.parsed_arguments() == WEATHER_ARGS


@pytest.mark.parametrize("wire", CHAT_WIRES)
def test_named_tool_choice_and_none(connect: Any, wire: str) -> None:
    clock = {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string"}},
                "required": ["zone"],
            },
        },
    }
    driver = connect(wire)
    named = {"type": "function", "function": {"name": "get_time"}}
    response = driver.complete(ASK, tools=[WEATHER, clock], tool_choice=named)
    assert [c.name for c in response.tool_calls] == ["get_time"]
    assert response.tool_calls[0].parsed_arguments() == {"zone": "example"}
    if wire != "ollama":  # Ollama has no tool_choice: its tools are always offered
        plain = driver.complete(ASK, tools=[WEATHER], tool_choice="none")
        assert plain.tool_calls == () and plain.finish_reason == "stop"
        assert plain.content.startswith("Emulated ")


@pytest.mark.parametrize("wire", CHAT_WIRES)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_json_schema_is_parsed(
    connect: Any, emu: ProviderEmulator, wire: str, streamed: bool
) -> None:
    driver = connect(wire)
    if streamed:
        result = driver.stream("Which city?", response_format=CITY_FORMAT)
        assert result.error is None and result.response is not None
        response = result.response
    else:
        response = driver.complete("Which city?", response_format=CITY_FORMAT)
    assert response.provider is SDK_NAME[wire]
    assert response.parsed == CITY
    assert response.tool_calls == ()
    sent = emu.requests(wire)[-1].json
    if wire == "anthropic":  # no response format in the Messages API: a forced tool
        assert sent["tool_choice"]["type"] == "tool"
        (tool,) = [t for t in sent["tools"] if t["name"] == sent["tool_choice"]["name"]]
        assert tool["input_schema"]["required"] == CITY_SCHEMA["required"]
    elif wire == "ollama":
        assert sent["format"]["properties"] == CITY_SCHEMA["properties"]
    else:
        assert sent["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("wire", CHAT_WIRES)
def test_json_object_is_parsed(connect: Any, wire: str) -> None:
    response = connect(wire).complete("Which city?", response_format={"type": "json_object"})
    assert isinstance(response.parsed, dict)
    assert response.provider is SDK_NAME[wire]


@pytest.mark.parametrize("wire", CHAT_WIRES)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_images_are_seen(connect: Any, emu: ProviderEmulator, wire: str, streamed: bool) -> None:
    content = [
        {"type": "text", "text": "Describe this."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
    ]
    messages = [{"role": "user", "content": content}]
    driver = connect(wire)
    if streamed:
        result = driver.stream(messages=messages)
        assert result.error is None
        text = result.text
    else:
        text = driver.complete(messages=messages).content
    assert text.endswith("I see 1 image.")
    sent = emu.requests(wire)[-1].json
    if wire == "ollama":
        assert sent["messages"][-1]["images"] == [PNG]
    elif wire == "anthropic":
        source = {"type": "base64", "media_type": "image/png", "data": PNG}
        assert {"type": "image", "source": source} in sent["messages"][-1]["content"]
    else:
        assert sent["messages"][-1]["content"] == content


def test_stop_cuts_the_answer(connect: Any) -> None:
    for wire in ("openai", "anthropic", "ollama"):
        response = connect(wire).complete(ASK, stop=["answer"])
        assert response.content == f"Emulated {wire} "
        assert response.finish_reason == "stop"


# -- a full tool loop through fallback ----------------------------------------------------


def tool_loop(driver: Driver, emu: ProviderEmulator, first: str, streamed: bool) -> Any:
    """Ask; run the tool the model called; send its result with ``first`` failing on
    that second request. Returns the final response."""
    asked = [{"role": "user", "content": ASK}]
    called = driver.complete(messages=asked, tools=[WEATHER])
    assert called.provider is SDK_NAME[first]
    (call,) = called.tool_calls
    assert call.parsed_arguments() == WEATHER_ARGS
    emu.inject(first, Fault.http(503), on_requests=[2])
    loop = [
        *asked,
        {"role": "assistant", "content": None, "tool_calls": [call.to_openai()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"},
    ]
    if not streamed:
        return driver.complete(messages=loop, tools=[WEATHER])
    result = driver.stream(messages=loop, tools=[WEATHER])
    assert result.error is None and result.response is not None
    assert result.text == "The tool said: 18 C and sunny"
    return result.response


@pytest.mark.parametrize(
    ("first", "second"),
    [("ollama", "anthropic"), ("openai", "anthropic"), ("anthropic", "huggingface")],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_tool_loop_continues_on_the_next_provider(
    connect: Any, emu: ProviderEmulator, first: str, second: str, streamed: bool
) -> None:
    response = tool_loop(connect(first, second), emu, first, streamed)
    assert response.provider is SDK_NAME[second]
    assert response.content == "The tool said: 18 C and sunny"
    assert response.finish_reason == "stop" and response.tool_calls == ()
    assert trail(response) == [(SDK_NAME[first].value, "failed"), (SDK_NAME[second].value, "ok")]
    assert emu.requests(first)[-1].fault == Fault.http(503)
    sent = emu.requests(second)[-1].json["messages"]
    if second == "anthropic":  # the call and its result, translated to blocks
        (use,) = [b for b in sent[-2]["content"] if b["type"] == "tool_use"]
        (result,) = [b for b in sent[-1]["content"] if b["type"] == "tool_result"]
        assert use["name"] == "get_weather" and use["input"] == WEATHER_ARGS
        assert result["tool_use_id"] == use["id"]
    else:
        assert sent[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert sent[-1]["role"] == "tool" and sent[-1]["content"] == "18 C and sunny"

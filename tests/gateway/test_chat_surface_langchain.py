"""Issue 14 item 7 (proof): LangChain's ``ChatOpenAI`` against the gateway, changing only
``base_url`` and the model name, over the emulator speaking Ollama, an OpenAI-protocol
GPU box and Anthropic behind it: ``bind_tools`` (whole and streamed tool calls, a tool
loop) and ``with_structured_output`` in all three methods."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_openai")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway_helpers import ThreadedGateway  # noqa: E402
from langchain_core.messages import HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from reliability.helpers import chain  # noqa: E402

from sarvanom_sdk import AsyncSarvanClient, Settings  # noqa: E402
from sarvanom_sdk.gateway import create_app  # noqa: E402
from sarvanom_sdk.testing import ProviderEmulator  # noqa: E402

WIRES = ("ollama", "remote_gpu_openai", "anthropic")
PROVIDER = {"ollama": "ollama_local", "remote_gpu_openai": "remote_gpu", "anthropic": "anthropic"}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"12 C and rain in {city}"


class City(BaseModel):
    """A city."""

    name: str
    population: int


class Answer(BaseModel):
    answer: str | None = None


@pytest.fixture(scope="module", params=WIRES)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, ProviderEmulator, str]]:
    """(wire, emulator, gateway URL): a gateway whose chain is that emulated provider."""
    with ProviderEmulator(max_record_body=1 << 20) as emu:
        client = AsyncSarvanClient(Settings(**chain(emu, request.param)))
        with ThreadedGateway(create_app(client)) as gateway:
            yield request.param, emu, gateway.url


def llm(url: str, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=f"{url}/v1",
        api_key="unused",
        model="sarvanom/auto",
        max_retries=0,
        timeout=20,
        **options,
    )


def test_issue14_item7_langchain_bind_tools_gets_a_tool_call(served) -> None:
    wire, emu, url = served
    reply = llm(url).bind_tools([get_weather]).invoke("Weather in Oslo?")
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "example"}  # the emulator's minimal instance
    assert call["id"]
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert reply.response_metadata["model_name"].startswith(f"sarvanom/{PROVIDER[wire]}")


def test_issue14_item7_langchain_tool_loop(served) -> None:
    _, _, url = served
    model = llm(url).bind_tools([get_weather])
    messages: list[Any] = [HumanMessage("Weather in Oslo?")]
    asked = model.invoke(messages)
    messages.append(asked)
    for call in asked.tool_calls:
        messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    final = model.invoke(messages)
    assert final.tool_calls == []
    assert final.content == "The tool said: 12 C and rain in example"


def test_issue14_item7_langchain_streams_tool_calls(served) -> None:
    _, _, url = served
    chunks = list(llm(url).bind_tools([get_weather]).stream("Weather in Oslo?"))
    assert any(c.tool_call_chunks for c in chunks)
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    (call,) = whole.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "example"})
    assert whole.response_metadata.get("finish_reason") == "tool_calls"


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_issue14_item7_langchain_structured_output(served, method) -> None:
    _, _, url = served
    city = llm(url).with_structured_output(City, method=method).invoke("A city, please")
    assert city == City(name="example", population=1)


def test_issue14_item7_langchain_structured_output_json_mode(served) -> None:
    """json_object: the emulator answers ``{"answer": ...}``; Anthropic (through its forced
    tool with an open object schema) answers the emulator's minimal object, ``{}``."""
    wire, emu, url = served
    answer = (
        llm(url)
        .with_structured_output(Answer, method="json_mode")
        .invoke("Answer in JSON with the key 'answer'")
    )
    assert isinstance(answer, Answer)
    assert bool(answer.answer) is (wire != "anthropic")


def test_issue14_item7_langchain_streamed_structured_output(served) -> None:
    _, _, url = served
    parts = list(llm(url).with_structured_output(City, method="json_schema").stream("A city"))
    assert parts and parts[-1] == City(name="example", population=1)

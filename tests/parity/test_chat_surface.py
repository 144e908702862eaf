"""Issue 14 on both clients against the emulator, for what it speaks today (text): the
chat surface's fields reach each OpenAI-protocol wire (and the HF task API's ``stop`` and
``seed``) the same from both clients; a JSON answer is parsed and checked, a bad one falls
over; a provider without a needed capability is skipped without a request, and when none
is capable the answer says so. (Tool calls and images coming back need the emulator to
speak them: they are covered on fakes in tests/unit/test_chat_routing.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability.helpers import trail

from parity.drivers import Connect
from sarvanom_sdk import AllProvidersFailed, ProviderName
from sarvanom_sdk.testing import ProviderEmulator

CITY = '{"name": "Oslo", "population": 709000}'
CITY_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["name", "population"],
            "additionalProperties": False,
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
OPENAI_WIRES = ("openai", "huggingface", "remote_gpu_openai")
SDK_NAME = {
    "openai": ProviderName.OPENAI,
    "huggingface": ProviderName.HUGGINGFACE,
    "remote_gpu_openai": ProviderName.REMOTE_GPU,
}


def reply_text(provider: str, prompt: str) -> str:
    """City questions get JSON (Hugging Face's a wrong one); anything else the default."""
    if "city" not in prompt:
        return f"Emulated {provider} answer to: {prompt[:40]}"
    if provider == "huggingface":
        return '{"name": "Oslo", "population": "lots"}'
    return CITY


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    """This module's emulator: answers city questions with JSON."""
    with ProviderEmulator(reply_text=reply_text) as emulator:
        yield emulator


@pytest.mark.parametrize("wire", OPENAI_WIRES)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_issue14_chat_fields_reach_openai_protocol_wires(
    connect: Connect, emu: ProviderEmulator, wire: str, streamed: bool
) -> None:
    driver = connect(wire, cache_ttl_seconds=0)
    options = {
        "tools": [WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "stop": ["END"],
        "top_p": 0.9,
        "seed": 42,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
    }
    if streamed:
        result = driver.stream("Weather in Oslo?", **options)
        assert result.error is None and result.response is not None
        assert result.response.provider is SDK_NAME[wire]
    else:
        assert driver.complete("Weather in Oslo?", **options).provider is SDK_NAME[wire]
    body = emu.requests(wire)[-1].json
    assert body["tools"] == [WEATHER]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("auto", False)
    assert body["stop"] == ["END"] and body["seed"] == 42 and body["top_p"] == 0.9
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, 0.25)


@pytest.mark.parametrize("wire", ("openai", "remote_gpu_openai"))
def test_issue14_json_schema_answers_are_parsed(
    connect: Connect, emu: ProviderEmulator, wire: str
) -> None:
    driver = connect(wire, cache_ttl_seconds=0)
    response = driver.complete("Which city? Answer as JSON.", response_format=CITY_FORMAT)
    assert response.provider is SDK_NAME[wire]
    assert response.parsed == {"name": "Oslo", "population": 709000}
    assert emu.requests(wire)[-1].json["response_format"] == CITY_FORMAT
    streamed = driver.stream("Which city? Answer as JSON.", response_format=CITY_FORMAT)
    assert streamed.error is None and streamed.response is not None
    assert streamed.text == CITY
    assert streamed.response.parsed == {"name": "Oslo", "population": 709000}


def test_issue14_an_answer_failing_its_schema_falls_over_to_the_next(connect: Connect) -> None:
    driver = connect("huggingface", "openai", cache_ttl_seconds=0)
    response = driver.complete("Which city? Answer as JSON.", response_format=CITY_FORMAT)
    assert response.provider is ProviderName.OPENAI
    assert response.parsed == {"name": "Oslo", "population": 709000}
    assert trail(response) == [("huggingface", "failed"), ("openai", "ok")]
    assert response.attempts[0].error_type == "malformed_reply"
    assert "lots" not in response.attempts[0].reason


def test_issue14_a_provider_without_tools_is_skipped_without_a_request(
    connect: Connect, emu: ProviderEmulator
) -> None:
    # (ollama_local speaks tools since lane chat-adapters: only remote_gpu lacks them here)
    driver = connect("remote_gpu", "openai", cache_ttl_seconds=0)
    response = driver.complete("Weather in Oslo?", tools=[WEATHER])
    assert response.provider is ProviderName.OPENAI
    assert [(a.provider.value, a.reason) for a in response.attempts[:1]] == [
        ("remote_gpu", "no tool support"),
    ]
    assert emu.request_count("remote_gpu") == 0
    # the same provider still answers a plain request
    assert driver.complete("hello").provider is ProviderName.REMOTE_GPU


def test_issue14_no_capable_provider_is_said_plainly(
    connect: Connect, emu: ProviderEmulator
) -> None:
    response = connect("remote_gpu").complete("Weather in Oslo?", tools=[WEATHER])
    assert response.provider is ProviderName.LOCAL_STUB and not response.success
    assert "no capable provider was available" in response.content
    assert "remote_gpu skipped (no tool support)" in response.content
    streamed = connect("remote_gpu", fallback_to_stub=False).stream(
        "Weather in Oslo?", tools=[WEATHER]
    )
    assert isinstance(streamed.error, AllProvidersFailed)
    assert "no capable provider was available" in str(streamed.error)
    assert emu.request_count("remote_gpu") == 0


def test_issue14_hf_task_api_carries_stop_and_seed(connect: Connect, emu: ProviderEmulator) -> None:
    driver = connect("huggingface_task", cache_ttl_seconds=0)
    response = driver.complete("hello", stop="END", seed=3)
    assert response.provider is ProviderName.HUGGINGFACE
    parameters = emu.requests("huggingface_task")[-1].json["parameters"]
    assert (parameters["stop"], parameters["seed"]) == (["END"], 3)


def test_issue14_image_parts_reach_the_wire_in_openai_shape(
    connect: Connect, emu: ProviderEmulator
) -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    response = connect("openai").complete(messages=[{"role": "user", "content": content}])
    assert response.provider is ProviderName.OPENAI
    assert response.content == "Emulated openai answer to: What is in this picture?"
    assert emu.requests("openai")[-1].json["messages"] == [{"role": "user", "content": content}]

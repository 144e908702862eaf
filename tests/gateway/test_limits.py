"""The concurrency cap (503 in OpenAI's shape, with a bounded wait) and Limits itself."""

from __future__ import annotations

import asyncio

import pytest
from gateway_helpers import gateway_of, ollama_client, wait_until

from sarvanom_sdk import ConfigurationError
from sarvanom_sdk.gateway import Limits
from sarvanom_sdk.testing import Fault, ProviderEmulator

CHAT = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def slow_emulator():
    with ProviderEmulator(latency=0.4) as emu:
        yield emu


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/query", {"prompt": "hi", "cache": False}),
        ("/v1/chat/completions", CHAT),
        ("/v1/chat/completions", {**CHAT, "stream": True}),
    ],
)
async def test_over_the_cap_is_503_at_once(open_gateway, slow_emulator, path, body) -> None:
    client = await open_gateway(
        ollama_client(slow_emulator, cache_ttl_seconds=0),
        limits=Limits(max_in_flight=1, max_waiting=0),
    )
    gate = gateway_of(client).gate
    first = asyncio.ensure_future(client.post(path, json=body))
    await wait_until(lambda: gate.in_flight == 1)
    refused = await client.post(path, json=body)
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    error = (await refused.json())["error"]
    assert (error["type"], error["code"]) == ("server_error", "gateway_overloaded")
    assert "1 in flight, 0 waiting" in error["message"]
    assert (await first).status == 200
    assert gate.in_flight == gate.admitted == 0


async def test_a_bounded_number_wait_for_a_slot(open_gateway, slow_emulator) -> None:
    client = await open_gateway(
        ollama_client(slow_emulator, cache_ttl_seconds=0),
        limits=Limits(max_in_flight=1, max_waiting=1, wait_timeout=5),
    )
    gate = gateway_of(client).gate
    body = {"prompt": "hi"}
    first = asyncio.ensure_future(client.post("/api/query", json=body))
    await wait_until(lambda: gate.in_flight == 1)
    second = asyncio.ensure_future(client.post("/api/query", json=body))
    await wait_until(lambda: gate.waiting == 1)
    third = await client.post("/api/query", json=body)
    assert third.status == 503
    assert "1 in flight, 1 waiting" in (await third.json())["error"]["message"]
    assert [(await r).status for r in (first, second)] == [200, 200]


async def test_waiting_is_bounded_in_time(open_gateway, slow_emulator) -> None:
    client = await open_gateway(
        ollama_client(slow_emulator, cache_ttl_seconds=0),
        limits=Limits(max_in_flight=1, max_waiting=4, wait_timeout=0.05),
    )
    gate = gateway_of(client).gate
    first = asyncio.ensure_future(client.post("/api/query", json={"prompt": "hi"}))
    await wait_until(lambda: gate.in_flight == 1)
    late = await client.post("/api/query", json={"prompt": "hi"})
    assert late.status == 503
    assert "no free slot within 0.05s" in (await late.json())["error"]["message"]
    assert (await first).status == 200
    assert gate.admitted == 0


async def test_cheap_endpoints_are_not_capped(open_gateway, slow_emulator) -> None:
    client = await open_gateway(
        ollama_client(slow_emulator), limits=Limits(max_in_flight=1, max_waiting=0)
    )
    gate = gateway_of(client).gate
    first = asyncio.ensure_future(client.post("/api/query", json={"prompt": "hi"}))
    await wait_until(lambda: gate.in_flight == 1)
    for path in ("/health", "/health/gpu-providers", "/v1/models", "/metrics"):
        assert (await client.get(path)).status == 200
    assert (await first).status == 200


@pytest.mark.parametrize(
    "options",
    [
        {"max_in_flight": 0},
        {"max_body_bytes": 0},
        {"max_waiting": -1},
        {"wait_timeout": -1},
        {"max_tokens": 10**6},
        {"max_prompt_chars": 10**9},
        {"max_in_flight": True},
        {"max_tokens": "5"},
    ],
)
def test_limits_are_validated(options) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        Limits(**options)


async def test_a_caller_leaving_mid_stream_frees_its_slot(open_gateway, emulator) -> None:
    emulator.inject("ollama", Fault.trickle(interval=0.1))
    client = await open_gateway(ollama_client(emulator, cache_ttl_seconds=0))
    gate = gateway_of(client).gate
    reply = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert reply.status == 200
    first = await reply.content.readline()
    assert first.startswith(b"data: {")
    assert gate.in_flight == 1
    reply.close()  # the caller goes away before the answer ends
    await wait_until(lambda: gate.admitted == 0)

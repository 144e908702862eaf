"""Issue 15 item 2: ``POST /v1/messages`` with the official ``anthropic`` client (sync,
async, streaming, ``messages.stream()``), changing only ``base_url``; errors in Anthropic's
shape; the gateway token as ``x-api-key`` or bearer; the gateway's hardening in force."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import anthropic
import pytest
from gateway_helpers import (
    JSON_TYPE,
    TOKEN,
    ThreadedGateway,
    ollama_client,
    served,
    stub_client,
    wait_until,
)

from sarvanom_sdk import AsyncSarvanClient, Settings
from sarvanom_sdk.gateway import Limits, create_app
from sarvanom_sdk.gateway.app import GATEWAY
from sarvanom_sdk.gateway.callers import CallerPolicy
from sarvanom_sdk.testing import Fault, ProviderEmulator

HI = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER = "Emulated ollama answer to: What is the capital of France?"
BODY = {"model": "sarvanom/auto", "max_tokens": 64, "messages": HI}
ANTHROPIC_HEADERS = {**JSON_TYPE, "anthropic-version": "2023-06-01"}


def client_for(gateway: ThreadedGateway, api_key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0, timeout=10.0)


@pytest.fixture
def gw(emulator):
    with ThreadedGateway(create_app(ollama_client(emulator))) as gateway:
        yield gateway


def test_issue15_2_a_message_with_the_anthropic_client(gw, emulator) -> None:
    raw = client_for(gw).messages.with_raw_response.create(
        model="sarvanom/auto",
        max_tokens=50,
        extra_body={"temperature": 0.2},
        system="Answer briefly.",
        messages=HI,
        metadata={"user_id": "u-1"},
        extra_headers={"X-Request-ID": "an-1"},
    )
    assert raw.headers["request-id"] == raw.headers["x-request-id"] == "an-1"
    assert raw.headers["x-sarvanom-provider"] == "ollama_local"
    message = raw.parse()
    assert message.id.startswith("msg_") and message.type == "message"
    assert message.role == "assistant"
    assert message.model == "sarvanom/ollama_local/deepseek-r1:8b"
    assert [(b.type, b.text) for b in message.content] == [("text", ANSWER)]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == len(ANSWER.split())
    sent = emulator.requests("ollama")[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert sent["messages"][-1] == HI[0]
    assert sent["options"]["num_predict"] == 50
    assert sent["options"]["temperature"] == 0.2


def test_issue15_2_blocks_defaults_and_max_tokens_stop_reason(gw, emulator) -> None:
    """System and content as text blocks (joined), a multi-turn conversation, Anthropic's
    default temperature (1.0), and an answer cut by max_tokens -> stop_reason max_tokens."""
    message = client_for(gw).messages.create(
        model="sarvanom/ollama_local",
        max_tokens=3,
        system=[{"type": "text", "text": "Be terse."}, {"type": "text", "text": "No lists."}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            {"role": "assistant", "content": "Hi."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "One"}, {"type": "text", "text": "Two"}],
            },
        ],
    )
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    sent = emulator.requests("ollama")[-1].json
    assert sent["messages"] == [
        {"role": "system", "content": "Be terse.\nNo lists."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "One\nTwo"},
    ]
    assert sent["options"]["temperature"] == 1.0


def test_issue15_2_the_stream_event_sequence(gw) -> None:
    import requests

    raw = requests.post(gw.url + "/v1/messages", json={**BODY, "stream": True}, timeout=10)
    assert raw.headers["content-type"] == "text/event-stream"
    names = [line[7:] for line in raw.text.splitlines() if line.startswith("event: ")]
    datas = [json.loads(line[6:]) for line in raw.text.splitlines() if line.startswith("data: ")]
    assert [d["type"] for d in datas] == names  # each event's name is its data's type
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"} and len(names) > 7

    events = list(client_for(gw).messages.create(**BODY, stream=True))  # the client skips ping
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert all(d.delta.type == "text_delta" and d.index == 0 for d in deltas)
    assert "".join(d.delta.text for d in deltas) == ANSWER
    start = events[0].message
    assert start.id.startswith("msg_") and start.content == [] and start.stop_reason is None
    assert start.model == "sarvanom/ollama_local/deepseek-r1:8b"
    assert events[1].content_block.type == "text" and events[1].content_block.text == ""
    final = events[-2]
    assert final.delta.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(ANSWER.split())


def test_issue15_2_the_stream_helper(gw) -> None:
    with client_for(gw).messages.stream(**BODY) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == ANSWER
    assert final.content[0].text == ANSWER and final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


async def test_issue15_2_the_async_client(open_gateway, emulator) -> None:
    gateway = await open_gateway(ollama_client(emulator))
    client = anthropic.AsyncAnthropic(
        base_url=str(gateway.make_url("")), api_key="x", max_retries=0
    )
    message = await client.messages.create(**BODY)
    assert message.content[0].text == ANSWER
    events = [e async for e in await client.messages.create(**BODY, stream=True)]
    assert events[-1].type == "message_stop"
    async with client.messages.stream(**BODY) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == ANSWER == final.content[0].text
    await client.close()


def test_issue15_2_token_as_x_api_key_or_bearer(emulator) -> None:
    with ThreadedGateway(create_app(ollama_client(emulator), token=TOKEN)) as gateway:
        assert client_for(gateway, api_key=TOKEN).messages.create(**BODY).content
        bearer = anthropic.Anthropic(base_url=gateway.url, auth_token=TOKEN, max_retries=0)
        assert bearer.messages.create(**BODY).content
        assert emulator.request_count() == 2
        with pytest.raises(anthropic.AuthenticationError) as caught:
            client_for(gateway, api_key="wrong").messages.create(**BODY)
        assert caught.value.status_code == 401
        assert caught.value.body["error"]["type"] == "authentication_error"
        assert "x-api-key" in caught.value.body["error"]["message"]
        assert emulator.request_count() == 2
        # the OpenAI endpoint takes the x-api-key too, and keeps OpenAI's error shape
        import requests

        url = gateway.url + "/v1/chat/completions"
        chat = {"model": "sarvanom/auto", "messages": HI}
        assert requests.post(url, json=chat, headers={"x-api-key": TOKEN}).status_code == 200
        refused = requests.post(url, json=chat, headers={"x-api-key": "wrong"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


async def test_issue15_2_a_missing_key_is_401_naming_both_headers(open_gateway) -> None:
    client = await open_gateway(stub_client(), token=TOKEN)
    reply = await client.post("/v1/messages", json=BODY, headers=ANTHROPIC_HEADERS)
    assert reply.status == 401
    body = await reply.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert "x-api-key" in body["error"]["message"] and "Bearer" in body["error"]["message"]
    assert body["request_id"] == reply.headers["request-id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "sarvanom/auto", "messages": HI}, "max_tokens"),
        ({**BODY, "max_tokens": 0}, "max_tokens"),
        ({**BODY, "max_tokens": "64"}, "max_tokens"),
        ({"max_tokens": 5, "messages": HI}, "model"),
        ({**BODY, "messages": []}, "messages"),
        ({**BODY, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({**BODY, "messages": [{"role": "user", "content": 5}]}, "messages[0]"),
        ({**BODY, "messages": [{"role": "user", "content": [{"type": "text"}]}]}, ".text"),
        ({**BODY, "messages": [{"role": "user", "content": "  "}]}, "messages[0].content"),
        ({**BODY, "system": 5}, "system"),
        ({**BODY, "stream": "yes"}, "stream"),
        ({**BODY, "temperature": 3}, "temperature"),
        ({**BODY, "max_tokens": 10**6}, "max_tokens"),
        ({**BODY, "cache": "no"}, "cache"),
    ],
)
async def test_issue15_2_bad_requests_are_400_invalid_request_error(
    open_gateway, emulator, body, field
) -> None:
    client = await open_gateway(ollama_client(emulator))
    reply = await client.post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert reply.status == 400
    error = (await reply.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert field in error["message"]
    assert emulator.request_count() == 0


def test_issue15_2_unknown_model_is_404_not_found_error(gw, emulator) -> None:
    for model in ("claude-3-5-haiku-latest", "sarvanom/openai"):
        with pytest.raises(anthropic.NotFoundError) as caught:
            client_for(gw).messages.create(**{**BODY, "model": model})
        assert caught.value.body["error"]["type"] == "not_found_error"
        assert "sarvanom/auto" in caught.value.body["error"]["message"]
    assert emulator.request_count() == 0


async def test_issue15_2_the_gateway_guards_answer_in_anthropic_shape(open_gateway) -> None:
    """Host (F3), content type (F3), body size, lone surrogates (F12), wrong method and
    unknown path: refused with Anthropic's error types; the OpenAI endpoint keeps OpenAI's
    shape."""
    client = await open_gateway(stub_client(), limits=Limits(max_body_bytes=2048))
    cases = [
        (
            dict(json=BODY, headers={**ANTHROPIC_HEADERS, "Host": "evil.example"}),
            403,
            "permission_error",
        ),
        (
            dict(data=json.dumps(BODY), headers={"Content-Type": "text/plain"}),
            415,
            "invalid_request_error",
        ),
        (
            dict(json={**BODY, "system": "x" * 4096}, headers=ANTHROPIC_HEADERS),
            413,
            "request_too_large",
        ),
        (
            dict(
                data='{"model": "sarvanom/auto", "max_tokens": 5, "messages": [{"role": "user",'
                ' "content": "\\ud800"}]}',
                headers=ANTHROPIC_HEADERS,
            ),
            400,
            "invalid_request_error",
        ),
    ]
    for options, status, kind in cases:
        reply = await client.post("/v1/messages", **options)
        assert reply.status == status, options
        body = await reply.json()
        assert body["type"] == "error" and body["error"]["type"] == kind
    reply = await client.get("/v1/messages")
    assert reply.status == 405 and (await reply.json())["error"]["type"] == "invalid_request_error"
    reply = await client.post("/v1/messages/nope", json=BODY, headers=ANTHROPIC_HEADERS)
    assert reply.status == 404 and (await reply.json())["error"]["type"] == "not_found_error"
    reply = await client.post(
        "/v1/chat/completions", data="{}", headers={"Content-Type": "text/plain"}
    )
    assert reply.status == 415 and (await reply.json())["error"]["code"] == "unsupported_media_type"


async def test_issue15_2_caller_policy_applies(open_gateway, emulator) -> None:
    """F5: a pin the operator does not allow is refused, naming ``model``."""
    client = await open_gateway(ollama_client(emulator), callers=CallerPolicy.parse("cache,tier"))
    body = {**BODY, "model": "sarvanom/ollama_local/other-model"}
    reply = await client.post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert reply.status == 400
    error = (await reply.json())["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith("model:")
    assert (await client.post("/v1/messages", json=BODY, headers=ANTHROPIC_HEADERS)).status == 200


def test_issue15_2_strict_client_is_503_overloaded_before_any_byte() -> None:
    with ThreadedGateway(create_app(stub_client(fallback_to_stub=False))) as gateway:
        for stream in (False, True):
            with pytest.raises(anthropic.APIStatusError) as caught:
                client_for(gateway).messages.create(**BODY, stream=stream)
            assert caught.value.status_code == 503
            assert caught.value.body["error"]["type"] == "overloaded_error"
            assert caught.value.response.headers["retry-after"]


def test_issue15_2_the_stub_answers_as_a_message() -> None:
    with ThreadedGateway(create_app(stub_client())) as gateway:
        message = client_for(gateway).messages.create(**BODY)
        assert message.model == "sarvanom/local_stub"
        assert message.content[0].text.startswith("[sarvanom local_stub]")


def test_issue15_2_a_stream_cut_after_it_began_raises(gw, emulator) -> None:
    emulator.inject("ollama", Fault.cut_stream(), times=1)
    received = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in client_for(gw).messages.create(**BODY, stream=True):
            received.append(event.type)
    assert "content_block_delta" in received and "message_stop" not in received
    assert "failed after it began" in str(caught.value)


def test_issue15_2_count_tokens_is_an_estimate(gw, emulator) -> None:
    raw = client_for(gw).messages.with_raw_response.count_tokens(
        model="sarvanom/auto", system="abcd" * 10, messages=HI
    )
    assert raw.headers["x-sarvanom-estimate"] == "true"
    expected = -(-(40 + len(HI[0]["content"])) // 4) + 4 * 2
    assert raw.parse().input_tokens == expected
    assert emulator.request_count() == 0


async def test_issue15_2_a_caller_that_leaves_mid_stream_frees_its_slots(caplog) -> None:
    """F6 on this endpoint: the provider trickles a long answer; the caller reads one
    event and leaves; the gateway's slot and the provider's bulkhead are freed."""
    caplog.set_level(logging.INFO)
    async with ProviderEmulator(reply_text="word " * 400, stream_chunks=200) as emu:
        emu.inject("ollama", Fault.trickle(interval=0.1))
        app = create_app(ollama_client(emu, cache_ttl_seconds=0, total_timeout=60))
        gate = app[GATEWAY].gate
        router = app[GATEWAY].client.router
        in_flight = lambda: sum(  # noqa: E731
            e.bulkhead.in_flight for eps in router.endpoints.values() for e in eps
        )
        async with served(app) as url, aiohttp.ClientSession() as session:
            reply = await session.post(url + "/v1/messages", json={**BODY, "stream": True})
            assert (await reply.content.readline()) == b"event: message_start\n"
            reply.close()
            await wait_until(lambda: gate.admitted == 0 and in_flight() == 0, 10)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_issue15_2_a_stream_ends_at_the_total_deadline_with_an_error_event() -> None:
    async with ProviderEmulator(reply_text="word " * 200, stream_chunks=100) as emu:
        emu.inject("ollama", Fault.trickle(interval=0.2))
        app = create_app(ollama_client(emu, cache_ttl_seconds=0, total_timeout=1.5))
        async with served(app) as url, aiohttp.ClientSession() as session:
            reply = await session.post(url + "/v1/messages", json={**BODY, "stream": True})
            text = await reply.text()
            await asyncio.sleep(0)
            assert app[GATEWAY].gate.admitted == 0
    assert "event: error" in text and "deadline of 1.5s" in text
    assert '"type": "api_error"' in text and "message_stop" not in text


def _openai_client(emu: ProviderEmulator) -> AsyncSarvanClient:
    return AsyncSarvanClient(
        Settings(
            enable_paid_api=True,
            providers=("openai",),
            openai_api_key="sk-test-anthropic-ingress",
            openai_base_url=emu.url_for("openai"),
            cache_ttl_seconds=0,
        )
    )


@pytest.mark.parametrize("stage", ["prompt", "output"])
async def test_issue15_2_a_content_filter_refusal_is_stop_reason_refusal(
    open_gateway, emulator, stage
) -> None:
    """A provider's refusal (raised by the SDK as ContentFiltered) answers as Anthropic
    does: a 200 message, or a complete stream, with ``stop_reason: "refusal"`` — before
    any byte and after part of the answer alike; never a 500."""
    emulator.inject("openai", Fault.content_filter(stage), times=2)
    gateway = await open_gateway(_openai_client(emulator))
    client = anthropic.AsyncAnthropic(
        base_url=str(gateway.make_url("")), api_key="x", max_retries=0
    )
    message = await client.messages.create(**BODY)
    assert message.stop_reason == "refusal"
    assert message.model.startswith("sarvanom/openai")
    events = [e async for e in await client.messages.create(**BODY, stream=True)]
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert events[-2].delta.stop_reason == "refusal"
    await client.close()

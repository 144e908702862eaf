"""F6: a caller that leaves or stops reading frees its slots; streams end by their
deadline; no ERROR on disconnects. Served the way ``sarvanom serve`` serves the app
(:mod:`sarvanom_sdk.gateway.server`), since aiohttp's test server already cancels
handlers and would hide the defect."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import aiohttp
import pytest
from aiohttp import web
from gateway_helpers import ollama_client, served, wait_until

from sarvanom_sdk.gateway import Limits, create_app
from sarvanom_sdk.gateway.app import GATEWAY
from sarvanom_sdk.testing import Fault, ProviderEmulator

CHAT = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": "hi"}]}


def _bulkhead_in_flight(app: web.Application) -> int:
    router = app[GATEWAY].client.router
    return sum(e.bulkhead.in_flight for eps in router.endpoints.values() for e in eps)


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/query", {"prompt": "hi"}),
        ("/v1/chat/completions", CHAT),
        ("/v1/chat/completions", {**CHAT, "stream": True}),
    ],
)
async def test_f6_a_caller_that_disconnects_frees_its_slots(caplog, path, body) -> None:
    """The provider takes 30 s; callers leave after their call reached it. Slots and the
    provider's bulkhead are free again long before (the bound is generous, the ratio
    is what matters). Two callers: the provider's bulkhead holds two."""
    caplog.set_level(logging.INFO)
    async with ProviderEmulator() as emu:
        emu.inject("ollama", Fault.delay(30))
        app = create_app(ollama_client(emu, total_timeout=60, attempt_timeout=60))
        gate = app[GATEWAY].gate
        async with served(app) as url, aiohttp.ClientSession() as session:
            calls = [asyncio.ensure_future(session.post(url + path, json=body)) for _ in range(2)]
            await wait_until(lambda: gate.in_flight == 2 and emu.request_count("ollama") == 2, 20)
            assert _bulkhead_in_flight(app) == 2
            started = time.monotonic()
            for call in calls:
                call.cancel()  # the callers go away: their connections close
            await asyncio.gather(*calls, return_exceptions=True)
            await wait_until(lambda: gate.admitted == 0 and _bulkhead_in_flight(app) == 0, 10)
            assert time.monotonic() - started < 10  # far below the provider's 30 s
    assert _errors(caplog) == []
    statuses = [r.status for r in caplog.records if r.name == "sarvanom_sdk.gateway"]
    assert statuses == [499] * 2


async def test_f6_a_caller_that_leaves_mid_stream_frees_its_slots(caplog) -> None:
    caplog.set_level(logging.INFO)
    async with ProviderEmulator(reply_text="word " * 400, stream_chunks=200) as emu:
        emu.inject("ollama", Fault.trickle(interval=0.1))
        app = create_app(ollama_client(emu, cache_ttl_seconds=0, total_timeout=60))
        gate = app[GATEWAY].gate
        async with served(app) as url, aiohttp.ClientSession() as session:
            reply = await session.post(url + "/v1/chat/completions", json={**CHAT, "stream": True})
            assert (await reply.content.readline()).startswith(b"data: {")
            reply.close()
            await wait_until(lambda: gate.admitted == 0 and _bulkhead_in_flight(app) == 0, 10)
    assert _errors(caplog) == []


async def test_f6_a_reader_that_stops_reading_is_dropped(caplog) -> None:
    """The caller opens a stream, then never reads: the gateway's writes block once the
    socket buffers fill. After ``write_timeout`` the caller is dropped, its slots freed."""
    caplog.set_level(logging.INFO)
    big = "x" * 400_000
    async with ProviderEmulator(reply_text=big, stream_chunks=400) as emu:
        app = create_app(
            ollama_client(emu, cache_ttl_seconds=0, total_timeout=120),
            limits=Limits(write_timeout=0.5),
        )

        @web.middleware
        async def small_send_buffer(request, handler):  # fill up after a few KiB
            sock = request.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            return await handler(request)

        app.middlewares.append(small_send_buffer)
        gate = app[GATEWAY].gate
        async with served(app) as url:
            port = int(url.rsplit(":", 1)[1])
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            payload = json.dumps({**CHAT, "stream": True}).encode()
            sock.send(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )
            try:
                await wait_until(lambda: gate.in_flight == 1, 10)
                await wait_until(lambda: gate.admitted == 0 and _bulkhead_in_flight(app) == 0, 15)
            finally:
                sock.close()
    assert _errors(caplog) == []


async def test_f6_a_stream_ends_at_the_total_deadline_whatever_the_provider_sends() -> None:
    """Content keeps coming (one event each 0.2 s for 20 s), so no idle timer trips; the
    total deadline (1.5 s) ends it, as an interrupted stream, never a clean finish."""
    async with ProviderEmulator(reply_text="word " * 200, stream_chunks=100) as emu:
        emu.inject("ollama", Fault.trickle(interval=0.2))
        app = create_app(ollama_client(emu, cache_ttl_seconds=0, total_timeout=1.5))
        gate = app[GATEWAY].gate
        async with served(app) as url, aiohttp.ClientSession() as session:
            started = time.monotonic()
            reply = await session.post(url + "/v1/chat/completions", json={**CHAT, "stream": True})
            text = await reply.text()
            took = time.monotonic() - started
            assert gate.admitted == 0
    assert took < 12  # the provider's stream lasts 20 s
    assert "stream_interrupted" in text and "deadline of 1.5s" in text
    assert "[DONE]" not in text


async def test_f6_keep_alive_comments_do_not_keep_a_stream_open() -> None:
    """The review's S2: after its first token an OpenAI-compatible provider sends only SSE
    keep-alive comments, forever. The gateway ends the stream at the total deadline
    (1.5 s) as interrupted, and closes the provider's stream."""
    from aiohttp.test_utils import TestServer

    from sarvanom_sdk import AsyncSarvanClient, Settings

    open_streams = []

    async def chat(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        open_streams.append(1)
        try:
            first = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
            }
            await out.write(b"data: " + json.dumps(first).encode() + b"\n\n")
            while True:
                await out.write(b": keep-alive\n\n")
                await asyncio.sleep(0.05)
        finally:
            open_streams.pop()

    provider_app = web.Application()
    provider_app.router.add_post("/v1/chat/completions", chat)
    async with TestServer(provider_app, host="127.0.0.1") as provider:
        client = AsyncSarvanClient(
            Settings(
                providers=("remote_gpu",),
                gpu_remote_url=str(provider.make_url("")).rstrip("/"),
                gpu_remote_protocol="openai",
                total_timeout=1.5,
                cache_ttl_seconds=0,
            )
        )
        app = create_app(client)
        gate = app[GATEWAY].gate
        async with served(app) as url, aiohttp.ClientSession() as session:
            started = time.monotonic()
            reply = await session.post(
                url + "/v1/chat/completions",
                json={**CHAT, "stream": True},
                timeout=aiohttp.ClientTimeout(total=20),  # fail, not hang, without the fix
            )
            text = await reply.text()
            took = time.monotonic() - started
            assert gate.admitted == 0
        await wait_until(lambda: not open_streams, 10)
    assert took < 12
    assert '"content": "Hello"' in text
    assert "stream_interrupted" in text and "[DONE]" not in text

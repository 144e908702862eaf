"""Graceful shutdown: in-flight requests finish (up to a bound), then the client closes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web
from gateway_helpers import ollama_client, wait_until

from sarvanom_sdk.gateway import create_app
from sarvanom_sdk.gateway.app import GATEWAY
from sarvanom_sdk.testing import Fault, ProviderEmulator


async def _serve(app: web.Application, shutdown_timeout: float) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _until_in_flight(app: web.Application) -> None:
    await wait_until(lambda: app[GATEWAY].gate.in_flight > 0)


async def test_in_flight_requests_finish_then_the_client_closes() -> None:
    async with ProviderEmulator(latency=0.3) as emu:
        sdk_client = ollama_client(emu)
        closed = []
        original_close = sdk_client.close

        async def close() -> None:
            closed.append(time.monotonic())
            await original_close()

        sdk_client.close = close  # type: ignore[method-assign]
        app = create_app(sdk_client)
        runner, url = await _serve(app, shutdown_timeout=5)
        async with aiohttp.ClientSession() as session:
            pending = asyncio.ensure_future(session.post(url + "/api/query", json={"prompt": "hi"}))
            await _until_in_flight(app)
            await runner.cleanup()  # what SIGTERM/SIGINT do under web.run_app
            reply = await pending
            assert reply.status == 200
            assert (await reply.json())["provider"] == "ollama_local"
            assert len(closed) == 1
            with pytest.raises(aiohttp.ClientConnectionError):  # no longer accepting
                await session.get(url + "/health")


async def test_shutdown_is_bounded() -> None:
    async with ProviderEmulator() as emu:
        emu.inject("ollama", Fault.hang())
        app = create_app(ollama_client(emu))
        runner, url = await _serve(app, shutdown_timeout=0.2)
        async with aiohttp.ClientSession() as session:
            pending = asyncio.ensure_future(session.post(url + "/api/query", json={"prompt": "hi"}))
            await _until_in_flight(app)
            started = time.monotonic()
            await runner.cleanup()
            assert time.monotonic() - started < 2.0
            with pytest.raises(aiohttp.ClientError):  # the unfinished request is cut
                await pending

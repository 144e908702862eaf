"""Helpers for the gateway tests: clients built with explicit settings (never from the
environment) and the gateway served on 127.0.0.1 on a loop of its own in a thread, for
sync callers such as the official ``openai`` client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from sarvanom_sdk import AsyncSarvanClient, Settings
from sarvanom_sdk.gateway.app import GATEWAY, Gateway
from sarvanom_sdk.testing import ProviderEmulator
from sarvanom_sdk.testing._threaded import LoopThread

TOKEN = "gw-test-token-0123456789"
JSON_TYPE = {"Content-Type": "application/json"}
OpenGateway = Callable[..., Awaitable[TestClient]]


def ollama_client(emu: ProviderEmulator, **overrides: Any) -> AsyncSarvanClient:
    """A client whose chain is the emulator's Ollama (then the stub)."""
    return AsyncSarvanClient(Settings(ollama_base_url=emu.url_for("ollama"), **overrides))


def failing_gpu_then_ollama(emu: ProviderEmulator) -> AsyncSarvanClient:
    """remote_gpu (connection refused; its breaker opens on the first failure), then the
    emulator's Ollama, then the stub; no retries."""
    return AsyncSarvanClient(
        Settings(
            providers=("remote_gpu", "ollama_local"),
            gpu_remote_url=emu.refused_url("remote_gpu"),
            ollama_base_url=emu.url_for("ollama"),
            circuit_fail_max=1,
            max_retries=0,
        )
    )


def stub_client(**overrides: Any) -> AsyncSarvanClient:
    """A client with no provider configured: only the stub answers."""
    return AsyncSarvanClient(Settings(**overrides))


def gateway_of(client: TestClient) -> Gateway:
    return client.server.app[GATEWAY]


class ThreadedGateway:
    """The gateway on 127.0.0.1:<free port>, on its own event loop in a daemon thread."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._thread = LoopThread("sarvanom-gateway-test")
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def _stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def __enter__(self) -> ThreadedGateway:
        self._thread.start(self._start)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop(self._stop, timeout=10.0)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds (AssertionError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def openai_client(gateway: ThreadedGateway, api_key: str = "unused") -> Any:
    import openai

    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_key, max_retries=0, timeout=10.0)


@asynccontextmanager
async def served(app: web.Application, shutdown_timeout: float = 2.0) -> AsyncIterator[str]:
    """``app`` served the way ``sarvanom serve`` serves it (:mod:`sarvanom_sdk.gateway.server`),
    on 127.0.0.1:<free port>; yields the base URL."""
    from sarvanom_sdk.gateway import server

    runner, port = await server.start(app, "127.0.0.1", 0, shutdown_timeout=shutdown_timeout)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a new connection to 127.0.0.1:``port``; everything read until the
    server closes (or ``timeout``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()

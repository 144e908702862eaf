"""A small loopback HTTP server (aiohttp.web in a thread) with misbehaving routes, for the
transports' timing tests. Listens on 127.0.0.1 on an ephemeral port; stopped after the
module's tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _hang(request: web.Request) -> web.Response:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def _slow_headers(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "0.5")))
    return web.json_response({"ok": True})


async def _trickle(request: web.Request) -> web.StreamResponse:
    """One byte every ``interval`` seconds, forever (each read returns quickly)."""
    interval = float(request.query.get("interval", "0.05"))
    response = web.StreamResponse()
    await response.prepare(request)
    while True:
        await response.write(b"x")
        await asyncio.sleep(interval)


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("http://127.0.0.1:9/elsewhere")


async def _big(request: web.Request) -> web.Response:
    return web.Response(body=b"a" * int(request.query.get("n", "2000000")))


async def _big_chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(int(request.query.get("n", "40"))):
        await response.write(b"b" * 65536)
    await response.write_eof()
    return response


async def _cut(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"data: partial\n\n")
    await asyncio.sleep(0.05)
    assert request.transport is not None
    request.transport.close()
    return response


async def _echo_headers(request: web.Request) -> web.Response:
    return web.json_response(dict(request.headers))


class LoopbackServer:
    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> LoopbackServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        for path, handler in {
            "/ok": _ok, "/hang": _hang, "/slow-headers": _slow_headers, "/trickle": _trickle,
            "/redirect": _redirect, "/big": _big, "/big-chunked": _big_chunked, "/cut": _cut,
            "/echo-headers": _echo_headers,
        }.items():
            app.router.add_route("*", path, handler)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()

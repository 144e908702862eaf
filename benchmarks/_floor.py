#!/usr/bin/env python3
"""The gateway's floor: the least an aiohttp.web forwarder can do (issue 18 goals 2, 5, 6).

One handler for every ``POST``: it forwards the request body, unread and unparsed, to the
upstream with a plain aiohttp client (one keep-alive session, at most 256 connections like
the SDK's transport, so requests beyond that wait here as they do in the gateway) and
answers with the upstream's body — for a stream (``"stream":true`` in the body), each
upstream line as one server-sent event (``data: <line>\\n\\n``), written as it arrives. No
routing, no validation, no metrics, no access log: what any Python gateway on aiohttp must
at least spend per request, so a gateway's figures (server CPU per request, RSS per request
in flight) read as a ratio to it. ``gateway_floor.py``, ``peers.py`` and ``bench_memory.py``
run it beside ``sarvanom serve`` against the same upstream.

Run: ``python benchmarks/_floor.py UPSTREAM [PORT]``. ``UPSTREAM`` is a loopback URL: a
root (``http://127.0.0.1:PORT``) forwards each request to the same path there; a URL with a
path (``http://127.0.0.1:PORT/api/chat``) forwards every request to that one endpoint.
``PORT`` 0, the default, picks a free one. It prints ``READY <port>`` on stdout once
listening on 127.0.0.1, and stops on SIGTERM/SIGINT. (No argparse here: the benchmarks' one
parser lives in ``_common``, and this process stays as small as ``_server.py``.)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

#: Connections to the upstream at most: the SDK transport's default.
CONNECTION_LIMIT = 256
SESSION = web.AppKey("floor_session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("floor_upstream", str)
FIXED_PATH = web.AppKey("floor_fixed_path", bool)


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    upstream = request.app[UPSTREAM]
    target = upstream if request.app[FIXED_PATH] else upstream + request.path
    async with request.app[SESSION].post(target, data=body,
                                         headers={"Content-Type": "application/json"}) as reply:
        if b'"stream":true' not in body:
            return web.Response(body=await reply.read(), status=reply.status,
                                content_type=reply.content_type)
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        async for line in reply.content:
            if line.strip():
                await out.write(b"data: " + line.rstrip(b"\n") + b"\n\n")
        await out.write(b"data: [DONE]\n\n")
        return out


async def serve(upstream: str, port: int = 0) -> None:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app[FIXED_PATH] = urlsplit(upstream).path.strip("/") != ""
    app.router.add_post("/{tail:.*}", forward)
    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[SESSION] = session
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"READY {runner.addresses[0][1]}", flush=True)  # the bound port when 0 was asked
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def main() -> None:
    if len(sys.argv) not in (2, 3) or not sys.argv[1].startswith("http://127.0.0.1:"):
        sys.exit("usage: _floor.py http://127.0.0.1:PORT[/PATH] [PORT]  (loopback only)")
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 0))


if __name__ == "__main__":
    main()

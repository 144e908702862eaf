#!/usr/bin/env python3
"""The gateway's floor: a minimal ``aiohttp.web`` handler that forwards each request's body
to the upstream with a plain ``aiohttp`` client and answers with the upstream's reply.

No routing, no checks, no logs, no metrics: what any Python gateway on aiohttp must spend
at least, so a gateway's figures (server CPU per request, RSS per request in flight) read
as a ratio to it. The client session opens at most 256 connections, like the SDK's
transport, so requests beyond that wait in the forwarder as they do in the gateway.

Run: ``python benchmarks/_forwarder.py UPSTREAM_ROOT [PORT]`` (the root is
``http://127.0.0.1:PORT``; port 0, the default, picks a free one); it prints ``READY <port>``
on stdout once listening on 127.0.0.1 and stops on SIGTERM/SIGINT.
(No ``argparse``: the benchmark scripts share one parser helper, and this is not one.)
"""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
from aiohttp import web

#: Connections to the upstream at most: the SDK transport's default.
CONNECTION_LIMIT = 256


async def serve(upstream: str, port: int = 0) -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTION_LIMIT))

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        async with session.post(upstream + request.path, data=body,
                                headers={"Content-Type": "application/json"}) as reply:
            payload = await reply.read()
            return web.Response(body=payload, status=reply.status,
                                content_type=reply.content_type)

    app = web.Application()
    app.router.add_post("/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]  # the bound one when 0 was asked
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await session.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1].rstrip("/"), int(sys.argv[2]) if len(sys.argv) > 2 else 0))

#!/usr/bin/env python3
"""The gateway's floor: the least an aiohttp.web forwarder can do (issue 18 goal 2).

One handler for every ``POST``: it forwards the request body, unread and unparsed, to the
upstream's ``/api/chat`` with a plain aiohttp client (one keep-alive session) and answers
with the upstream's body — for a stream, each upstream line as one server-sent event
(``data: <line>\\n\\n``), written as it arrives. No routing, no validation, no metrics, no
access log: what any Python gateway on aiohttp must at least spend per request.
``gateway_floor.py`` runs it beside ``sarvanom serve`` against the same upstream.

Run: ``python benchmarks/_floor.py UPSTREAM_URL`` (a loopback URL); it prints
``READY <port>`` on stdout once listening on 127.0.0.1, and stops on SIGTERM/SIGINT.
(No argparse here: the benchmarks' one parser lives in ``_common``, and this process stays
as small as ``_server.py``.)
"""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
from aiohttp import web

SESSION = web.AppKey("floor_session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("floor_upstream", str)


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    session = request.app[SESSION]
    async with session.post(request.app[UPSTREAM], data=body,
                            headers={"Content-Type": "application/json"}) as reply:
        if b'"stream":true' not in body:
            return web.Response(body=await reply.read(), status=reply.status,
                                content_type="application/json")
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        async for line in reply.content:
            if line.strip():
                await out.write(b"data: " + line.rstrip(b"\n") + b"\n\n")
        await out.write(b"data: [DONE]\n\n")
        return out


async def serve(upstream: str) -> None:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/") + "/api/chat"
    app.router.add_post("/{tail:.*}", forward)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        app[SESSION] = session
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"READY {port}", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].startswith("http://127.0.0.1:"):
        sys.exit("usage: _floor.py http://127.0.0.1:PORT  (the upstream, loopback only)")
    asyncio.run(serve(sys.argv[1]))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The gateway's own CPU per request, in one process, beside a bare aiohttp.web app (issue 18).

No sockets and no provider: each request is an aiohttp request object built in advance
(``aiohttp.test_utils.make_mocked_request``, its JSON body already received) handed to the
application's own ``_handle`` (routing, middlewares, the handler), and the SDK call is
replaced by a ready answer. What is left is the gateway's own work per chat completion —
the Host and token checks, reading and checking the body, the LLMRequest, the slot, the
answer's JSON and headers, metrics, the dashboard's recorder, the access-log bookkeeping —
beside the same path through a bare ``aiohttp.web`` app whose handler parses the body and
answers a fixed JSON object. Socket writes and the SDK's own work (measured by
``gateway_floor.py`` and the client benchmarks) are not in either figure, so the
difference is the gateway's code alone, free of most of the noise a busy machine adds.
Rounds interleave the two apps; each figure is the fastest round (CPU time,
``time.process_time``).

    python benchmarks/gateway_own.py [--quick] [--rounds 7] [--requests 3000]
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from _common import positive_int, run_script, script_parser

BODY = json.dumps(
    {"model": "sarvanom/auto",
     "messages": [{"role": "user", "content": "What is the capital of France?"}]}
).encode()
HEADERS = {"Host": "127.0.0.1:8000", "Content-Type": "application/json",
           "Content-Length": str(len(BODY))}


class _Transport:
    """Just what the handlers ask of a transport."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default)

    def is_closing(self) -> bool:
        return False


class _Protocol:
    """Just what aiohttp's request and body reader ask of a protocol."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.ssl_context = None
        self.peername = ("127.0.0.1", 50000)
        self.sockname = ("127.0.0.1", 8000)

    def pause_reading(self, **_: Any) -> None:
        pass

    def resume_reading(self, **_: Any) -> None:
        pass


def gateway_app() -> Any:
    """``create_app`` over a client whose ``complete`` answers at once."""
    from sarvanom_sdk import AsyncSarvanClient, Settings
    from sarvanom_sdk.gateway import create_app
    from sarvanom_sdk.types import LLMResponse, ProviderName

    client = AsyncSarvanClient(Settings(providers=("ollama_local",), cache_ttl_seconds=0))

    async def complete(request: Any) -> LLMResponse:
        return LLMResponse(success=True, content="Paris.", provider=ProviderName.OLLAMA_LOCAL,
                           model="llama3", latency_ms=1.0, trace_id=request.trace_id)

    client.complete = complete  # type: ignore[method-assign]
    return create_app(client)


def bare_app() -> Any:
    """A bare aiohttp.web app: parse the body, answer a fixed JSON object."""
    from aiohttp import web

    async def chat(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"choices": [{"message": {"content": "Paris."}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def cpu_per_request(app: Any, requests: int) -> float:
    """µs of CPU per request for one round of ``requests`` through ``app``."""
    from aiohttp.streams import StreamReader
    from aiohttp.test_utils import make_mocked_request

    loop = asyncio.get_running_loop()
    protocol = _Protocol()

    def one() -> Any:
        payload = StreamReader(protocol, 2**16, loop=loop)  # type: ignore[arg-type]
        payload.feed_data(BODY)
        payload.feed_eof()
        return make_mocked_request("POST", "/v1/chat/completions", headers=HEADERS,
                                   payload=payload, app=app, transport=protocol.transport,
                                   protocol=protocol)

    batch = [one() for _ in range(requests)]
    started = time.process_time()
    for request in batch:
        response = await app._handle(request)
        if response.status != 200:
            raise RuntimeError(f"status {response.status}: {response.text}")
    return (time.process_time() - started) / requests * 1e6


async def measure(rounds: int, requests: int) -> tuple[float, float]:
    apps = {"gateway": gateway_app(), "bare": bare_app()}
    for app in apps.values():
        app.freeze()
        await app.startup()
    figures: dict[str, list[float]] = {name: [] for name in apps}
    try:
        for app in apps.values():  # warm up
            await cpu_per_request(app, 200)
        for _ in range(rounds):
            for name, app in apps.items():
                figures[name].append(await cpu_per_request(app, requests))
    finally:
        for app in apps.values():
            await app.cleanup()
    return min(figures["gateway"]), min(figures["bare"])


def main() -> None:
    parser = script_parser(__doc__, quick=True)
    parser.add_argument("--rounds", type=positive_int, default=7,
                        help="interleaved rounds; the fastest is reported (default 7)")
    parser.add_argument("--requests", type=positive_int, default=3000,
                        help="requests per round (default 3000)")
    args = parser.parse_args()
    rounds, requests = (3, 500) if args.quick else (args.rounds, args.requests)

    def run() -> None:
        gateway, bare = asyncio.run(measure(rounds, requests))
        print(f"# gateway's own code vs a bare aiohttp.web app, in process: {rounds} rounds "
              f"of {requests} requests, fastest round; CPU per request, no sockets, no SDK")
        print(f"{'figure':<38}{'gateway':>10}{'bare':>10}{'added':>10}{'ratio':>8}")
        print(f"{'CPU/request, chat completion':<38}{gateway:>7.1f} µs{bare:>7.1f} µs"
              f"{gateway - bare:>7.1f} µs{gateway / bare:>7.2f}x")

    run_script(run)


if __name__ == "__main__":
    main()

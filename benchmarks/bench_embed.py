#!/usr/bin/env python3
"""What ``embed()`` costs over the raw HTTP libraries, in µs per call (issue 15 item 1).

Against the provider emulator in its own process (``sarvanom emulate``, loopback), its
Ollama ``POST /api/embed`` answering deterministic 768-dimensional vectors:

* ``embed overhead, async``: ``AsyncSarvanClient.embed(texts, cache=False)`` — validation,
  the embedding flow, cost gate, breaker, bulkhead, attempt timeout, the reply's checks
  (count, finiteness, lengths), trail — minus the same POST with a raw ``aiohttp`` session
  and ``json.loads`` of the reply. One text and a batch of 8.
* ``embed overhead, sync``: ``SarvanClient.embed`` minus raw ``requests``.
* ``embed cache hit``: every text cached (no request) vs the raw async POST.

Run: ``python benchmarks/bench_embed.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from _common import (
    Figure,
    emulator_server,
    interleaved_us,
    per_call_us,
    render,
    run_script,
    script_parser,
    settings,
)

from sarvanom_sdk import AsyncSarvanClient, SarvanClient

MODEL = "nomic-embed-text"
ONE = ["What is the capital of France?"]
BATCH = [f"sentence number {i} about the capital of France" for i in range(8)]


def _async_batch(loop: asyncio.AbstractEventLoop, make: Callable[[], Any], number: int
                 ) -> Callable[[], float]:
    async def batch() -> None:
        for _ in range(number):
            await make()

    return lambda: per_call_us(lambda: loop.run_until_complete(batch()), 1) / number


def _sync_batch(fn: Callable[[], Any], number: int) -> Callable[[], float]:
    return lambda: per_call_us(fn, number)


def run(quick: bool = False) -> list[Figure]:
    import aiohttp
    import requests

    number = 50 if quick else 200
    with emulator_server() as root:
        base = f"{root}/ollama"
        url = f"{base}/api/embed"
        configured = settings(ollama_base_url=base, providers=("ollama_local",))
        loop = asyncio.new_event_loop()
        aclient = AsyncSarvanClient(configured)
        sclient = SarvanClient(configured)
        session = requests.Session()
        holder: dict[str, Any] = {}

        async def raw_async(texts: list[str]) -> Any:
            if "session" not in holder:
                holder["session"] = aiohttp.ClientSession()
            body = json.dumps({"model": MODEL, "input": texts})
            async with holder["session"].post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as reply:
                return json.loads(await reply.read())["embeddings"]

        def raw_sync(texts: list[str]) -> Any:
            reply = session.post(url, data=json.dumps({"model": MODEL, "input": texts}),
                                 headers={"Content-Type": "application/json"}, timeout=30)
            return json.loads(reply.content)["embeddings"]

        try:
            got = loop.run_until_complete(aclient.embed(BATCH, cache=False))
            assert got.dimensions == 768 and len(got.vectors) == 8, got
            loop.run_until_complete(aclient.embed(BATCH))  # cached from now on
            us = interleaved_us({
                "raw1": _async_batch(loop, lambda: raw_async(ONE), number),
                "sdk1": _async_batch(loop, lambda: aclient.embed(ONE, cache=False), number),
                "raw8": _async_batch(loop, lambda: raw_async(BATCH), number),
                "sdk8": _async_batch(loop, lambda: aclient.embed(BATCH, cache=False), number),
                "hit8": _async_batch(loop, lambda: aclient.embed(BATCH), number),
                "sraw8": _sync_batch(lambda: raw_sync(BATCH), number),
                "ssdk8": _sync_batch(lambda: sclient.embed(BATCH, cache=False), number),
            }, repeat=3 if quick else 5)
        finally:
            loop.run_until_complete(aclient.close())
            if "session" in holder:
                loop.run_until_complete(holder["session"].close())
            loop.close()
            sclient.close()
            session.close()
    return [
        Figure("embed overhead, async, 1 text", us["sdk1"], us["raw1"], "µs", "delta", 300.0,
               note="raw aiohttp POST /api/embed + json.loads"),
        Figure("embed overhead, async, 8 texts", us["sdk8"], us["raw8"], "µs", "delta", 500.0,
               note="768 dims; includes checking 6144 numbers"),
        Figure("embed overhead, sync, 8 texts", us["ssdk8"], us["sraw8"], "µs", "delta", 500.0,
               note="raw requests POST + json.loads"),
        Figure("embed cache hit, async, 8 texts", us["hit8"], us["raw8"], "µs", "delta",
               note="no request at all; negative = faster than the raw call"),
    ]


def main() -> None:
    args = script_parser(__doc__, quick=True).parse_args()
    run_script(lambda: print(render(run(args.quick))))


if __name__ == "__main__":
    main()

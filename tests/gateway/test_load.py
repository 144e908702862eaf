"""1,000 concurrent requests through the gateway to the emulator, all answered."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from gateway_helpers import ollama_client

N = 1000


@pytest.mark.load
async def test_a_thousand_concurrent_requests_are_all_answered(open_gateway, emulator) -> None:
    gateway = await open_gateway(ollama_client(emulator, cache_ttl_seconds=0))
    url = str(gateway.make_url(""))
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(i: int) -> tuple[int, str, str, str]:
            path = "/api/query" if i % 2 else "/v1/chat/completions"
            body = (
                {"prompt": f"question {i}"}
                if i % 2
                else {
                    "model": "sarvanom/auto",
                    "messages": [{"role": "user", "content": f"question {i}"}],
                }
            )
            async with session.post(
                url + path, json=body, headers={"X-Request-ID": f"load-{i}"}
            ) as reply:
                data = await reply.json()
                text = data["content"] if i % 2 else data["choices"][0]["message"]["content"]
                return reply.status, reply.headers["X-Request-ID"], text, f"load-{i}"

        results = await asyncio.gather(*(one(i) for i in range(N)))
    elapsed = time.monotonic() - started
    assert [r[0] for r in results] == [200] * N
    assert all(r[1] == r[3] and r[2] for r in results)
    assert elapsed < 20, f"{N} requests took {elapsed:.1f}s"

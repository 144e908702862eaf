#!/usr/bin/env python3
"""What the SDK's stack costs per call, in µs, with no network in the way.

In-process fake transports (``send``/``open_stream``/``close`` returning canned
``HttpReply`` values, the contract of ``sarvanom_sdk.transports.base``) stand in for the
network, so what is left is the SDK itself:

* ``stack overhead``: ``client.complete(prompt, cache=False)`` (request validation, layers,
  cache lookup skipped, deadline, cost gate, breaker, retry bookkeeping, adapter build and
  parse, health, attempt trail, response) minus calling the fake transport directly with a
  prebuilt call. Sync and async. The adapter's share (build + parse) is shown apart.
* ``cache hit``: ``complete()`` answered from the response cache, vs the direct call.
* ``open-breaker skip``: the chain ``ollama_local`` (breaker open) -> ``remote_gpu``, minus
  the chain ``remote_gpu`` alone: what skipping an open provider costs.

Then, with the real transports against the loopback server (``_server.py``, its own
process), ``failover``: the chain ``ollama_local`` (its port refuses connections) ->
``remote_gpu``, minus ``remote_gpu`` alone, with ``max_retries=0`` and a breaker that
never opens, so every call pays one refused connection; the raw libraries' own cost of a
refused connect is shown beside it.

Run: ``python benchmarks/bench_overhead.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from _common import (
    Figure,
    interleaved_us,
    loopback_server,
    main_for,
    per_call_us,
    refused_url,
    settings,
)

from sarvanom_sdk import AsyncSarvanClient, LLMRequest, ProviderName, SarvanClient
from sarvanom_sdk.errors import ProviderConnectionError
from sarvanom_sdk.http import HttpCall, HttpReply
from sarvanom_sdk.providers import adapter_for

OLLAMA = "http://127.0.0.1:1/ollama"  # never contacted: the fake transport answers
GPU = "http://127.0.0.1:2/gpu"
JSON_HEADERS = {"content-type": "application/json"}
REPLIES = {
    f"{OLLAMA}/api/chat": HttpReply(200, JSON_HEADERS, b'{"model":"m","message":{"role":'
                                    b'"assistant","content":"Paris."},"done":true,'
                                    b'"prompt_eval_count":9,"eval_count":2}'),
    f"{GPU}/generate": HttpReply(200, JSON_HEADERS, b'{"content":"Paris."}'),
}
PROMPT = "What is the capital of France?"


class FakeTransport:
    """A sync transport answering each URL with its canned reply (no I/O); URLs under
    ``refusing`` raise a connection error instead."""

    def __init__(self, refusing: str = "") -> None:
        self.refusing = refusing

    def send(self, call: HttpCall, timeout: float) -> HttpReply:
        if self.refusing and call.url.startswith(self.refusing):
            raise ProviderConnectionError("connection refused")
        return REPLIES[call.url]

    def open_stream(self, call: HttpCall, timeout: float) -> HttpReply:
        return self.send(call, timeout)

    def close(self) -> None:
        pass


class AsyncFakeTransport:
    """The async twin of :class:`FakeTransport` (answers only)."""

    async def send(self, call: HttpCall, timeout: float) -> HttpReply:
        return REPLIES[call.url]

    async def open_stream(self, call: HttpCall, timeout: float) -> HttpReply:
        return REPLIES[call.url]

    async def close(self) -> None:
        pass


def async_batch(loop: asyncio.AbstractEventLoop, make: Callable[[], Any], number: int
                ) -> Callable[[], float]:
    """A batch for :func:`interleaved_us`: ``number`` x ``await make()`` on ``loop``."""

    async def batch() -> None:
        for _ in range(number):
            await make()

    return lambda: per_call_us(lambda: loop.run_until_complete(batch()), 1) / number


def sync_batch(fn: Callable[[], Any], number: int) -> Callable[[], float]:
    """A batch for :func:`interleaved_us`: ``number`` x ``fn()``."""
    return lambda: per_call_us(fn, number)


def _with_open_breaker(both: Any) -> SarvanClient:
    """A client whose first provider (ollama_local) has failed until its breaker opened;
    the transport answers it again afterwards, so only the breaker keeps it out."""
    transport = FakeTransport(refusing=OLLAMA)
    client = SarvanClient(both.replace(max_retries=0), transport=transport)
    for _ in range(both.circuit_fail_max):
        client.complete(PROMPT, cache=False)
    transport.refusing = ""
    first = client.complete(PROMPT, cache=False).attempts[0]
    assert (first.provider, first.outcome.value) == (ProviderName.OLLAMA_LOCAL, "skipped"), first
    return client


def stack_figures(number: int) -> list[Figure]:
    one = settings(ollama_base_url=OLLAMA)
    both = settings(ollama_base_url=OLLAMA, gpu_remote_url=GPU)
    gpu_only = settings(ollama_base_url=OLLAMA, gpu_remote_url=GPU,
                        providers=("remote_gpu",))
    transport, async_transport = FakeTransport(), AsyncFakeTransport()
    adapter = adapter_for(ProviderName.OLLAMA_LOCAL, one)
    request = LLMRequest(prompt=PROMPT)
    call = adapter.build(request)
    sync = SarvanClient(one, transport=transport)
    cached = SarvanClient(one, transport=transport)
    cached.complete(PROMPT)
    async_client = AsyncSarvanClient(one, transport=async_transport)
    skipping = _with_open_breaker(both)
    straight = SarvanClient(gpu_only.replace(max_retries=0), transport=transport)
    failing = SarvanClient(both.replace(max_retries=0, circuit_fail_max=10**9),
                           transport=FakeTransport(refusing=OLLAMA))
    loop = asyncio.new_event_loop()
    try:
        us = interleaved_us({
            "direct": sync_batch(lambda: transport.send(call, 15.0), number),
            "adapter": sync_batch(
                lambda: adapter.parse(transport.send(adapter.build(request), 15.0)), number),
            "sdk": sync_batch(lambda: sync.complete(PROMPT, cache=False), number),
            "hit": sync_batch(lambda: cached.complete(PROMPT), number),
            "adirect": async_batch(loop, lambda: async_transport.send(call, 15.0), number),
            "asdk": async_batch(loop, lambda: async_client.complete(PROMPT, cache=False),
                                number),
            "skip": sync_batch(lambda: skipping.complete(PROMPT, cache=False), number),
            "base": sync_batch(lambda: straight.complete(PROMPT, cache=False), number),
            "failover": sync_batch(lambda: failing.complete(PROMPT, cache=False), number),
        })
    finally:
        loop.close()
    return [
        Figure("stack overhead, sync (cache miss)", us["sdk"], us["direct"], "µs", "delta",
               20.0),
        Figure("stack overhead, async (cache miss)", us["asdk"], us["adirect"], "µs", "delta",
               20.0),
        Figure("  of which adapter build+parse", us["adapter"], us["direct"], "µs", "delta",
               note="ollama adapter; part of the overhead above"),
        Figure("cache hit, sync", us["hit"], us["direct"], "µs", "delta", 20.0),
        Figure("open-breaker skip", us["skip"], us["base"], "µs", "delta", 10.0,
               note="chain with the open provider first minus chain without it"),
        Figure("failover bookkeeping, sync", us["failover"], us["base"], "µs", "delta",
               note="first provider's transport raises 'connection refused' (no socket)"),
    ]


def failover_figures(number: int) -> list[Figure]:
    """One refused connection then the next provider, vs the next provider directly."""
    import aiohttp
    import requests

    with loopback_server() as root, refused_url() as dead:
        common = {"max_retries": 0, "circuit_fail_max": 10**9, "gpu_remote_url": root}
        failing = settings(ollama_base_url=dead, **common)
        direct = settings(ollama_base_url=dead, providers=("remote_gpu",), **common)
        sync_fail, sync_direct = SarvanClient(failing), SarvanClient(direct)
        async_fail, async_direct = AsyncSarvanClient(failing), AsyncSarvanClient(direct)
        first = sync_fail.complete(PROMPT, cache=False).attempts[0]
        assert (first.provider, first.outcome.value) == (ProviderName.OLLAMA_LOCAL, "failed")
        session = requests.Session()
        loop = asyncio.new_event_loop()
        raw_async = _RawRefusedAsync(aiohttp, dead)
        try:
            us = interleaved_us({
                "fail": sync_batch(lambda: sync_fail.complete(PROMPT, cache=False), number),
                "direct": sync_batch(lambda: sync_direct.complete(PROMPT, cache=False), number),
                "raw": sync_batch(lambda: _raw_refused(requests, session, dead), number),
                "afail": async_batch(loop, lambda: async_fail.complete(PROMPT, cache=False),
                                     number),
                "adirect": async_batch(loop, lambda: async_direct.complete(PROMPT, cache=False),
                                       number),
                "araw": async_batch(loop, raw_async.attempt, number),
            }, repeat=5)
        finally:
            for close in (async_fail.close, async_direct.close, raw_async.close):
                loop.run_until_complete(close())
            loop.close()
    return [
        Figure("failover on refused connect, sync", us["fail"], us["direct"], "µs", "delta",
               note=f"raw requests refused connect: {us['raw']:.0f} µs"),
        Figure("failover on refused connect, async", us["afail"], us["adirect"], "µs", "delta",
               note=f"raw aiohttp refused connect: {us['araw']:.0f} µs"),
    ]


def _raw_refused(requests: Any, session: Any, dead: str) -> None:
    with contextlib.suppress(requests.ConnectionError):
        session.post(dead + "/api/chat", data=b"{}", timeout=5)


class _RawRefusedAsync:
    """A refused ``aiohttp`` request (its session is made on first use, in the loop)."""

    def __init__(self, aiohttp: Any, dead: str) -> None:
        self.aiohttp = aiohttp
        self.url = dead + "/api/chat"
        self.session: Any = None

    async def attempt(self) -> None:
        if self.session is None:
            self.session = self.aiohttp.ClientSession()
        try:
            async with self.session.post(self.url, data=b"{}") as reply:
                await reply.read()
        except self.aiohttp.ClientConnectionError:
            pass

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def run(quick: bool = False) -> list[Figure]:
    return stack_figures(1_000 if quick else 5_000) + failover_figures(100 if quick else 300)


if __name__ == "__main__":
    main_for(run)

#!/usr/bin/env python3
"""What the SDK adds to a real model call: SDK clients vs raw HTTP, same server, same run.

It starts llama.cpp's ``llama-server`` (SmolLM2-135M, on 127.0.0.1; built once into
``~/.cache/sarvanom/llama`` by ``tests/real_model/llama_server.py``) and, for each wire
protocol the server speaks (OpenAI ``/v1/chat/completions``, Anthropic ``/v1/messages``),
measures:

* ``complete``: the latency of one whole answer —
  ``AsyncSarvanClient.complete`` vs ``aiohttp`` posting the same body, and
  ``SarvanClient.complete`` vs ``requests.Session.post``;
* ``stream TTFC``: the time to the first chunk of text of a streamed answer —
  ``client.stream()`` vs the same raw client reading the SSE stream line by line until
  the first event that carries text (both then read the stream to its end).

The raw side posts exactly the bytes the SDK sends: the URL, headers and JSON body come
from the SDK adapter's own ``build()`` for the request, and the raw client decodes the
JSON (or each SSE event) as any caller would. Every request is the same prompt with
``max_tokens=16`` and ``temperature=0`` (greedy: the same answer every time); the SDK
gets ``cache=False`` so each call reaches the model, and is configured with a
:class:`Settings` built here (nothing read from the environment or a ``.env`` file).
Each iteration runs one SDK call and one raw call, alternating which goes first, so drift
in the server's speed hits both sides alike. Warm-up calls (both sides) are not counted.

Connections: whole requests reuse a pooled keep-alive connection on both sides.
llama-server closes the connection after every streamed reply, so the raw side streams
over a new connection each time (what the server forces anyway); the SDK keeps its own
transport as it is.

Columns: p50, p95 and mean in milliseconds for each side; ``added p50`` is SDK p50 minus
raw p50; ``paired Δ p50`` the median of the per-iteration differences (SDK minus raw, the
steadiest estimate of the SDK's cost); ``ratio`` is SDK p50 / raw p50; ``sdk retried``
counts failed attempts in the measured SDK calls' trails (a retry is part of the SDK's
time, so a row with retries measures them too). Model time dominates both sides, so
expect the added time to be small and noisy next to it, more so on a busy machine (the
load average is printed with the table).

Run (about a minute with the defaults, once the server is built)::

    python benchmarks/real_model_overhead.py [--requests 30] [--warmup 3]

Only loopback is contacted; proxy variables are ignored for this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests" / "real_model"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import aiohttp  # noqa: E402
import llama_server  # noqa: E402  (stdlib-only helper of the real-model tests)
import requests  # noqa: E402
from _common import run_script, script_parser  # noqa: E402

from sarvanom_sdk import (  # noqa: E402
    AsyncSarvanClient,
    LLMRequest,
    ProviderName,
    SarvanClient,
    Settings,
)
from sarvanom_sdk.http import HttpCall  # noqa: E402

PROMPT = "Say hello in one short sentence."
REQUEST: dict[str, Any] = {"prompt": PROMPT, "max_tokens": 16, "temperature": 0}
TIMEOUT_S = 60.0
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
              "ALL_PROXY")


@dataclass(frozen=True)
class Sample:
    """One timed call: its duration, and for the SDK the failed attempts in its trail."""

    seconds: float
    failed_attempts: int = 0


#: A timed call (it times only the call itself, not the checks around it).
Timed = Callable[[], Sample]


# -- the protocols ------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """One wire protocol of the server, as the SDK is configured to reach it."""

    name: str
    provider: ProviderName
    #: Client overrides (Settings field names) for a server at ``base``.
    settings: Callable[[str], dict[str, Any]]
    #: The answer's text in a whole JSON reply.
    text_of: Callable[[Any], str]
    #: Whether one SSE ``data:`` payload carries a piece of the answer's text.
    has_text: Callable[[str], bool]


def _openai_text(body: Any) -> str:
    return str(body["choices"][0]["message"]["content"])


def _openai_event_has_text(data: str) -> bool:
    if data == "[DONE]":
        return False
    choices = json.loads(data).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


def _anthropic_text(body: Any) -> str:
    return "".join(block.get("text", "") for block in body["content"])


def _anthropic_event_has_text(data: str) -> bool:
    event = json.loads(data)
    return event.get("type") == "content_block_delta" and bool(event["delta"].get("text"))


PROTOCOLS = (
    Protocol(
        "openai", ProviderName.OPENAI,
        lambda base: {"openai_base_url": f"{base}/v1", "openai_api_key": "sk-bench-openai",
                      "enable_paid_api": True},
        _openai_text, _openai_event_has_text,
    ),
    Protocol(
        "anthropic", ProviderName.ANTHROPIC,
        lambda base: {"anthropic_base_url": base, "anthropic_api_key": "sk-bench-anthropic",
                      "enable_paid_api": True},
        _anthropic_text, _anthropic_event_has_text,
    ),
)


def client_settings(protocol: Protocol, base: str) -> Settings:
    """Only ``protocol``'s provider in the chain; defaults for everything else (the
    environment and ``.env`` are not read)."""
    return Settings(providers=(protocol.provider,), **protocol.settings(base))


def sdk_calls(client: SarvanClient | AsyncSarvanClient, provider: ProviderName
              ) -> tuple[HttpCall, HttpCall]:
    """The exact HTTP calls (plain, streamed) the client's adapter makes for REQUEST."""
    adapter = client.router.adapters[provider]
    request = LLMRequest(**REQUEST)
    return adapter.build(request), adapter.build(request, stream=True)


def sse_data(line: bytes) -> str | None:
    """The payload of an SSE ``data:`` line, else None."""
    text = line.decode().strip()
    return text[5:].strip() if text.startswith("data:") else None


# -- timed calls --------------------------------------------------------------------------


def sdk_sample(seconds: float, response: Any, protocol: Protocol) -> Sample:
    """The SDK's sample; only a real answer through ``protocol`` is a valid measurement.
    Failed attempts before it (a retry) are counted: they are part of the SDK's time."""
    if response is None or not response.success or response.provider is not protocol.provider:
        raise SystemExit(f"the SDK did not get a real answer via {protocol.name}: "
                         f"{getattr(response, 'attempts', None)}")
    return Sample(seconds, sum(a.outcome.value == "failed" for a in response.attempts))


class AsyncSide:
    """AsyncSarvanClient and raw aiohttp, run on one event loop.

    llama-server closes the connection after every streamed reply, so the raw side streams
    over a connector that never reuses a connection (what the server forces anyway) and
    posts whole requests over a pooled session; the SDK uses its own transport as is.
    """

    def __init__(self, protocol: Protocol, base: str, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol = protocol
        self.loop = loop
        self.client = AsyncSarvanClient(client_settings(protocol, base))
        self.call, self.stream_call = sdk_calls(self.client, protocol.provider)
        self.pooled, self.unpooled = loop.run_until_complete(self._sessions())

    @staticmethod
    async def _sessions() -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        return (
            aiohttp.ClientSession(timeout=timeout),
            aiohttp.ClientSession(timeout=timeout,
                                  connector=aiohttp.TCPConnector(force_close=True)),
        )

    def _sync(self, factory: Callable[[], Awaitable[Sample]]) -> Timed:
        """A Timed that runs the coroutine on the loop (the coroutine does its own timing)."""
        return lambda: self.loop.run_until_complete(factory())

    def sdk_complete(self) -> Timed:
        async def timed() -> Sample:
            started = time.perf_counter()
            response = await self.client.complete(**REQUEST, cache=False)
            return sdk_sample(time.perf_counter() - started, response, self.protocol)
        return self._sync(timed)

    def raw_complete(self) -> Timed:
        call, text_of = self.call, self.protocol.text_of

        async def timed() -> Sample:
            started = time.perf_counter()
            async with self.pooled.post(call.url, data=call.body_bytes(),
                                        headers=dict(call.headers)) as resp:
                body = json.loads(await resp.read())
                text = text_of(body) if resp.status == 200 else ""
            elapsed = time.perf_counter() - started
            assert text, f"raw {call.url}: {resp.status} {body}"
            return Sample(elapsed)
        return self._sync(timed)

    def sdk_ttfc(self) -> Timed:
        async def timed() -> Sample:
            started = time.perf_counter()
            first = None
            async with self.client.stream(**REQUEST, cache=False) as stream:
                async for chunk in stream:
                    if first is None and chunk.text:
                        first = time.perf_counter() - started
            assert first is not None, "no text streamed"
            return sdk_sample(first, stream.response, self.protocol)
        return self._sync(timed)

    def raw_ttfc(self) -> Timed:
        call, has_text = self.stream_call, self.protocol.has_text

        async def timed() -> Sample:
            started = time.perf_counter()
            first = None
            async with self.unpooled.post(call.url, data=call.body_bytes(),
                                          headers=dict(call.headers)) as resp:
                assert resp.status == 200, await resp.text()
                async for line in resp.content:
                    data = sse_data(line)
                    if first is None and data is not None and has_text(data):
                        first = time.perf_counter() - started
            assert first is not None, "no text streamed"
            return Sample(first)
        return self._sync(timed)

    def close(self) -> None:
        for closing in (self.client.close(), self.pooled.close(), self.unpooled.close()):
            self.loop.run_until_complete(closing)


class SyncSide:
    """SarvanClient and raw requests: a pooled Session for whole requests, a new Session
    (made before the clock starts) for each stream, since the server closes the connection
    after every streamed reply."""

    def __init__(self, protocol: Protocol, base: str) -> None:
        self.protocol = protocol
        self.client = SarvanClient(client_settings(protocol, base))
        self.call, self.stream_call = sdk_calls(self.client, protocol.provider)
        self.pooled = requests.Session()

    def sdk_complete(self) -> Timed:
        def timed() -> Sample:
            started = time.perf_counter()
            response = self.client.complete(**REQUEST, cache=False)
            return sdk_sample(time.perf_counter() - started, response, self.protocol)
        return timed

    def raw_complete(self) -> Timed:
        call, text_of = self.call, self.protocol.text_of

        def timed() -> Sample:
            started = time.perf_counter()
            resp = self.pooled.post(call.url, data=call.body_bytes(),
                                    headers=dict(call.headers), timeout=TIMEOUT_S)
            body = json.loads(resp.content)
            text = text_of(body) if resp.status_code == 200 else ""
            elapsed = time.perf_counter() - started
            assert text, f"raw {call.url}: {resp.status_code} {body}"
            return Sample(elapsed)
        return timed

    def sdk_ttfc(self) -> Timed:
        def timed() -> Sample:
            started = time.perf_counter()
            first = None
            with self.client.stream(**REQUEST, cache=False) as stream:
                for chunk in stream:
                    if first is None and chunk.text:
                        first = time.perf_counter() - started
            assert first is not None, "no text streamed"
            return sdk_sample(first, stream.response, self.protocol)
        return timed

    def raw_ttfc(self) -> Timed:
        call, has_text = self.stream_call, self.protocol.has_text

        def timed() -> Sample:
            with requests.Session() as session:
                started = time.perf_counter()
                first = None
                with session.post(call.url, data=call.body_bytes(), headers=dict(call.headers),
                                  timeout=TIMEOUT_S, stream=True) as resp:
                    assert resp.status_code == 200, resp.text
                    # chunk_size=None: each line as soon as its HTTP chunk arrives.
                    for line in resp.iter_lines(chunk_size=None):
                        data = sse_data(line)
                        if first is None and data is not None and has_text(data):
                            first = time.perf_counter() - started
            assert first is not None, "no text streamed"
            return Sample(first)
        return timed

    def close(self) -> None:
        self.client.close()
        self.pooled.close()


# -- measuring and reporting --------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    protocol: str
    client: str
    measure: str
    raw: list[float]
    sdk: list[float]
    #: Failed attempts (retried) in the trails of the measured SDK calls.
    sdk_failed_attempts: int


def measure(sdk: Timed, raw: Timed, requests_n: int, warmup: int
            ) -> tuple[list[Sample], list[Sample]]:
    """Paired samples: SDK and raw alternate which goes first each iteration; the first
    ``warmup`` pairs are dropped."""
    sdk_samples: list[Sample] = []
    raw_samples: list[Sample] = []
    for i in range(warmup + requests_n):
        if i % 2 == 0:
            s, r = sdk(), raw()
        else:
            r, s = raw(), sdk()
        if i >= warmup:
            sdk_samples.append(s)
            raw_samples.append(r)
    return sdk_samples, raw_samples


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def ms(value: float) -> str:
    return f"{value * 1000:.2f}"


def table(rows: Iterable[Row]) -> str:
    header = ["protocol", "client", "measure", "raw p50 ms", "sdk p50 ms", "added p50 ms",
              "paired Δ p50 ms", "ratio", "raw p95 ms", "sdk p95 ms", "raw mean ms",
              "sdk mean ms", "sdk retried"]
    lines = [header]
    for row in rows:
        raw50, sdk50 = statistics.median(row.raw), statistics.median(row.sdk)
        paired = statistics.median(s - r for s, r in zip(row.sdk, row.raw, strict=True))
        lines.append([
            row.protocol, row.client, row.measure, ms(raw50), ms(sdk50), ms(sdk50 - raw50),
            ms(paired), f"{sdk50 / raw50:.3f}", ms(p95(row.raw)), ms(p95(row.sdk)),
            ms(statistics.fmean(row.raw)), ms(statistics.fmean(row.sdk)),
            f"{row.sdk_failed_attempts}/{len(row.sdk)}",
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) if i < 3 else c.rjust(w)
                          for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])])


def run(base: str, requests_n: int, warmup: int) -> list[Row]:
    """Every row, protocol by protocol: async then sync, complete then stream TTFC."""
    rows: list[Row] = []
    loop = asyncio.new_event_loop()
    try:
        for protocol in PROTOCOLS:
            async_side = AsyncSide(protocol, base, loop)
            sync_side = SyncSide(protocol, base)
            sides: list[tuple[str, AsyncSide | SyncSide]] = [
                ("async (aiohttp)", async_side), ("sync (requests)", sync_side)]
            try:
                for client, side in sides:
                    for label, sdk, raw in (
                        ("complete", side.sdk_complete(), side.raw_complete()),
                        ("stream TTFC", side.sdk_ttfc(), side.raw_ttfc()),
                    ):
                        started = time.monotonic()
                        sdk_samples, raw_samples = measure(sdk, raw, requests_n, warmup)
                        print(f"  {protocol.name:9} {client:15} {label:11} "
                              f"{time.monotonic() - started:5.1f}s", file=sys.stderr)
                        rows.append(Row(
                            protocol.name, client, label,
                            raw=[x.seconds for x in raw_samples],
                            sdk=[x.seconds for x in sdk_samples],
                            sdk_failed_attempts=sum(x.failed_attempts for x in sdk_samples),
                        ))
            finally:
                async_side.close()
                sync_side.close()
    finally:
        loop.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__)
    parser.add_argument("--requests", type=int, default=30,
                        help="measured pairs (SDK + raw) per row (default 30)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="uncounted pairs before each row (default 3)")
    args = parser.parse_args(argv)
    if args.requests < 2 or args.warmup < 0:
        parser.error("--requests must be at least 2 and --warmup at least 0")
    for name in PROXY_VARS:
        os.environ.pop(name, None)

    print("llama-server: ensuring it is built (first time: about 7 minutes)...",
          file=sys.stderr)
    llama_server.ensure_built()
    started = time.monotonic()
    with llama_server.LlamaServer() as server:
        print(f"llama-server ready at {server.base_url} "
              f"({server.ready_seconds or 0:.1f}s); measuring...", file=sys.stderr)
        rows = run(server.base_url, args.requests, args.warmup)
    info = llama_server.build_info() or {}
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nSDK vs raw HTTP, {args.requests} pairs per row after {args.warmup} warm-up "
          f"pairs; model {llama_server.MODEL_ALIAS} "
          f"({info.get('binary_version', 'llama-server')});\nprompt {PROMPT!r}, "
          f"max_tokens=16, temperature 0; Python {platform.python_version()}, aiohttp "
          f"{aiohttp.__version__}, requests {requests.__version__}; {os.cpu_count()} CPUs, "
          f"load average {load}; {time.monotonic() - started:.0f}s total\n")
    print(table(rows), flush=True)
    return 0


if __name__ == "__main__":
    run_script(lambda: sys.exit(main()))

"""The gateway's added latency per request, against calling the SDK directly.

Both paths reach the same backend (the provider emulator's Ollama, on loopback) in the same
run, one request at a time, interleaved so drift hits both alike. The response cache is off,
so every call reaches the emulator. The gateway is ``sarvanom serve`` in its own process on
127.0.0.1 (stopped with SIGTERM at the end); the caller uses one keep-alive aiohttp session,
so the gateway's figure includes the HTTP round trip over loopback and the caller's HTTP
work. Metrics are on (when prometheus-client is installed); the access log is off.

    python benchmarks/gateway_overhead.py [--requests 2000] [--warmup 200]

Target: under 1 ms added at p50.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import aiohttp
from _common import ServerURL, child_env, positive_int, run_script, script_parser

from sarvanom_sdk import AsyncSarvanClient, LLMRequest, Settings
from sarvanom_sdk.testing import ProviderEmulator

PROMPT = "What is the capital of France?"
Call = Callable[[], Awaitable[object]]


@contextmanager
def gateway_process(ollama_url: str, **environ: str) -> Iterator[ServerURL]:
    """``sarvanom serve`` on a free loopback port, its chain the Ollama at ``ollama_url``
    (the emulator's, or ``_server.py``), ``environ`` added to its environment; yields its
    base URL, which knows its process. One process on asyncio (``SARVANOM_GATEWAY_WORKERS=1``,
    ``SARVANOM_GATEWAY_LOOP=asyncio``) unless ``environ`` says otherwise: its pid is the one
    serving, so the CPU read from it is the gateway's, on the same loop as the floor's."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **child_env(),
        "OLLAMA_BASE_URL": ollama_url,
        "SARVANOM_PROVIDERS": "ollama_local",
        "SARVANOM_CACHE_TTL_SECONDS": "0",
        "SARVANOM_GATEWAY_WORKERS": "1",
        "SARVANOM_GATEWAY_LOOP": "asyncio",
        **environ,
    }
    env.pop("SARVANOM_GATEWAY_TOKEN", None)
    command = [
        sys.executable,
        "-c",
        "from sarvanom_cli.serve import serve; serve()",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    url = ServerURL(f"http://127.0.0.1:{port}")
    url.pid = process.pid
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the gateway did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(calls: dict[str, Call], requests: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds per call for each named call, interleaved round by round."""
    for _ in range(warmup):
        for call in calls.values():
            await call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(requests):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def direct_calls(client: AsyncSarvanClient) -> dict[str, Call]:
    async def complete() -> object:
        return await client.complete(LLMRequest(prompt=PROMPT, cache=False))

    async def stream() -> object:
        async with client.stream(LLMRequest(prompt=PROMPT, cache=False)) as s:
            return [chunk async for chunk in s]

    return {"sdk complete()": complete, "sdk stream()": stream}


def gateway_calls(session: aiohttp.ClientSession, url: str) -> dict[str, Call]:
    chat = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": PROMPT}]}

    async def post(path: str, body: dict[str, object]) -> object:
        async with session.post(url + path, json=body) as reply:
            assert reply.status == 200, reply.status
            return await reply.read()

    return {
        "POST /api/query": lambda: post("/api/query", {"prompt": PROMPT, "cache": False}),
        "POST /v1/chat/completions": lambda: post("/v1/chat/completions", chat),
        "POST /v1/chat/completions stream": lambda: post(
            "/v1/chat/completions", {**chat, "stream": True}
        ),
    }


#: Each gateway path and the direct call it is compared with.
BASELINE = {
    "POST /api/query": "sdk complete()",
    "POST /v1/chat/completions": "sdk complete()",
    "POST /v1/chat/completions stream": "sdk stream()",
}


def report(times: dict[str, list[float]]) -> None:
    print(f"{'path':<34}{'p50 ms':>9}{'p95 ms':>9}{'added p50':>11}{'added p95':>11}")
    for name, values in times.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        base = BASELINE.get(name)
        if base is None:
            print(f"{name:<34}{p50:>9.3f}{p95:>9.3f}{'':>11}{'':>11}")
            continue
        added50 = p50 - percentile(times[base], 0.5)
        added95 = p95 - percentile(times[base], 0.95)
        print(f"{name:<34}{p50:>9.3f}{p95:>9.3f}{added50:>11.3f}{added95:>11.3f}")
    print(
        f"(n={len(next(iter(times.values())))} each; mean of all: "
        f"{statistics.fmean(v for vs in times.values() for v in vs):.3f} ms)"
    )


async def main(requests: int, warmup: int) -> None:
    with ProviderEmulator() as emu:
        settings = Settings(ollama_base_url=emu.url_for("ollama"), cache_ttl_seconds=0)
        direct = AsyncSarvanClient(settings)
        with gateway_process(emu.url_for("ollama")) as url:
            async with aiohttp.ClientSession() as session:
                calls = {**direct_calls(direct), **gateway_calls(session, url)}
                times = await measure(calls, requests, warmup)
        await direct.close()
    report(times)


if __name__ == "__main__":
    parser = script_parser(__doc__)
    parser.add_argument("--requests", type=positive_int, default=2000,
                        help="measured requests per path (default 2000)")
    parser.add_argument("--warmup", type=positive_int, default=200,
                        help="unmeasured requests per path first (default 200)")
    options = parser.parse_args()
    run_script(lambda: asyncio.run(main(options.requests, options.warmup)))

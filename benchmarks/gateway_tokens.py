"""What per-token limits cost the gateway (issue 16 item 5): one model call after another
through the gateway in this process (aiohttp's test server on 127.0.0.1, the stub
answering, cache off), with the single ``SARVANOM_GATEWAY_TOKEN`` (baseline), with
``SARVANOM_GATEWAY_TOKENS`` limits held per process, and with them shared through a
private ``redis-server`` (an awaited Lua call before each model call, a deferred one after
it; the SDK's own state stays local on every side, so only the limits differ). Blocks of each
side interleave so drift on a busy machine hits all alike; the figure is the median over blocks.

    python benchmarks/gateway_tokens.py [--requests 200] [--rounds 8]
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests" / "redis"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _common import run_script, script_parser  # noqa: E402
from redis_server import RedisServer, RedisServerError  # noqa: E402  (tests/redis helper)

TOKEN = "bench-token-0123456789abcdef"
LIMITS = f"bench:{TOKEN}:rpm=100000000,tpm=1000000000,usd=1000"


async def blocks(redis_url: str, requests: int, rounds: int) -> dict[str, list[float]]:
    from aiohttp.test_utils import TestClient, TestServer

    from sarvanom_sdk import AsyncSarvanClient, Settings
    from sarvanom_sdk.gateway import create_app
    from sarvanom_sdk.gateway.tokens import TokenGuard
    from sarvanom_sdk.shared_state.limiter import open_rate_limiter

    def app(side: str):  # type: ignore[no-untyped-def]
        client = AsyncSarvanClient(Settings(cache_ttl_seconds=0))  # the SDK's state: local
        if side == "single token":
            return create_app(client, token=TOKEN)
        limiter = open_rate_limiter(Settings(redis_url=redis_url if side == "redis" else None))
        return create_app(client, tokens=TokenGuard.from_value(LIMITS, limiter))

    sides = ("single token", "tokens, per process", "tokens, redis")
    rates: dict[str, list[float]] = {side: [] for side in sides}
    clients = {}
    for side in sides:
        clients[side] = TestClient(TestServer(app(side.split(", ")[-1]), host="127.0.0.1"))
        await clients[side].start_server()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        for n in range(rounds + 1):
            for side in sides:
                client = clients[side]
                started = time.perf_counter()
                for i in range(requests):
                    reply = await client.post("/api/query", headers=headers,
                                              json={"prompt": f"q{n}-{i}", "max_tokens": 8})
                    assert reply.status == 200, reply.status
                    await reply.read()
                if n:  # the first round warms up
                    rates[side].append(requests / (time.perf_counter() - started))
    finally:
        for client in clients.values():
            await client.close()
    return rates


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--requests", type=int, default=200, help="requests per block")
    parser.add_argument("--rounds", type=int, default=8, help="blocks per side")
    args = parser.parse_args()
    server = RedisServer()
    try:
        server.start()
    except RedisServerError as exc:
        sys.exit(f"{exc} (apt-get install redis-server)")
    try:
        rates = asyncio.run(blocks(server.url, args.requests, args.rounds))
    finally:
        server.stop()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.requests} requests per side")
    base = statistics.median(rates["single token"])
    print(f"{'gateway':<22} {'req/s':>7} {'ratio':>6} {'+µs/req':>8}")
    for side, values in rates.items():
        rate = statistics.median(values)
        print(f"{side:<22} {rate:7.0f} {rate / base:6.2f} {(1 / rate - 1 / base) * 1e6:8.0f}")


if __name__ == "__main__":
    run_script(main)

#!/usr/bin/env python3
"""Peak memory with 10,000 requests in flight on ``AsyncSarvanClient`` vs raw aiohttp.

``_server.py`` delays every answer (0.2 s), so all requests are started before the first
one ends. Each side runs in a fresh child interpreter: warm up, then start 10,000
``complete()`` calls at once (``asyncio.gather``) and wait for them all. The figure is the
peak of Python allocations during the burst over the allocations before it
(``tracemalloc``); the note adds the resident-set growth (``ru_maxrss`` over the RSS before
the burst), which also counts C buffers.

Both sides open at most 256 connections (the SDK transport's default, mirrored by the raw
session), so most requests wait for a connection: "in flight" is in the client. The SDK's
bulkhead for ``ollama_local`` (2 by default, with a 0.25 s queue bound) is raised to
10,000 so requests reach the transport instead of spilling over to the stub, and every
timeout is raised (see ``LIMIT``) so none of the queued requests fails.

Run: ``python benchmarks/bench_memory.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tracemalloc
from typing import Any

from _common import (
    Figure,
    child_env,
    loopback_server,
    render,
    run_script,
    script_parser,
    settings,
)

IN_FLIGHT = 10_000
DELAY = 0.2
#: Seconds: every timeout of both sides. The connect timeout must be raised too: aiohttp's
#: ``ClientTimeout(connect=...)``, which the SDK transport sets to
#: ``SARVANOM_CONNECT_TIMEOUT_SECONDS`` (5 s), also bounds the wait for a free pooled
#: connection, and requests at the back of this queue wait longer than that.
LIMIT = 120.0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


async def burst(side: str, root: str, count: int) -> dict[str, Any]:
    """Run in the child: ``count`` requests at once; memory figures as a dict."""
    from _pairs import OPTIONS, ollama_call
    from sarvanom_cli.bench import calls

    config = settings(ollama_base_url=root, max_concurrency=f"ollama_local={count}",
                      attempt_timeout=LIMIT, total_timeout=LIMIT, connect_timeout=LIMIT)
    if side == "sdk":
        from sarvanom_sdk import AsyncSarvanClient

        client: Any = AsyncSarvanClient(config)
        one = calls.sdk_async(client, "ollama_local", OPTIONS, False)
        close = client.close
    else:
        session = calls.raw_async_session()
        one = calls.raw_async(session, ollama_call(config), LIMIT, False)
        close = session.close
    await asyncio.gather(*(one() for _ in range(300)))  # warm: pool, caches, code paths
    gc.collect()
    rss_before = _rss_bytes()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    outcomes = await asyncio.gather(*(one() for _ in range(count)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    await close()
    failed = [o.reason for o in outcomes if not o.ok]
    return {"peak": peak - before, "rss": max(0, rss_peak - rss_before),
            "failed": len(failed), "reason": failed[0] if failed else ""}


def measure(side: str, root: str, count: int) -> dict[str, Any]:
    """One side in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--child", side, root, str(count)],
                         env=child_env(), capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if result["failed"]:
        raise RuntimeError(f"{side}: {result['failed']} requests failed: {result['reason']}")
    return result


def run(quick: bool = False) -> list[Figure]:
    count = 2_000 if quick else IN_FLIGHT
    mib = 1024 * 1024
    with loopback_server(delay=DELAY) as root:
        raw = measure("raw", root, count)
        sdk = measure("sdk", root, count)
    per_request = (sdk["peak"] - raw["peak"]) / count / 1024
    return [Figure(
        f"peak memory, {count:,} in flight (async)", sdk["peak"] / mib, raw["peak"] / mib,
        "MiB", "ratio",
        note=f"+{per_request:.2f} KiB per request over raw aiohttp; RSS growth "
             f"{sdk['rss'] / mib:.1f} vs {raw['rss'] / mib:.1f} MiB",
    )]


def main() -> None:
    parser = script_parser(__doc__, quick=True)
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "ROOT", "COUNT"),
                        help=argparse.SUPPRESS)  # one side, in the fresh interpreter
    args = parser.parse_args()
    if args.child:
        side, root, count = args.child
        print(json.dumps(asyncio.run(burst(side, root, int(count)))))
    else:
        run_script(lambda: print(render(run(args.quick))))


if __name__ == "__main__":
    main()

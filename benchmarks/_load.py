#!/usr/bin/env python3
"""The load generator of ``gateway_floor.py``: one aiohttp client process, so the measured
server never shares a process (or the GIL) with the load.

It takes one JSON spec as its only argument and prints one JSON result line:

* spec: ``url`` (a loopback URL), ``body`` (text, sent as ``application/json``),
  ``connections`` (keep-alive connections, each sending requests one after another),
  ``requests`` (measured, over all connections), ``warmup`` (sent first, unmeasured),
  ``stream`` (read the answer as it arrives and note when ``marker`` first shows up),
  ``pid`` (the server process whose CPU time is read around the measured requests).
* result: ``ms`` (each measured request's time, sent to fully read), ``first_ms`` (for
  streams: sent to the first bytes holding ``marker``), ``cpu_s`` (the server's CPU
  seconds, user + system, over the measured requests; from ``/proc/<pid>/stat``),
  ``wall_s``.

Run: ``python benchmarks/_load.py '{"url": "http://127.0.0.1:PORT/v1/...", ...}'``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import aiohttp


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) process ``pid`` has used so far; 0 without a pid."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one(session: aiohttp.ClientSession, spec: dict[str, Any], body: bytes
              ) -> tuple[float, float]:
    """(ms to the whole answer, ms to the marker; nan when not streaming)."""
    marker = spec.get("marker", "").encode()
    started = time.perf_counter()
    first = float("nan")
    async with session.post(spec["url"], data=body, headers=spec.get("headers", {})) as reply:
        if reply.status != 200:
            raise RuntimeError(f"{spec['url']}: status {reply.status}: {await reply.text()}")
        if spec.get("stream"):
            seen = b""
            async for data in reply.content.iter_any():
                if first != first:  # nan: the marker not seen yet
                    seen += data
                    if marker in seen:
                        first = (time.perf_counter() - started) * 1000
        else:
            await reply.read()
    return (time.perf_counter() - started) * 1000, first


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    body = spec["body"].encode()
    headers = {"Content-Type": "application/json", **spec.get("headers", {})}
    spec = {**spec, "headers": headers}
    connections = spec["connections"]
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker(count: int, into: list[tuple[float, float]] | None) -> None:
            for _ in range(count):
                result = await one(session, spec, body)
                if into is not None:
                    into.append(result)

        def split(total: int) -> list[int]:
            return [total // connections + (i < total % connections) for i in range(connections)]

        await asyncio.gather(*(worker(n, None) for n in split(max(spec["warmup"], connections))))
        results: list[tuple[float, float]] = []
        cpu, wall = cpu_seconds(spec.get("pid")), time.perf_counter()
        await asyncio.gather(*(worker(n, results) for n in split(spec["requests"])))
        wall, cpu = time.perf_counter() - wall, cpu_seconds(spec.get("pid")) - cpu
    return {"ms": [r[0] for r in results], "first_ms": [r[1] for r in results],
            "cpu_s": cpu, "wall_s": wall}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: _load.py SPEC_JSON")
    spec = json.loads(sys.argv[1])
    if not spec["url"].startswith("http://127.0.0.1:"):
        sys.exit("_load.py: loopback URLs only")
    print(json.dumps(asyncio.run(run(spec))), flush=True)


if __name__ == "__main__":
    main()

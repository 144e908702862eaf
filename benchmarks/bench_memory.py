#!/usr/bin/env python3
"""Memory per request in flight, at 1,000 and 10,000 in flight: ``AsyncSarvanClient`` vs
raw aiohttp, and ``sarvanom serve`` vs the floor forwarder.

**Client.** ``_server.py`` delays every answer (0.2 s), so all requests are started before
the first one ends. Each side runs in a fresh child interpreter: warm up, then start N
``complete()`` calls at once (``asyncio.gather``) and wait for them all. The figure is the
peak of Python allocations during the burst over the allocations before it
(``tracemalloc``), per request; the note adds the resident-set growth per request
(``ru_maxrss`` over the RSS before the burst), which also counts C buffers. Both sides open
at most 256 connections (the SDK transport's default, mirrored by the raw session), so most
requests wait for a connection: "in flight" is in the client. The SDK's bulkhead for
``ollama_local`` (2 by default, with a 0.25 s queue bound) is raised to N so requests reach
the transport instead of spilling over to the stub, and every timeout is raised (see
``LIMIT``) so none of the queued requests fails.

**Gateway.** The gateway (``sarvanom serve``, chain ``remote_gpu`` in OpenAI's protocol,
``--max-in-flight`` and its bulkhead at N, timeouts raised) and the floor (``_floor.py``:
a bare aiohttp.web handler forwarding with a plain aiohttp client, also 256 connections
upstream) each run in a child in front of an upstream that holds every answer for a
minute. A separate client process opens N connections and sends one chat request on each;
once the server holds all N connections and both processes have been idle (no CPU time)
for half a second (every request sent and read), the figure is the server's peak RSS
growth (``VmHWM`` after resetting it, over ``VmRSS`` before) per request, taken over a
step: a first client holds a tenth of N (at least 300, more than the 256 upstream
connections: what the first requests create once, lazy imports, pools and buffers, is not
per request), a second the rest. A request answered while held fails the figure. Then the
clients and the server are stopped.

``--top`` prints, instead of the figures, the largest allocations per request in flight
by file:line: the SDK's (a ``tracemalloc`` snapshot with 10,000 in flight against one
before) and the gateway's (``sarvanom serve`` under ``tracemalloc``, the same two steps as
its figure): what to cut.

Run: ``python benchmarks/bench_memory.py [--quick] [--top]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
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
from sarvanom_cli.bench.stopping import stop_child

IN_FLIGHT = (1_000, 10_000)
DELAY = 0.2
#: Seconds the upstream holds each answer in the gateway figures: longer than a measurement.
HOLD = 60.0
#: Seconds: every timeout of both sides. The connect timeout must be raised too: aiohttp's
#: ``ClientTimeout(connect=...)``, which the SDK transport sets to
#: ``SARVANOM_CONNECT_TIMEOUT_SECONDS`` (5 s), also bounds the wait for a free pooled
#: connection, and requests at the back of this queue wait longer than that.
LIMIT = 120.0
KIB = 1024
#: Requests held before a gateway figure's step: more than the 256 upstream connections
#: both servers open, so the step opens none (each has its own buffers).
WARM = 300


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


async def _one_call(side: str, root: str, count: int) -> tuple[Any, Any]:
    """The measured call of ``side`` ("sdk" or "raw") and how to close it."""
    from _pairs import OPTIONS, ollama_call
    from sarvanom_cli.bench import calls

    config = settings(ollama_base_url=root, max_concurrency=f"ollama_local={count}",
                      attempt_timeout=LIMIT, total_timeout=LIMIT, connect_timeout=LIMIT)
    if side == "sdk":
        from sarvanom_sdk import AsyncSarvanClient

        client: Any = AsyncSarvanClient(config)
        return calls.sdk_async(client, "ollama_local", OPTIONS, False), client.close
    session = calls.raw_async_session()
    return calls.raw_async(session, ollama_call(config), LIMIT, False), session.close


async def burst(side: str, root: str, count: int) -> dict[str, Any]:
    """Run in the child: ``count`` requests at once; memory figures as a dict."""
    one, close = await _one_call(side, root, count)
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


async def top(root: str, count: int, delay: float, lines: int = 20) -> str:
    """Run in the child: the SDK's allocations alive with ``count`` requests in flight (two
    thirds into the upstream's ``delay``) over those before, per request: the largest by
    file:line (where the block was allocated: a suspended coroutine's frame is charged to
    the line that created it), then by file. The requests are then cancelled."""
    one, close = await _one_call("sdk", root, count)
    await asyncio.gather(*(one() for _ in range(300)))
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    await asyncio.sleep(delay * 2 / 3)
    during = tracemalloc.take_snapshot()
    tracemalloc.stop()
    done = sum(t.done() for t in tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await close()
    noise = (tracemalloc.Filter(False, tracemalloc.__file__),)
    during, before = during.filter_traces(noise), before.filter_traces(noise)
    root_dir = str(Path(__file__).resolve().parent.parent) + "/"

    def short(name: str) -> str:
        name = name.replace(root_dir, "").split("site-packages/")[-1]
        return re.sub(r".*/lib/python3\.\d+/", "", name)

    stats = during.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    out = [f"{count:,} in flight ({done} already ended): {total / count / KIB:.2f} KiB per "
           "request alive; largest by line (bytes, blocks per request):"]
    for stat in stats[:lines]:
        frame = stat.traceback[0]
        out.append(f"{stat.size_diff / count:8.0f} B {stat.count_diff / count:6.2f}  "
                   f"{short(frame.filename)}:{frame.lineno}")
    out.append("the SDK's own lines:")
    ours = [s for s in stats if "sarvanom_sdk/" in s.traceback[0].filename]
    for stat in ours[:lines // 2]:
        frame = stat.traceback[0]
        out.append(f"{stat.size_diff / count:8.0f} B {stat.count_diff / count:6.2f}  "
                   f"{short(frame.filename)}:{frame.lineno}")
    out.append("by file:")
    for stat in during.compare_to(before, "filename")[:lines // 2]:
        out.append(f"{stat.size_diff / count:8.0f} B {stat.count_diff / count:6.2f}  "
                   f"{short(stat.traceback[0].filename)}")
    return "\n".join(out)


def _child(*args: str) -> str:
    return subprocess.run([sys.executable, __file__, "--child", *args], env=child_env(),
                          capture_output=True, text=True, check=True).stdout


def measure(side: str, root: str, count: int) -> dict[str, Any]:
    """One client side in a fresh interpreter."""
    result: dict[str, Any] = json.loads(_child(side, root, str(count)).strip().splitlines()[-1])
    if result["failed"]:
        raise RuntimeError(f"{side}: {result['failed']} requests failed: {result['reason']}")
    return result


# -- the gateway side -----------------------------------------------------------------------
async def hold(url: str, count: int) -> None:
    """Run in the client child: ``count`` chat requests at once on as many connections,
    until stopped; a request answered meanwhile prints ``answered <status>`` (the parent
    checks that none was)."""
    import aiohttp
    from _gateways import CHAT_BODY

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                    timeout=aiohttp.ClientTimeout(total=None))

    async def one() -> None:
        try:
            async with session.post(url + "/v1/chat/completions", data=CHAT_BODY,
                                    headers={"Content-Type": "application/json"}) as reply:
                await reply.read()
                print(f"answered {reply.status}", flush=True)
        except aiohttp.ClientError as error:
            print(f"answered {type(error).__name__}", flush=True)

    try:
        await asyncio.gather(*(one() for _ in range(count)))
    finally:
        await session.close()


def _accepted(port: int) -> int:
    """Established TCP connections whose local port is ``port`` (the server's side)."""
    wanted = f":{port:04X} "
    with open("/proc/net/tcp") as table:
        return sum(1 for line in table
                   if line.split()[1:2] and (line.split()[1] + " ").endswith(wanted)
                   and line.split()[3] == "01")


def _held(gateway: Any, count: int, deadline: float = 120.0) -> subprocess.Popen[str]:
    """A client child holding ``count`` more requests open on ``gateway``, returned once the
    server holds all those connections and both processes have been idle (no CPU time)
    for half a second: the client has sent every request and the server has read them."""
    from _gateways import Gateway

    client = subprocess.Popen([sys.executable, __file__, "--hold", gateway.url, str(count)],
                              env=child_env(), start_new_session=True, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sender = Gateway("client", "", client.pid, 0.0)
    port = int(gateway.url.rsplit(":", 1)[1])
    wanted = _accepted(port) + count
    started = time.monotonic()
    cpu = (gateway.cpu_seconds(), sender.cpu_seconds())
    try:
        while True:
            time.sleep(0.5)
            if client.poll() is not None:
                assert client.stderr is not None
                raise RuntimeError(f"the client child ended early: {client.stderr.read()!r}")
            now = (gateway.cpu_seconds(), sender.cpu_seconds())
            if _accepted(port) >= wanted and now == cpu:
                return client
            cpu = now
            if time.monotonic() - started > deadline:
                raise RuntimeError(f"{gateway.name}: {_accepted(port)} of {wanted} "
                                   f"connections after {deadline:.0f} s")
    except BaseException:
        stop_child(client, grace=5.0)
        raise


def _answered(client: subprocess.Popen[str]) -> list[str]:
    """Stop a holding client; the requests that were answered while held."""
    client.terminate()
    try:
        out, _ = client.communicate(timeout=5.0)
    except BaseException:
        stop_child(client, grace=0.0)
        raise
    return [line.split()[1] for line in out.splitlines() if line.startswith("answered ")]


def server_growth(gateway: Any, count: int) -> float:
    """Bytes of ``gateway``'s peak RSS per request held open, at ``count`` in flight: a
    first client holds a tenth (at least :data:`WARM`: what the first requests create once,
    lazy imports, the upstream connections and their buffers), then a second the rest;
    the figure is the peak RSS growth over the second step divided by its requests."""
    first = max(count // 10, WARM)
    warm = _held(gateway, first)
    clients = [warm]
    try:
        time.sleep(0.5)
        before = gateway.rss_bytes()
        gateway.reset_peak()
        clients.append(_held(gateway, count - first))
        grown = max(0, gateway.peak_rss_bytes() - before)
    finally:
        answered = [a for c in clients for a in _answered(c)]
    if answered:
        raise RuntimeError(f"{gateway.name}: {len(answered)} of {count} held requests were "
                           f"answered early (first: {answered[0]})")
    return float(grown / (count - first))


def gateway_top(count: int, lines: int = 25) -> str:
    """The gateway's allocations per request held open, by file:line: ``sarvanom serve``
    under ``tracemalloc``, a snapshot after the first tenth of ``count`` and one with all
    held (the same steps as :func:`server_growth`)."""
    import os
    import signal
    import tempfile
    import tracemalloc

    from _gateways import listening, sarvanom_gateway

    limit = str(LIMIT)
    first = max(count // 10, WARM)
    with tempfile.TemporaryDirectory() as workdir, loopback_server(delay=HOLD) as upstream:
        path = os.path.join(workdir, "snapshot")
        snapshots = []
        gateway = sarvanom_gateway(
            upstream, in_flight=count, ready=listening, snapshot=path,
            args=("--max-connections", str(count + 64), "--shutdown-timeout", "0"),
            LLM_TIMEOUT_SECONDS=limit, SARVANOM_TOTAL_TIMEOUT_SECONDS=limit,
            SARVANOM_CONNECT_TIMEOUT_SECONDS=limit, SARVANOM_QUEUE_TIMEOUT_SECONDS=limit)
        with gateway as served:
            clients = [_held(served, first)]
            try:
                for step in (0, 1):
                    if step:
                        clients.append(_held(served, count - first))
                    os.kill(served.pid, signal.SIGUSR1)
                    while not os.path.exists(path):
                        time.sleep(0.1)
                    time.sleep(1.0)  # the dump is complete (a rename would be tidier)
                    snapshots.append(tracemalloc.Snapshot.load(path))
                    os.unlink(path)
            finally:
                for client in clients:
                    _answered(client)
    stats = snapshots[1].compare_to(snapshots[0], "lineno")
    held = count - first
    total = sum(s.size_diff for s in stats)
    out = [f"sarvanom serve, {count:,} held ({held:,} in the step): "
           f"{total / held / KIB:.2f} KiB per request (Python allocations); largest by line "
           "(bytes, blocks per request):"]
    out += [_line(stat, held) for stat in stats[:lines]]
    out.append("by file:")
    out += [_line(stat, held, by_file=True)
            for stat in snapshots[1].compare_to(snapshots[0], "filename")[:lines // 2]]
    return "\n".join(out)


def _short(name: str) -> str:
    root_dir = str(Path(__file__).resolve().parent.parent) + "/"
    name = name.replace(root_dir, "").split("site-packages/")[-1]
    return re.sub(r".*/lib/python3\.\d+/", "", name)


def _line(stat: Any, count: int, by_file: bool = False) -> str:
    frame = stat.traceback[0]
    where = _short(frame.filename) + ("" if by_file else f":{frame.lineno}")
    return f"{stat.size_diff / count:8.0f} B {stat.count_diff / count:6.2f}  {where}"


def gateway_growth(count: int) -> dict[str, float]:
    """Bytes per request held open at ``count`` in flight: the floor, then the gateway."""
    from _gateways import forwarder, listening, sarvanom_gateway

    limit = str(LIMIT)
    out = {}
    with loopback_server(delay=HOLD) as upstream:
        with forwarder(upstream, listening) as floor:
            out["floor"] = server_growth(floor, count)
        gateway = sarvanom_gateway(
            upstream, in_flight=count, ready=listening,
            args=("--max-connections", str(count + 64), "--shutdown-timeout", "0"),
            LLM_TIMEOUT_SECONDS=limit, SARVANOM_TOTAL_TIMEOUT_SECONDS=limit,
            SARVANOM_CONNECT_TIMEOUT_SECONDS=limit, SARVANOM_QUEUE_TIMEOUT_SECONDS=limit)
        with gateway as served:
            out["gateway"] = server_growth(served, count)
    return out


def run(quick: bool = False) -> list[Figure]:
    counts = IN_FLIGHT[:1] if quick else IN_FLIGHT
    figures = []
    for count in counts:
        with loopback_server(delay=DELAY) as root:
            raw = measure("raw", root, count)
            sdk = measure("sdk", root, count)
        figures.append(Figure(
            f"memory per request, {count:,} in flight (async)", sdk["peak"] / count / KIB,
            raw["peak"] / count / KIB, "KiB", "ratio",
            note=f"vs raw aiohttp; tracemalloc peak {sdk['peak'] / KIB**2:.1f} vs "
                 f"{raw['peak'] / KIB**2:.1f} MiB; RSS growth per request "
                 f"{sdk['rss'] / count / KIB:.2f} vs {raw['rss'] / count / KIB:.2f} KiB",
        ))
    for count in counts:
        grown = gateway_growth(count)
        figures.append(Figure(
            f"gateway memory per request, {count:,} in flight", grown["gateway"] / KIB,
            grown["floor"] / KIB, "KiB", "ratio",
            note="sarvanom serve vs the floor forwarder; server peak RSS growth per request "
                 "held open",
        ))
    return figures


def main() -> None:
    parser = script_parser(__doc__, quick=True)
    parser.add_argument("--top", action="store_true",
                        help="print the SDK's largest allocations per request in flight")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # fresh interpreter
    parser.add_argument("--hold", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.child[0] == "top":
        _, root, count, delay = args.child
        print(asyncio.run(top(root, int(count), float(delay))))
    elif args.child:
        side, root, count = args.child
        print(json.dumps(asyncio.run(burst(side, root, int(count)))))
    elif args.hold:
        asyncio.run(hold(args.hold[0], int(args.hold[1])))
    elif args.top:
        count, delay = (1_000 if args.quick else IN_FLIGHT[-1]), 3.0

        def show() -> None:
            with loopback_server(delay=delay) as root:
                print(_child("top", root, str(count), str(delay)), end="")
            print()
            print(gateway_top(count))
        run_script(show)
    else:
        run_script(lambda: print(render(run(args.quick))))


if __name__ == "__main__":
    main()

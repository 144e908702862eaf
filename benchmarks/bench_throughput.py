#!/usr/bin/env python3
"""``complete()`` throughput through the SDK vs the raw HTTP library, same server, same run.

* ``AsyncSarvanClient`` vs a plain ``aiohttp.ClientSession`` — sequential, and 64 in flight;
* ``SarvanClient`` vs a plain ``requests.Session`` — sequential, and 8 threads.

Both sides send the same bytes and alternate rounds (see ``_pairs.py``); each side's
figure is the median of its rounds' requests/s, the ratio is the median of the per-round
ratios (SDK round / the raw round just before it), and the note gives the client's CPU
time per request on both sides (steadier than requests/s on a shared machine).

The server is ``_server.py`` (a bare asyncio protocol in its own process), not the
emulator: the ``server CPU/req`` line compares the two servers' own CPU time per request
(read from ``/proc``) under the same raw load; on two cores, a server costing as much as
the client would turn both clients' figures into a measure of the server.

The SDK's bulkhead allows ``ollama_local`` 2 calls in flight by default (a CPU Ollama
answers one or two at a time), so the concurrent figures raise it
(``max_concurrency="ollama_local=64"``) to measure the stack, and one more line keeps the
default to show what the policy does.

Run: ``python benchmarks/bench_throughput.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import statistics

from _common import Figure, ServerURL, emulator_server, loopback_server, main_for, settings
from _pairs import TIMEOUT, Side, alternate, ollama_call, paired_ratio
from sarvanom_cli.bench import calls
from sarvanom_cli.bench.drive import drive_async
from sarvanom_cli.bench.stats import Phase


def figure(name: str, sides: dict[str, Side], note: str) -> Figure:
    """Median requests/s of each side and the median paired ratio; the client CPU per
    request goes in the note."""
    sdk, raw = sides["sdk"], sides["raw"]
    cpu = f"client CPU/req {sdk.cpu():.0f} vs {raw.cpu():.0f} µs"
    return Figure(name, sdk.rps(), raw.rps(), "req/s", "ratio", 0.9, note=f"{note}; {cpu}",
                  paired=paired_ratio(sdk, raw))


def server_cost(servers: list[ServerURL], paths: list[str], count: int, rounds: int
                ) -> list[float]:
    """Each server's CPU µs per request while raw aiohttp sends it ``count`` requests, 64 in
    flight (rounds alternate between the servers; the median per server)."""
    calls_ = [ollama_call(settings(ollama_base_url=s + p)) for s, p in zip(servers, paths,
                                                                               strict=True)]

    async def measure() -> list[float]:
        session = calls.raw_async_session()
        costs: list[list[float]] = [[] for _ in servers]
        try:
            ones = [calls.raw_async(session, call, TIMEOUT, False) for call in calls_]
            for one in ones:
                await drive_async(one, 500, 64, lambda o: None)
            for _ in range(rounds):
                for index, (server, one) in enumerate(zip(servers, ones, strict=True)):
                    phase, cpu = Phase(), server.cpu_seconds()
                    phase.begin()
                    await drive_async(one, count, 64, phase.add)
                    Side([phase]).rps()  # every request must have succeeded
                    costs[index].append((server.cpu_seconds() - cpu) / count * 1e6)
        finally:
            await session.close()
        return [statistics.median(c) for c in costs]

    return asyncio.run(measure())


def run(quick: bool = False) -> list[Figure]:
    scale = 0.25 if quick else 1.0
    rounds = 3 if quick else 5
    n_seq, n_conc = int(2000 * scale), int(6000 * scale)
    cases = [
        ("async throughput, sequential", "async", 1, n_seq, None, "vs raw aiohttp"),
        ("async throughput, 64 in flight", "async", 64, n_conc, "ollama_local=64",
         "vs raw aiohttp; bulkhead raised to 64"),
        ("async, 64 in flight, default bulkhead", "async", 64, n_conc, None,
         "vs raw aiohttp; ollama_local allows 2 in flight by default"),
        ("sync throughput, sequential", "sync", 1, n_seq, None, "vs raw requests.Session"),
        ("sync throughput, 8 threads", "sync", 8, n_seq, "ollama_local=8",
         "vs raw requests.Session; bulkhead raised to 8"),
    ]
    figures = []
    with loopback_server() as root:
        for name, kind, concurrency, count, limit, note in cases:
            config = settings(ollama_base_url=root, max_concurrency=limit)
            sides = asyncio.run(alternate(config, kind, concurrency=concurrency, count=count,
                                          rounds=rounds))
            figures.append(figure(name, sides, note))
        with emulator_server() as emulator:
            ours, theirs = server_cost([root, emulator], ["", "/ollama"], n_conc, rounds)
    figures.append(Figure("server CPU/req: emulator vs _server.py", theirs, ours, "µs",
                          "ratio", note="raw aiohttp, 64 in flight; why _server.py is used"))
    return figures


if __name__ == "__main__":
    main_for(run)

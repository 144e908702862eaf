#!/usr/bin/env python3
"""Streaming: time to the first chunk through the SDK vs the raw library reading the same
stream, same server, same run.

``_server.py`` answers a streamed Ollama request with its first NDJSON line at once and
the rest ``--gap`` (5 ms) later, so the first chunk's arrival is a distinct event. The SDK
side is ``client.stream()`` until the first chunk carrying text (then read to the end);
the raw side is the same request with ``aiohttp`` / ``requests`` (``stream=True``) until
its first body bytes (then read to the end). Sequential requests, alternating rounds
(``_pairs.py``); the figure is the median over every request. Target: the SDK within
0.5 ms of raw.

Run: ``python benchmarks/bench_stream.py [--quick]``.
"""

from __future__ import annotations

import asyncio

from _common import Figure, loopback_server, main_for, settings
from _pairs import alternate


def run(quick: bool = False) -> list[Figure]:
    count, rounds = (30, 4) if quick else (60, 8)
    figures = []
    with loopback_server(gap=0.005) as root:
        config = settings(ollama_base_url=root)
        for kind, library in (("async", "aiohttp"), ("sync", "requests")):
            sides = asyncio.run(alternate(config, kind, concurrency=1, count=count,
                                          rounds=rounds, stream=True))
            figures.append(Figure(
                f"stream time to first chunk, {kind}", sides["sdk"].ttft_ms(),
                sides["raw"].ttft_ms(), "ms", "delta", 0.5,
                note=f"vs raw {library}; client CPU/stream {sides['sdk'].cpu():.0f} vs "
                     f"{sides['raw'].cpu():.0f} µs",
            ))
    return figures


if __name__ == "__main__":
    main_for(run)

#!/usr/bin/env python3
"""What the routing policies buy, measured in one run against the provider emulator.

Three scenarios, each on both clients (``SarvanClient`` and ``AsyncSarvanClient``), with
the same setups as the routing tests (``tests/routing/helpers.py``):

* **hedging**: Ollama answers in 20 ms, but 5% of its answers (a seeded draw: the same
  requests every run) take 250 ms; Hugging Face (fast) is next in the chain. Sequential
  requests with hedging off, then on (delay: Ollama's recent p95).
* **endpoints**: one Ollama provider with a single endpoint (fast, 10 ms; or slow, 40 ms)
  against the same provider with both endpoints listed (``OLLAMA_BASE_URL=fast,slow``).
  Sequential requests.
* **overflow**: Ollama limited to one call in flight (``SARVANOM_MAX_CONCURRENCY=
  ollama_local=1``), answering after 500 ms, and a burst of 20 concurrent requests; the
  overflow goes to Hugging Face after ``queue_timeout`` (250 ms).

Columns: p50 and p99 of the client-side latency (ms); ``sent``: requests the emulators
received (a hedge is one more; with two endpoints: fast + slow); ``hedges``:
``router.hedges``; ``served``: which provider answered how many; ``lost``: requests
answered by the stub (must be 0).
The rows are Markdown, ready to paste into a note.

Run (about a minute)::

    python benchmarks/routing.py [--requests 200]

Only loopback is contacted.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# tests/ first: its package ``routing`` (the tests' helpers) must win over this file's name
for path in (ROOT, ROOT / "tests"):
    sys.path.insert(0, str(path))

from _common import run_script, script_parser  # noqa: E402
from routing.helpers import (  # noqa: E402
    KINDS,
    STUB,
    burst_settings,
    client,
    emulators,
    ollama_at,
    percentile,
    routed,
    served_by,
    slow_tail,
    timed,
)

from sarvanom_sdk.testing import ProviderEmulator  # noqa: E402

FAST_ENDPOINT = 0.010
SLOW_ENDPOINT = 0.040
BURST = 20
BURST_REPLY = 0.5
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class Row:
    scenario: str
    setup: str
    kind: str
    took: list[float]
    answers: list[Any]
    sent: int | str
    hedges: int = 0

    def cells(self) -> list[str]:
        served = served_by(self.answers)
        lost = served.get(STUB, 0)
        names = ", ".join(f"{p.value} {n}" for p, n in served.most_common() if p is not STUB)
        return [
            self.scenario,
            self.setup,
            self.kind,
            str(len(self.answers)),
            f"{percentile(self.took, 0.50) * 1000:.1f}",
            f"{percentile(self.took, 0.99) * 1000:.1f}",
            str(self.sent),
            str(self.hedges),
            names,
            str(lost),
        ]


HEADER = [
    "scenario",
    "setup",
    "client",
    "requests",
    "p50 ms",
    "p99 ms",
    "sent",
    "hedges",
    "served",
    "lost",
]


def hedging(kind: str, requests: int) -> list[Row]:
    rows = []
    with ProviderEmulator() as emu:
        for hedge in (False, True):
            slow_tail(emu)
            with client(kind, **routed(emu, "ollama", "huggingface", hedge=hedge)) as driver:
                took, answers = timed(driver, requests)
                rows.append(
                    Row(
                        "slow tail (5% x12)",
                        f"hedge {'on' if hedge else 'off'}",
                        kind,
                        took,
                        answers,
                        emu.request_count(),
                        driver.client.router.hedges,
                    )
                )
    return rows


def endpoints(kind: str, requests: int) -> list[Row]:
    rows = []
    with emulators(FAST_ENDPOINT, SLOW_ENDPOINT) as (fast, slow):
        setups: list[tuple[str, list[ProviderEmulator]]] = [
            ("1 endpoint: fast", [fast]),
            ("1 endpoint: slow", [slow]),
            ("2 endpoints: fast + slow", [fast, slow]),
        ]
        for setup, used in setups:
            for emu in used:
                emu.reset()
            settings = {
                **routed(fast, "ollama"),
                **ollama_at(*(e.url_for("ollama") for e in used)),
            }
            with client(kind, **settings) as driver:
                took, answers = timed(driver, requests)
            counts = [e.request_count() for e in used]
            split = f" ({' + '.join(map(str, counts))})" if len(counts) > 1 else ""
            rows.append(Row("endpoints", setup, kind, took, answers, f"{sum(counts)}{split}"))
    return rows


def overflow(kind: str, _: int) -> list[Row]:
    with ProviderEmulator() as emu, client(kind, **burst_settings(emu, BURST_REPLY)) as driver:
        started = time.perf_counter()
        answers = driver.complete_many([f"burst {n}" for n in range(BURST)])
        wall = time.perf_counter() - started
        took = [a.latency_ms / 1000 for a in answers]
        row = Row(
            "overflow",
            f"burst {BURST}, limit 1, {wall:.2f} s wall",
            kind,
            took,
            answers,
            emu.request_count(),
        )
    return [row]


SCENARIOS: list[Callable[[str, int], list[Row]]] = [hedging, endpoints, overflow]


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument(
        "--requests", type=int, default=200, help="sequential requests per row (hedging, endpoints)"
    )
    args = parser.parse_args()
    for name in PROXY_VARS:
        os.environ.pop(name, None)
    started = time.monotonic()
    rows = [
        row for scenario in SCENARIOS for kind in KINDS for row in scenario(kind, args.requests)
    ]
    print(
        f"# routing benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "|".join("---" for _ in HEADER) + "|")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")


if __name__ == "__main__":
    run_script(main)

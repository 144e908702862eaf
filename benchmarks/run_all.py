#!/usr/bin/env python3
"""Run the SDK's whole performance suite and print one summary table.

Every figure is the SDK beside a baseline measured in the same run, on loopback only (see
``benchmarks/README.md`` for what each one measures and why). Targets are goals, not
tests: a missed target prints ``NO`` and the exit status stays 0.

Run: ``python benchmarks/run_all.py [--quick] [--json FILE]`` (a few minutes; ``--quick``
is a smoke run of well under a minute whose figures are noisier).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime, timezone

import bench_import
import bench_memory
import bench_overhead
import bench_stream
import bench_throughput
from _common import Figure, render, run_script, script_parser

SUITES = (
    ("overhead", bench_overhead.run),
    ("throughput", bench_throughput.run),
    ("streaming", bench_stream.run),
    ("start-up", bench_import.run),
    ("memory", bench_memory.run),
)


def main() -> None:
    parser = script_parser(__doc__, quick=True)
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args()
    figures: list[Figure] = []
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    for name, run in SUITES:
        print(f"running {name}...", file=sys.stderr, flush=True)
        figures += run(args.quick)
    elapsed = time.monotonic() - started
    print(render(figures))
    missed = [f.name for f in figures if f.met is False]
    load = f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    print(f"\n{len(figures)} figures in {elapsed:.0f} s ({load}); targets missed: {len(missed)}"
          + (f" ({'; '.join(missed)})" if missed else ""))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "quick": args.quick,
                "figures": [f.as_dict() for f in figures],
            }, out, indent=2)


if __name__ == "__main__":
    run_script(main)

#!/usr/bin/env python3
"""What OpenTelemetry tracing costs per ``complete()``, in µs, with no network in the way.

Three clients over the same in-process fake transport (a canned Ollama reply), measured
interleaved in one run so machine noise hits all alike:

* ``off``: no tracer provider configured (the default): no layer, no observer;
* ``on, no exporter``: a configured SDK ``TracerProvider`` with no span processor
  (spans are created and dropped);
* ``on, in-memory``: the same with a ``SimpleSpanProcessor`` into an in-memory exporter.

The baseline is the fake transport called directly; each row shows the client's time per
call and what it adds over ``off``. Needs ``opentelemetry-sdk`` (``pip install
'.[otel]' opentelemetry-sdk``); without it, only ``off`` is measured.

Run: ``python benchmarks/otel_overhead.py [--calls N] [--repeat R]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import positive_int, run_script, script_parser  # noqa: E402

from sarvanom_sdk import SarvanClient  # noqa: E402
from sarvanom_sdk.http import HttpCall, HttpReply  # noqa: E402

OLLAMA = "http://127.0.0.1:1/ollama"  # never contacted: the fake transport answers
REPLY = HttpReply(
    200,
    {"content-type": "application/json"},
    b'{"model":"m","message":{"role":"assistant","content":"Paris."},"done":true,'
    b'"prompt_eval_count":9,"eval_count":2}',
)


class FakeTransport:
    def send(self, call: HttpCall, timeout: float) -> HttpReply:
        return REPLY

    def open_stream(self, call: HttpCall, timeout: float) -> HttpReply:
        return REPLY

    def close(self) -> None:
        pass


def client(tracer_provider: Any = None) -> SarvanClient:
    return SarvanClient(
        env_file=None,
        ollama_base_url=OLLAMA,
        providers=("ollama_local",),
        transport=FakeTransport(),
        tracer_provider=tracer_provider,
    )


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--calls", type=positive_int, default=2000, help="calls per batch")
    parser.add_argument("--repeat", type=positive_int, default=9, help="interleaved batches")
    args = parser.parse_args()

    clients = {"off": client()}
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError:
        print("opentelemetry-sdk is not installed: measuring 'off' only", file=sys.stderr)
    else:
        clients["on, no exporter"] = client(TracerProvider())
        recording = TracerProvider()
        exporter = InMemorySpanExporter()
        recording.add_span_processor(SimpleSpanProcessor(exporter))
        clients["on, in-memory"] = client(recording)
    assert clients["off"]._core.tracing is None

    samples: dict[str, list[float]] = {name: [] for name in ["direct", *clients]}
    call = HttpCall("POST", f"{OLLAMA}/api/chat")
    transport = FakeTransport()
    for _ in range(args.repeat):
        samples["direct"].append(per_call_us(lambda: transport.send(call, 1.0), args.calls))
        for name, each in clients.items():
            samples[name].append(
                per_call_us(lambda c=each: c.complete("hi", cache=False), args.calls)
            )
        if "on, in-memory" in clients:
            exporter.clear()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    off = medians["off"]
    print(f"{'client':<18} {'µs/call':>9} {'vs off':>9} {'ratio':>7}")
    for name in clients:
        value = medians[name]
        print(f"{name:<18} {value:9.1f} {value - off:+9.1f} {value / off:7.3f}")
    print(f"{'(fake transport)':<18} {medians['direct']:9.2f}")


if __name__ == "__main__":
    run_script(main)

"""The SDK and its raw HTTP library side by side: alternating rounds, same requests.

The raw side sends exactly the SDK's bytes (the ``HttpCall`` from the SDK adapter's
``build()``) and, for whole replies, parses the JSON as hand-written code would; a raw
stream's first chunk is the time to its first body bytes. The request loops are
``sarvanom-bench``'s own (``sarvanom_cli.bench.calls`` / ``.drive``), so both sides
carry the same measuring cost. Rounds alternate raw then SDK so drift on a shared machine
hits both alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import _common  # noqa: F401  (makes sarvanom_cli importable from a checkout)
from sarvanom_cli.bench import calls
from sarvanom_cli.bench.drive import drive_async, drive_sync
from sarvanom_cli.bench.stats import Phase

from sarvanom_sdk import AsyncSarvanClient, LLMRequest, ProviderName, SarvanClient
from sarvanom_sdk.providers import adapter_for

OPTIONS = {"prompt": "What is the capital of France?", "max_tokens": 64}
PROVIDER = "ollama_local"
TIMEOUT = 15.0


def ollama_call(config: Any, stream: bool = False) -> Any:
    """The ``HttpCall`` the SDK sends to ``ollama_local`` for :data:`OPTIONS`."""
    request = LLMRequest(**OPTIONS)
    return adapter_for(ProviderName.OLLAMA_LOCAL, config).build(request, stream=stream)


@dataclass
class Side:
    """One side's rounds, and the client CPU µs per request in each."""

    phases: list[Phase] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def throughputs(self) -> list[float]:
        """Requests/s of each round; every request must have succeeded."""
        out = []
        for phase in self.phases:
            stats = phase.summary()
            if stats.errors:
                raise RuntimeError(f"{stats.errors} requests failed: {stats.error_reasons}")
            out.append(stats.throughput)
        return out

    def rps(self) -> float:
        """Median requests/s over the rounds."""
        return statistics.median(self.throughputs())

    def ttft_ms(self) -> float:
        """Median time to first chunk over every request of every round."""
        values = [o.ttft * 1000 for p in self.phases for o in p.outcomes if o.ttft is not None]
        return statistics.median(values)

    def cpu(self) -> float:
        return statistics.median(self.cpu_us)


def paired_ratio(sdk: Side, raw: Side) -> float:
    """Median over rounds of SDK requests/s / raw requests/s of the same round (each SDK
    round runs right after its raw round, so drift on a shared machine cancels out)."""
    pairs = zip(sdk.throughputs(), raw.throughputs(), strict=True)
    return statistics.median(s / r for s, r in pairs)


async def alternate(
    config: Any, kind: str, *, concurrency: int, count: int, rounds: int, stream: bool = False
) -> dict[str, Side]:
    """``rounds`` x (raw, SDK) with the ``kind`` ("sync" or "async") client, ``count``
    requests each at ``concurrency``, after a warm-up. Sync calls block the event loop,
    which has nothing else to do."""
    if kind == "async":
        client: Any = AsyncSarvanClient(config)
        session = calls.raw_async_session()
        raw = calls.raw_async(session, ollama_call(config, stream), TIMEOUT, stream)
        sdk = calls.sdk_async(client, PROVIDER, OPTIONS, stream)
    else:
        client = SarvanClient(config)
        session = calls.raw_session(concurrency)
        raw = calls.raw_sync(session, ollama_call(config, stream), TIMEOUT, stream)
        sdk = calls.sdk_sync(client, PROVIDER, OPTIONS, stream)

    async def drive(one: Callable[[], Any], n: int, record: Callable[[Any], None]) -> None:
        if kind == "async":
            await drive_async(one, n, concurrency, record)
        else:
            drive_sync(one, n, concurrency, record)

    sides = {"raw": Side(), "sdk": Side()}
    try:
        for one in (raw, sdk):
            await drive(one, max(100, concurrency * 4), lambda o: None)
        for _ in range(rounds):
            for name, one in (("raw", raw), ("sdk", sdk)):
                phase = Phase()
                cpu = time.process_time()
                phase.begin()
                await drive(one, count, phase.add)
                sides[name].cpu_us.append((time.process_time() - cpu) / count * 1e6)
                sides[name].phases.append(phase)
    finally:
        if kind == "async":
            await client.close()
            await session.close()
        else:
            client.close()
            session.close()
    return sides

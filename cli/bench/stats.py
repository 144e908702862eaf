"""``sarvanom-bench``'s numbers: one request's outcome, a phase's record, its summary.

Units: outcomes hold seconds (``time.perf_counter`` differences); summaries hold
milliseconds, requests per second and tokens per second. Percentiles interpolate linearly
between the nearest ranks (numpy's default), so p50 of ``[1, 2]`` is 1.5.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Outcome:
    """One measured request. ``latency``/``ttft`` in seconds; ``reason`` when not ``ok``."""

    ok: bool
    latency: float
    ttft: float | None = None
    tokens_per_s: float | None = None
    reason: str = ""


@dataclass(slots=True)
class Phase:
    """The outcomes of one side ("sdk" or "raw") for one provider, in arrival order.

    A phase may run in several blocks (``--vs-raw`` alternates the sides); its time is
    the sum of its blocks, each from :meth:`begin` to its last outcome, so throughput is
    successful requests over the time this side was actually running — also for a phase
    cut short by Ctrl-C.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    earlier: float = 0.0
    started: float | None = None
    ended: float | None = None

    def begin(self) -> None:
        """Start a block (closing the previous one)."""
        self.earlier = self.elapsed
        self.started = self.ended = time.perf_counter()

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.ended = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds this phase has been running, over all its blocks."""
        if self.started is None or self.ended is None:
            return self.earlier
        return self.earlier + self.ended - self.started

    def latencies_ms(self) -> list[float]:
        """Successful requests' latencies in ms, sorted."""
        return sorted(o.latency * 1000.0 for o in self.outcomes if o.ok)

    def ttfts_ms(self) -> list[float]:
        """Successful streamed requests' times to first token in ms, sorted."""
        return sorted(o.ttft * 1000.0 for o in self.outcomes if o.ok and o.ttft is not None)

    def error_reasons(self) -> list[tuple[str, int]]:
        """Every failure reason with its count, most frequent first."""
        return Counter(o.reason for o in self.outcomes if not o.ok).most_common()

    def summary(self) -> Stats:
        return Stats.of(self)


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of already sorted values; None when empty."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _median(values: list[float]) -> float | None:
    return percentile(sorted(values), 50)


@dataclass(frozen=True, slots=True)
class Stats:
    """A phase summarised. Latency fields are None when no request succeeded."""

    requests: int
    errors: int
    throughput: float
    min_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    ttft_p50_ms: float | None = None
    tokens_per_s: float | None = None
    error_reasons: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, phase: Phase) -> Stats:
        ok = phase.latencies_ms()
        errors = len(phase.outcomes) - len(ok)
        elapsed = phase.elapsed
        rates = [o.tokens_per_s for o in phase.outcomes if o.ok and o.tokens_per_s is not None]
        return cls(
            requests=len(phase.outcomes),
            errors=errors,
            throughput=len(ok) / elapsed if elapsed > 0 else 0.0,
            min_ms=ok[0] if ok else None,
            p50_ms=percentile(ok, 50),
            p95_ms=percentile(ok, 95),
            p99_ms=percentile(ok, 99),
            max_ms=ok[-1] if ok else None,
            ttft_p50_ms=percentile(phase.ttfts_ms(), 50),
            tokens_per_s=_median(rates),
            error_reasons=tuple(phase.error_reasons()[:3]),
        )


def ratio(sdk: float | None, raw: float | None) -> float | None:
    """``sdk / raw``; None when either is missing or raw is zero."""
    if sdk is None or not raw:
        return None
    return sdk / raw


@dataclass(frozen=True, slots=True)
class Row:
    """One provider's result: the SDK's phase and, with ``--vs-raw``, the raw one."""

    provider: str
    sdk: Stats
    raw: Stats | None = None

    @property
    def p50_ratio(self) -> float | None:
        """SDK p50 latency over raw p50 (1.0: no overhead; above 1: the SDK is slower)."""
        return ratio(self.sdk.p50_ms, self.raw.p50_ms) if self.raw else None

    @property
    def throughput_ratio(self) -> float | None:
        """SDK requests/s over raw requests/s (1.0: as fast as raw)."""
        return ratio(self.sdk.throughput, self.raw.throughput) if self.raw else None

    @property
    def ttft_ratio(self) -> float | None:
        return ratio(self.sdk.ttft_p50_ms, self.raw.ttft_p50_ms) if self.raw else None

    def flat(self) -> dict[str, Any]:
        """One flat record (JSON and CSV): SDK fields bare, raw ones prefixed ``raw_``."""
        out: dict[str, Any] = {"provider": self.provider}
        out.update(_stats_fields(self.sdk, ""))
        if self.raw is not None:
            out.update(_stats_fields(self.raw, "raw_"))
            out["p50_ratio"] = _round(self.p50_ratio, 4)
            out["throughput_ratio"] = _round(self.throughput_ratio, 4)
            out["ttft_ratio"] = _round(self.ttft_ratio, 4)
        return out


def _stats_fields(stats: Stats, prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}requests": stats.requests,
        f"{prefix}errors": stats.errors,
        f"{prefix}throughput_rps": _round(stats.throughput, 2),
        f"{prefix}min_ms": _round(stats.min_ms, 3),
        f"{prefix}p50_ms": _round(stats.p50_ms, 3),
        f"{prefix}p95_ms": _round(stats.p95_ms, 3),
        f"{prefix}p99_ms": _round(stats.p99_ms, 3),
        f"{prefix}max_ms": _round(stats.max_ms, 3),
        f"{prefix}ttft_p50_ms": _round(stats.ttft_p50_ms, 3),
        f"{prefix}tokens_per_s": _round(stats.tokens_per_s, 1),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

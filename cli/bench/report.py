"""``sarvanom-bench`` output: a text table, JSON or CSV (stdout), from :class:`Row` values.

Columns appear only when they mean something: TTFT and tokens/s with ``--stream``; the
raw figures and the SDK/raw ratios with ``--vs-raw``. Latencies are in milliseconds;
``p50 x`` is SDK p50 / raw p50 (above 1: the SDK is slower), ``req/s x`` is SDK
throughput / raw throughput (below 1: the SDK is slower).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from .stats import Row

Getter = Callable[[Row], Any]


def _sdk(field: str) -> Getter:
    return lambda row: getattr(row.sdk, field)


def _raw(field: str) -> Getter:
    return lambda row: getattr(row.raw, field) if row.raw else None


_BASE: list[tuple[str, Getter, str]] = [
    ("reqs", _sdk("requests"), "d"),
    ("err", _sdk("errors"), "d"),
    ("req/s", _sdk("throughput"), ".1f"),
    ("min ms", _sdk("min_ms"), ".2f"),
    ("p50 ms", _sdk("p50_ms"), ".2f"),
    ("p95 ms", _sdk("p95_ms"), ".2f"),
    ("p99 ms", _sdk("p99_ms"), ".2f"),
    ("max ms", _sdk("max_ms"), ".2f"),
]
_STREAM: list[tuple[str, Getter, str]] = [
    ("ttft ms", _sdk("ttft_p50_ms"), ".2f"),
    ("tok/s", _sdk("tokens_per_s"), ".0f"),
]
_RAW: list[tuple[str, Getter, str]] = [
    ("raw req/s", _raw("throughput"), ".1f"),
    ("raw p50", _raw("p50_ms"), ".2f"),
    ("p50 x", lambda row: row.p50_ratio, ".3f"),
    ("req/s x", lambda row: row.throughput_ratio, ".3f"),
]
_RAW_STREAM: list[tuple[str, Getter, str]] = [
    ("raw ttft", _raw("ttft_p50_ms"), ".2f"),
    ("ttft x", lambda row: row.ttft_ratio, ".3f"),
]


def columns(stream: bool, vs_raw: bool) -> list[tuple[str, Getter, str]]:
    """The table's columns (after the provider) for these options."""
    out = list(_BASE)
    if stream:
        out += _STREAM
    if vs_raw:
        out += _RAW
        if stream:
            out += _RAW_STREAM
    return out


def _cell(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: Sequence[Row], *, stream: bool, vs_raw: bool) -> str:
    """Aligned text: a header, one line per provider, then the top error reasons."""
    spec = columns(stream, vs_raw)
    header = ["provider", *(name for name, _, _ in spec)]
    body = [[row.provider, *(_cell(get(row), fmt) for _, get, fmt in spec)] for row in rows]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in (header, *body)
    ]
    for row in rows:
        for side, stats in (("", row.sdk), ("raw ", row.raw)):
            for reason, count in stats.error_reasons if stats else ():
                lines.append(f"  {row.provider} {side}errors: {count} x {reason}")
    return "\n".join(lines)


def records(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Flat per-provider records with their error reasons ("reason": count)."""
    out = []
    for row in rows:
        record = row.flat()
        record["error_reasons"] = dict(row.sdk.error_reasons)
        if row.raw is not None:
            record["raw_error_reasons"] = dict(row.raw.error_reasons)
        out.append(record)
    return out


def as_json(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "results": records(rows)}, indent=2)


def as_csv(rows: Sequence[Row]) -> str:
    """One header line and one line per provider; error reasons as ``reason=count; ...``."""
    flat = records(rows)
    if not flat:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat[0]), lineterminator="\n")
    writer.writeheader()
    for record in flat:
        writer.writerow({k: _csv_value(v) for k, v in record.items()})
    return buffer.getvalue().rstrip("\n")


def _csv_value(value: Any) -> Any:
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    return "" if value is None else value

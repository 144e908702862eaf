"""``sarvanom-bench --html FILE``: one self-contained page (no script, no network).

The page holds the run's settings, the same table as the text output, and per provider a
latency chart as inline SVG: the cumulative distribution of request latencies (x: ms on
a logarithmic axis, so a long tail does not flatten the body; y: share of requests at
most that slow), the SDK in blue and, with ``--vs-raw``, the raw client in orange, with
the SDK's p50/p95/p99 marked. Every text is HTML-escaped; the page references no URL at
all.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from .report import _cell, columns
from .stats import Phase, Row, percentile

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 46
COLORS = {"sdk": "#1f6feb", "raw": "#d9822b"}
LABELS = {"sdk": "SDK", "raw": "raw"}
CURVE_POINTS = 200

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 960px;
       color: #1b1f24; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 3px 9px; border-bottom: 1px solid #d0d7de; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dt { color: #57606a; } dd { margin: 0; }
.note { color: #57606a; font-size: 0.9em; }
svg text { font: 12px system-ui, sans-serif; fill: #1b1f24; }
"""


def render(
    rows: Sequence[Row],
    phases: dict[str, dict[str, Phase]],
    meta: dict[str, Any],
    *,
    stream: bool,
    vs_raw: bool,
) -> str:
    """The whole page as a string."""
    e = html.escape
    settings = "".join(f"<dt>{e(str(k))}</dt><dd>{e(str(v))}</dd>" for k, v in meta.items())
    charts = "".join(_section(row, phases.get(row.provider, {})) for row in rows)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>sarvanom-bench report</title><style>{_STYLE}</style></head><body>"
        "<h1>sarvanom-bench report</h1>"
        f"<dl>{settings}</dl>{_table(rows, stream, vs_raw)}"
        '<p class="note">Latencies in ms. p50 x = SDK p50 / raw p50; req/s x = SDK '
        "throughput / raw throughput; ttft = time to first token.</p>"
        f"{charts}</body></html>\n"
    )


def _table(rows: Sequence[Row], stream: bool, vs_raw: bool) -> str:
    spec = columns(stream, vs_raw)
    head = "".join(f"<th>{html.escape(name)}</th>" for name in ("provider", *(s[0] for s in spec)))
    body = "".join(
        f"<tr><td>{html.escape(row.provider)}</td>"
        + "".join(f"<td>{_cell(get(row), fmt)}</td>" for _, get, fmt in spec)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(row: Row, sides: dict[str, Phase]) -> str:
    series = {side: phase.latencies_ms() for side, phase in sides.items()}
    series = {side: values for side, values in series.items() if values}
    title = f"<h2>{html.escape(row.provider)}</h2>"
    if not series:
        return f'{title}<p class="note">No successful request to chart.</p>'
    svg, caption = chart(series, row.provider)
    return f'{title}{svg}<p class="note">{html.escape(caption)}</p>'


def chart(series: dict[str, list[float]], name: str) -> tuple[str, str]:
    """An SVG latency CDF for sorted latencies (ms) per side, and its caption. The x axis
    is logarithmic, so the body of the distribution and its tail both stay readable."""
    low = min(values[0] for values in series.values())
    high = max(values[-1] for values in series.values())
    x_ticks = log_ticks(low, high)
    x0, x1 = math.log10(x_ticks[0]), math.log10(x_ticks[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(ms: float) -> float:
        return LEFT + plot_w * (math.log10(max(ms, 1e-9)) - x0) / ((x1 - x0) or 1.0)

    def py(share: float) -> float:
        return TOP + plot_h * (1.0 - share)

    parts = [_axes(x_ticks, px, py)]
    for index, (side, values) in enumerate(series.items()):
        points = " ".join(
            f"{px(percentile(values, q) or low):.1f},{py(q / 100):.1f}"
            for q in (100.0 * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS))
        )
        color = COLORS.get(side, "#555")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                     f'points="{points}"/>')
        legend_y = TOP + plot_h - 40 + 18 * index
        parts.append(f'<line x1="{WIDTH - RIGHT - 80}" y1="{legend_y - 4}" '
                     f'x2="{WIDTH - RIGHT - 56}" y2="{legend_y - 4}" stroke="{color}" '
                     f'stroke-width="3"/><text x="{WIDTH - RIGHT - 50}" y="{legend_y}">'
                     f"{LABELS.get(side, side)}</text>")
    sdk = series.get("sdk") or next(iter(series.values()))
    for q, dx, dy, anchor in ((50, 7, 14, "start"), (95, 7, 14, "start"), (99, -7, -7, "end")):
        value = percentile(sdk, q) or low  # p99's label above-left: clear of p95's
        x, y = px(value), py(q / 100)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{COLORS["sdk"]}">'
                     f"<title>p{q} {value:.2f} ms</title></circle>"
                     f'<text x="{x + dx:.1f}" y="{y + dy:.1f}" text-anchor="{anchor}">'
                     f"p{q} {value:.2f}</text>")
    label = html.escape(f"{name}: latency distribution")
    svg = (f'<svg role="img" aria-label="{label}" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(parts)}</svg>')
    counts = ", ".join(f"{LABELS.get(side, side)} {len(v)}" for side, v in series.items())
    caption = (f"Successful requests charted: {counts}. Logarithmic x axis; the SDK's "
               f"p50/p95/p99 are marked; the slowest request took {high:.2f} ms.")
    return svg, caption


def _axes(x_ticks: list[float], px: Any, py: Any) -> str:
    """Frame, grid, tick labels and axis titles."""
    out = []
    bottom = py(0.0)
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = py(share)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                   f'stroke="#d0d7de"/><text x="{LEFT - 8}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{int(share * 100)}%</text>')
    for tick in x_ticks:
        x = px(tick)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom:.1f}" '
                   f'stroke="#eaeef2"/><text x="{x:.1f}" y="{bottom + 18:.1f}" '
                   f'text-anchor="middle">{tick:g}</text>')
    out.append(f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 6}" '
               'text-anchor="middle">latency (ms)</text>')
    out.append(f'<text x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2})">'
               "requests at most this slow</text>")
    return "".join(out)


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks of 1, 2 and 5 x 10^k from the largest at or below ``low`` to the smallest at
    or above ``high``; only powers of ten when that would make more than eight."""
    low = max(low, 1e-6)
    high = max(high, low)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    candidates = [round(m * 10.0**e, 12) for e in range(first, last + 1) for m in (1, 2, 5)]
    start = max(i for i, t in enumerate(candidates) if t <= low)
    end = max(start + 1, min(i for i, t in enumerate(candidates) if t >= high))
    ticks = candidates[start : end + 1]
    if len(ticks) > 8:
        ticks = [round(10.0**e, 12) for e in range(first, max(last, first + 1) + 1)]
    return ticks

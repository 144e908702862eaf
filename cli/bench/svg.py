"""The HTML report's charts, as inline SVG strings (no script, no URL, no font file).

* :func:`bar_chart` — the overview: per provider, a bar to p50 (dark) over a bar to p95
  (light) on a linear axis from 0, the SDK in blue and the raw client in orange, the
  values written after the bars; a provider with no successful request gets a red note
  (its failures and top reason) in place of its bars.
* :func:`cdf_chart` — one provider's distribution: the share of requests at most that
  slow (y) against ms on a logarithmic axis (x), so the body and the tail both stay
  readable; the SDK's p50/p95/p99 marked.

Every text is HTML-escaped here; callers pass plain strings. Colours of texts are inline
styles, since a page's ``svg text { fill: ... }`` rule would beat a ``fill`` attribute.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .stats import percentile

COLORS = {"sdk": "#1f6feb", "raw": "#d9822b"}
LIGHT = {"sdk": "#a5c8f7", "raw": "#f1c89a"}
LABELS = {"sdk": "SDK", "raw": "raw"}
ERROR = "#cf222e"
GRID, FAINT, INK = "#d0d7de", "#eaeef2", "#1b1f24"

CDF_WIDTH, CDF_HEIGHT = 520, 270
CDF_LEFT, CDF_RIGHT, CDF_TOP, CDF_BOTTOM = 60, 20, 30, 46
CURVE_POINTS = 200

BAR_WIDTH = 880
BAR_LEFT, BAR_RIGHT, BAR_TOP, BAR_BOTTOM = 150, 210, 40, 40
BAR_H, BAR_GAP, GROUP_GAP = 16, 4, 14
NOTE_CHARS = 70


def _e(text: object) -> str:
    return html.escape(str(text))


def _short(text: str, limit: int = NOTE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(label: str, width: int, height: int, body: str) -> str:
    return (f'<svg role="img" aria-label="{_e(label)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{body}</svg>')


# -- the overview -----------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    """One side of one provider: its p50 and p95 (None when nothing succeeded) and a note:
    shown after the values, or in red in place of the bars when there are none."""

    side: str  # "sdk" | "raw"
    p50: float | None
    p95: float | None
    note: str = ""


@dataclass(frozen=True)
class BarGroup:
    label: str
    bars: tuple[Bar, ...]


def bar_chart(groups: Sequence[BarGroup], label: str, axis: str = "latency (ms)",
              unit: str = "ms") -> str:
    """Horizontal p50-over-p95 bars per group, on one linear axis from 0 titled ``axis``;
    values in ``unit``."""
    sides = list(dict.fromkeys(bar.side for group in groups for bar in group.bars))
    highest = max((bar.p95 or bar.p50 or 0.0 for g in groups for bar in g.bars), default=0.0)
    ticks = linear_ticks(highest)
    plot_w = BAR_WIDTH - BAR_LEFT - BAR_RIGHT

    def px(value: float) -> float:
        return BAR_LEFT + plot_w * value / ticks[-1]

    parts = [_bar_legend(sides)]
    y = BAR_TOP
    for group in groups:
        height = len(group.bars) * (BAR_H + BAR_GAP) - BAR_GAP
        parts.append(f'<text x="4" y="{y + height / 2 + 4:.1f}" font-weight="600">'
                     f"{_e(group.label)}</text>")
        for bar in group.bars:
            parts.append(_one_bar(bar, y, px, show_side=len(sides) > 1, unit=unit))
            y += BAR_H + BAR_GAP
        y += GROUP_GAP - BAR_GAP
    bottom = y - GROUP_GAP + BAR_GAP + 6
    for tick in ticks:
        x = px(tick)
        parts.insert(0, f'<line x1="{x:.1f}" y1="{BAR_TOP - 6}" x2="{x:.1f}" y2="{bottom}" '
                        f'stroke="{GRID if tick == 0 else FAINT}"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
                     f"{tick:g}</text>")
    parts.append(f'<text x="{BAR_LEFT + plot_w / 2:.1f}" y="{bottom + 32}" '
                 f'text-anchor="middle">{_e(axis)}</text>')
    return _svg(label, BAR_WIDTH, bottom + BAR_BOTTOM, "".join(parts))


def _bar_legend(sides: list[str]) -> str:
    out, x = [], BAR_LEFT
    for side in sides:
        for shade, what in ((COLORS, "p50"), (LIGHT, "p95")):
            name = f"{LABELS.get(side, side)} {what}"
            out.append(f'<rect x="{x}" y="10" width="14" height="12" fill="{shade[side]}"/>'
                       f'<text x="{x + 19}" y="20">{_e(name)}</text>')
            x += 30 + 8 * len(name)
    return "".join(out)


def _one_bar(bar: Bar, y: float, px: Callable[[float], float], *, show_side: bool,
             unit: str) -> str:
    out = []
    if show_side:
        out.append(f'<text x="{BAR_LEFT - 8}" y="{y + 12}" text-anchor="end" '
                   f'style="fill:#57606a">{LABELS.get(bar.side, bar.side)}</text>')
    if bar.p50 is None:
        out.append(f'<text x="{BAR_LEFT + 6}" y="{y + 12}" style="fill:{ERROR}">'
                   f"<title>{_e(bar.note)}</title>{_e(_short(bar.note))}</text>")
        return "".join(out)
    p95 = bar.p95 if bar.p95 is not None else bar.p50
    title = f"{LABELS.get(bar.side, bar.side)}: p50 {bar.p50:.2f} {unit}, p95 {p95:.2f} {unit}"
    out.append(f'<rect x="{BAR_LEFT}" y="{y}" width="{px(p95) - BAR_LEFT:.1f}" '
               f'height="{BAR_H}" fill="{LIGHT[bar.side]}"><title>{_e(title)}</title></rect>'
               f'<rect x="{BAR_LEFT}" y="{y}" width="{px(bar.p50) - BAR_LEFT:.1f}" '
               f'height="{BAR_H}" fill="{COLORS[bar.side]}"><title>{_e(title)}</title></rect>')
    values = f"p50 {bar.p50:.2f} · p95 {p95:.2f}"
    note = f' <tspan style="fill:{ERROR}">{_e(_short(bar.note, 28))}</tspan>' if bar.note else ""
    out.append(f'<text x="{px(p95) + 6:.1f}" y="{y + 12}">{values}{note}</text>')
    return "".join(out)


def linear_ticks(highest: float) -> list[float]:
    """0 up to the smallest 1/2/5 x 10^k step multiple at or above ``highest``, in at
    most six ticks."""
    if highest <= 0:
        return [0.0, 1.0]
    for exponent in range(math.floor(math.log10(highest)) - 1, 400):
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**exponent
            count = math.ceil(highest / step - 1e-9)
            if count <= 5:
                return [round(i * step, 12) for i in range(count + 1)]
    return [0.0, highest]  # pragma: no cover


# -- one provider's distribution --------------------------------------------------------
def cdf_chart(series: dict[str, list[float]], label: str, axis: str) -> str:
    """A CDF per side of sorted values (ms), on a logarithmic x axis titled ``axis``; the
    SDK's p50/p95/p99 are marked when it has values."""
    low = min(values[0] for values in series.values())
    high = max(values[-1] for values in series.values())
    x_ticks = log_ticks(low, high)
    x0, x1 = math.log10(x_ticks[0]), math.log10(x_ticks[-1])
    plot_w, plot_h = CDF_WIDTH - CDF_LEFT - CDF_RIGHT, CDF_HEIGHT - CDF_TOP - CDF_BOTTOM

    def px(ms: float) -> float:
        return CDF_LEFT + plot_w * (math.log10(max(ms, 1e-9)) - x0) / ((x1 - x0) or 1.0)

    def py(share: float) -> float:
        return CDF_TOP + plot_h * (1.0 - share)

    parts = [_cdf_axes(x_ticks, px, py, axis)]
    for index, (side, values) in enumerate(series.items()):
        points = " ".join(
            f"{px(percentile(values, q) or low):.1f},{py(q / 100):.1f}"
            for q in (100.0 * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS))
        )
        color = COLORS.get(side, "#555")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                     f'points="{points}"/>')
        legend_y = CDF_TOP + plot_h - 40 + 18 * index
        parts.append(f'<line x1="{CDF_WIDTH - CDF_RIGHT - 80}" y1="{legend_y - 4}" '
                     f'x2="{CDF_WIDTH - CDF_RIGHT - 56}" y2="{legend_y - 4}" stroke="{color}" '
                     f'stroke-width="3"/><text x="{CDF_WIDTH - CDF_RIGHT - 50}" y="{legend_y}">'
                     f"{LABELS.get(side, side)}</text>")
    sdk = series.get("sdk")
    for q, dx, dy, anchor in ((50, 7, 14, "start"), (95, 7, 14, "start"), (99, -7, -7, "end")):
        if not sdk:
            break
        value = percentile(sdk, q) or low  # p99's label above-left: clear of p95's
        x, y = px(value), py(q / 100)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{COLORS["sdk"]}">'
                     f"<title>p{q} {value:.2f} ms</title></circle>"
                     f'<text x="{x + dx:.1f}" y="{y + dy:.1f}" text-anchor="{anchor}">'
                     f"p{q} {value:.2f}</text>")
    return _svg(label, CDF_WIDTH, CDF_HEIGHT, "".join(parts))


def _cdf_axes(x_ticks: list[float], px: Callable[[float], float],
              py: Callable[[float], float], axis: str) -> str:
    """Frame, grid, tick labels and axis titles."""
    out = []
    bottom = py(0.0)
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = py(share)
        out.append(f'<line x1="{CDF_LEFT}" y1="{y:.1f}" x2="{CDF_WIDTH - CDF_RIGHT}" '
                   f'y2="{y:.1f}" stroke="{GRID}"/><text x="{CDF_LEFT - 8}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{int(share * 100)}%</text>')
    for tick in x_ticks:
        x = px(tick)
        out.append(f'<line x1="{x:.1f}" y1="{CDF_TOP}" x2="{x:.1f}" y2="{bottom:.1f}" '
                   f'stroke="{FAINT}"/><text x="{x:.1f}" y="{bottom + 18:.1f}" '
                   f'text-anchor="middle">{tick:g}</text>')
    middle = CDF_TOP + (CDF_HEIGHT - CDF_TOP - CDF_BOTTOM) / 2
    out.append(f'<text x="{CDF_LEFT + (CDF_WIDTH - CDF_LEFT - CDF_RIGHT) / 2}" '
               f'y="{CDF_HEIGHT - 6}" text-anchor="middle">{_e(axis)}</text>')
    out.append(f'<text x="14" y="{middle}" text-anchor="middle" '
               f'transform="rotate(-90 14 {middle})">requests at most this slow</text>')
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

"""``sarvanom-bench --html FILE``: one self-contained page (no script, no network).

The page holds the run's settings, the same table as the text output, and per provider:

* why requests failed, when any did (every reason with its count, SDK and raw apart);
* a latency chart (inline SVG, :func:`.svg.cdf_chart`): the SDK in blue and, with
  ``--vs-raw``, the raw client in orange, the SDK's p50/p95/p99 marked; its caption's
  "slowest SDK request" is the table's ``max ms`` for that row;
* with ``--stream``, the same chart for the time to first token.

Every text is HTML-escaped; the page references no URL at all.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .report import _cell, columns
from .stats import Phase, Row
from .svg import LABELS, cdf_chart

#: Distinct failure reasons listed per side; the rest are summed in one line.
MAX_REASONS = 8

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #1b1f24; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 2em; }
h3 { font-size: 1em; margin: 1.2em 0 0.2em; font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums;
        font-size: 13px; }
th, td { padding: 3px 6px; border-bottom: 1px solid #d0d7de; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dt { color: #57606a; } dd { margin: 0; }
.note { color: #57606a; font-size: 0.9em; }
.errors { color: #cf222e; margin: 0.3em 0; }
.errors ul { margin: 0.2em 0; padding-left: 1.4em; }
.errors li { overflow-wrap: anywhere; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
figure { margin: 0; max-width: 520px; }
figcaption { color: #57606a; font-size: 0.9em; }
svg { max-width: 100%; height: auto; }
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
    sections = "".join(_section(row, phases.get(row.provider, {}), stream) for row in rows)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>sarvanom-bench report</title><style>{_STYLE}</style></head><body>"
        "<h1>sarvanom-bench report</h1>"
        f"<dl>{settings}</dl>{_table(rows, stream, vs_raw)}"
        '<p class="note">Latencies in ms. p50 x = SDK p50 / raw p50; req/s x = SDK '
        "throughput / raw throughput; ttft = time to first token.</p>"
        f"{sections}</body></html>\n"
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
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _section(row: Row, sides: dict[str, Phase], stream: bool) -> str:
    """One provider: its failures, its latency chart and (``stream``) its TTFT chart."""
    name = html.escape(row.provider)
    out = [f"<h2>{name}</h2>", errors_html(sides)]
    latency = {side: phase.latencies_ms() for side, phase in sides.items()}
    latency = {side: values for side, values in latency.items() if values}
    if not latency:
        out.append('<p class="note">No successful request to chart.</p>')
        return "".join(out)
    figures = [_figure(cdf_chart(latency, f"{row.provider}: latency distribution",
                                 "latency (ms)"),
                       html.escape(_caption(latency, "request", "took")))]
    ttft = {side: phase.ttfts_ms() for side, phase in sides.items()} if stream else {}
    ttft = {side: values for side, values in ttft.items() if values}
    if ttft:
        caption = html.escape(_caption(ttft, "first token", "came after"))
        figures.append(_figure(cdf_chart(ttft, f"{row.provider}: time to first token",
                                         "time to first token (ms)"),
                               f"Time to first token. {caption} The raw side's first token "
                               "is its first body bytes."))
    out.append(f'<div class="charts">{"".join(figures)}</div>')
    return "".join(out)


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def _caption(series: dict[str, list[float]], what: str, verb: str) -> str:
    """What the chart shows; its "slowest" figure is the SDK's own maximum (the table's
    ``max ms``), the raw side's given apart."""
    counts = ", ".join(f"{LABELS.get(side, side)} {len(v)}" for side, v in series.items())
    text = f"Successful requests charted: {counts}. Logarithmic x axis"
    sdk, raw = series.get("sdk"), series.get("raw")
    if sdk:
        text += f"; the SDK's p50/p95/p99 are marked; the slowest SDK {what} {verb} " \
                f"{sdk[-1]:.2f} ms"
    else:
        text += "; no successful SDK request"
    if raw:
        text += f" (raw: {raw[-1]:.2f} ms)"
    return text + "."


def errors_html(sides: dict[str, Phase]) -> str:
    """Why requests failed, per side: ``"40 of 40 SDK requests failed"`` and every
    reason with its count; empty when nothing failed."""
    out = []
    for side, phase in sides.items():
        reasons = phase.error_reasons()
        if not reasons:
            continue
        failed = sum(count for _, count in reasons)
        items = "".join(f"<li>{count} × {html.escape(reason or 'unknown')}</li>"
                        for reason, count in reasons[:MAX_REASONS])
        if len(reasons) > MAX_REASONS:
            rest = reasons[MAX_REASONS:]
            items += (f"<li>{sum(c for _, c in rest)} × {len(rest)} other "
                      "reasons</li>")
        out.append(f'<div class="errors">{failed} of {len(phase.outcomes)} '
                   f"{LABELS.get(side, side)} requests failed:<ul>{items}</ul></div>")
    return "".join(out)

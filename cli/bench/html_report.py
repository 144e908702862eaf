"""``sarvanom-bench --html FILE``: one self-contained page (no script, no network).

At the top, a one-line headline (:func:`headline`: with ``--vs-raw`` what the SDK adds at
p50 over the raw client) and an overview chart comparing the providers' p50 and p95
(:func:`.svg.bar_chart`; with ``--stream`` a second one for the time to first token),
where a provider that never answered shows its failures and top reason. Then the same
table as the text output and, per provider:

* why requests failed, when any did (every reason with its count, SDK and raw apart);
* a latency chart (inline SVG, :func:`.svg.cdf_chart`): the SDK in blue and, with
  ``--vs-raw``, the raw client in orange, the SDK's p50/p95/p99 marked; its caption's
  "slowest SDK request" is the table's ``max ms`` for that row;
* with ``--stream``, the same chart for the time to first token.

The run's settings close the page. Every text is HTML-escaped; the page references no URL at all.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from typing import Any

from .report import _cell, columns
from .stats import Phase, Row, percentile
from .svg import LABELS, Bar, BarGroup, bar_chart, cdf_chart

#: Distinct failure reasons listed per side; the rest are summed in one line.
MAX_REASONS = 8

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #1b1f24; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.headline { font-size: 1.15em; font-weight: 600; margin: 0.4em 0; }
h2 { font-size: 1.15em; margin-top: 2em; }
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
.providers.two { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
                 gap: 0 24px; }
.providers section { min-width: 0; }
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
    warning = caveats(rows, meta)
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>sarvanom-bench report</title><style>{_STYLE}</style></head><body>"
        "<h1>sarvanom-bench report</h1>",
        f'<p class="headline">{e(headline(rows, meta, vs_raw=vs_raw, stream=stream))}</p>',
        f'<p class="errors">{e(warning)}</p>' if warning else "",
        f'<p class="note">{e(_summary(meta))}</p>',
        _overview(rows, phases, stream),
        _table(rows, stream, vs_raw),
        '<p class="note">Latencies in ms. p50 x = SDK p50 / raw p50; req/s x = SDK '
        "throughput / raw throughput; ttft = time to first token.</p>",
        # one chart per provider (no --stream): two providers to a row
        f'<div class="{"providers" if stream else "providers two"}">',
        *(_section(row, phases.get(row.provider, {}), stream) for row in rows),
        "</div>",
        f"<h2>Settings</h2><dl>{settings}</dl></body></html>\n",
    ]
    return "".join(parts)


def headline(rows: Sequence[Row], meta: dict[str, Any], *, vs_raw: bool, stream: bool
             ) -> str:
    """One line: with ``vs_raw``, what the SDK adds at p50 over the raw client (the
    median over the providers measured on both sides); otherwise the fastest and slowest
    provider at p50. Failures and an interruption are :func:`caveats`, on the next line."""
    library = "requests" if meta.get("client") == "sync" else "aiohttp"
    both = [(r.provider, r.sdk.p50_ms, r.raw.p50_ms) for r in rows
            if r.raw and r.sdk.p50_ms is not None and r.raw.p50_ms is not None]
    answered = [r for r in rows if r.sdk.p50_ms is not None]
    if vs_raw and both:
        added = [sdk - raw for _, sdk, raw in both]
        text = _adds(statistics.median(added), f"at p50 over raw {library}")
        if len(both) == 1:
            provider, sdk, raw = both[0]
            text += f" ({provider}: {sdk:.2f} vs {raw:.2f} ms)"
        else:
            text += (f" (median of {len(both)} providers, {min(added):.2f} to "
                     f"{max(added):.2f} ms)")
        ttft = [r.sdk.ttft_p50_ms - r.raw.ttft_p50_ms for r in rows
                if r.raw and r.sdk.p50_ms is not None and r.raw.p50_ms is not None
                and r.sdk.ttft_p50_ms is not None and r.raw.ttft_p50_ms is not None]
        if stream and ttft:
            text += f" and {statistics.median(ttft):.2f} ms to the first token"
        text += "."
    elif len(answered) > 1:
        fast = min(answered, key=lambda r: r.sdk.p50_ms or 0.0)
        slow = max(answered, key=lambda r: r.sdk.p50_ms or 0.0)
        text = (f"Fastest at p50: {fast.provider} ({fast.sdk.p50_ms:.2f} ms); slowest: "
                f"{slow.provider} ({slow.sdk.p50_ms:.2f} ms).")
    elif answered:
        row = answered[0]
        text = f"{row.provider}: p50 {row.sdk.p50_ms:.2f} ms, p95 {row.sdk.p95_ms:.2f} ms."
    else:
        text = "No provider answered."
    return text


def caveats(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    """What the headline leaves out: an interruption, failed requests and the providers
    that never answered; empty when there is nothing to say."""
    parts = []
    if meta.get("interrupted"):
        parts.append("Interrupted: partial results.")
    failed = sum(r.sdk.errors for r in rows)
    if failed:
        total = sum(r.sdk.requests for r in rows)
        never = [r.provider for r in rows if r.sdk.errors == r.sdk.requests]
        parts.append(f"{failed} of {total} SDK requests failed"
                     + (f"; never answered: {', '.join(never)}." if never else "."))
    return " ".join(parts)


def _adds(delta: float, what: str) -> str:
    if delta >= 0:
        return f"The SDK adds {delta:.2f} ms {what}"
    return f"The SDK is {-delta:.2f} ms faster {what.replace('over', 'than')}"


def _summary(meta: dict[str, Any]) -> str:
    """The run's settings in one line (all of them close the page)."""
    parts = [
        str(meta.get("target", "")),
        f"{meta.get('client', '')} client",
        f"{meta.get('requests', '')} requests per provider"
        + (" and side" if meta.get("vs_raw") else "")
        + f" after {meta.get('warmup', '')} warm-ups",
        f"concurrency {meta.get('concurrency', '')}",
    ]
    if meta.get("stream"):
        parts.append("streamed")
    if meta.get("finished_at"):
        parts.append(f"finished {meta['finished_at']}")
    return " · ".join(parts)


def _overview(rows: Sequence[Row], phases: dict[str, dict[str, Phase]], stream: bool) -> str:
    """The providers side by side: p50 and p95 latency (and time to first token)."""
    if not rows:
        return ""
    out = ["<h2>Overview</h2>", bar_chart(
        [BarGroup(r.provider, _bars(phases.get(r.provider, {}), Phase.latencies_ms))
         for r in rows], "p50 and p95 latency per provider", "latency (ms)")]
    if stream:
        out.append("<h3>Time to first token</h3>")
        out.append(bar_chart(
            [BarGroup(r.provider, _bars(phases.get(r.provider, {}), Phase.ttfts_ms))
             for r in rows], "p50 and p95 time to first token per provider",
            "time to first token (ms)"))
    return "".join(out)


def _bars(sides: dict[str, Phase], values: Any) -> tuple[Bar, ...]:
    """One bar per side; a side without values notes its failures and top reason."""
    out = []
    for side, phase in sides.items():
        ordered = values(phase)
        reasons = phase.error_reasons()
        failed = sum(count for _, count in reasons)
        if ordered:
            note = f"{failed} error{'' if failed == 1 else 's'}" if failed else ""
            out.append(Bar(side, percentile(ordered, 50), percentile(ordered, 95), note))
        elif reasons:
            reason, count = reasons[0]
            out.append(Bar(side, None, None, f"no answer: {failed} of {len(phase.outcomes)} "
                                             f"failed ({count} × {reason})"))
        else:
            out.append(Bar(side, None, None, "nothing to chart"))
    return tuple(out)


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
    out = [f"<section><h2>{name}</h2>", errors_html(sides)]
    latency = {side: phase.latencies_ms() for side, phase in sides.items()}
    latency = {side: values for side, values in latency.items() if values}
    if not latency:
        out.append('<p class="note">No successful request to chart.</p></section>')
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
    out.append(f'<div class="charts">{"".join(figures)}</div></section>')
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

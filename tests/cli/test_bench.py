"""``sarvanom-bench`` against the provider emulator (loopback): output shapes, the raw
comparison, the HTML report, the paid-provider guard and Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sarvanom_cli.bench import command as bench
from sarvanom_cli.bench import run as _bench_run
from sarvanom_cli.bench.stats import Outcome, Phase, percentile
from sarvanom_cli.bench.svg import log_ticks

FAST = ("-n", "6", "--warmup", "1")


@pytest.fixture
def emu(provider_emulator: Any, clean_env: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """ollama_local and remote_gpu on the emulator; nothing else configured."""
    clean_env.chdir(tmp_path)
    clean_env.setenv("OLLAMA_BASE_URL", provider_emulator.url_for("ollama"))
    clean_env.setenv("GPU_REMOTE_URL", provider_emulator.url_for("remote_gpu"))
    return provider_emulator


def run_bench(*args: str) -> Result:
    return CliRunner().invoke(bench.bench, list(args))


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# -- output shapes ------------------------------------------------------------------------
def test_table_has_a_row_per_provider_in_chain_order(emu: Any) -> None:
    result = run_bench(*FAST)
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["provider", "reqs", "err", "req/s", "min", "ms", "p50", "ms",
                              "p95", "ms", "p99", "ms", "max", "ms"]
    assert [row.split()[:3] for row in rows] == [["ollama_local", "6", "0"],
                                                 ["remote_gpu", "6", "0"]]
    assert emu.request_count("ollama") == emu.request_count("remote_gpu") == 7  # + warm-up


def test_json_has_meta_and_per_provider_latencies(emu: Any) -> None:
    report = as_json(run_bench(*FAST, "--format", "json", "--providers", "remote_gpu"))
    assert report["meta"]["requests"] == 6 and report["meta"]["client"] == "sync"
    (row,) = report["results"]
    assert row["provider"] == "remote_gpu"
    assert (row["requests"], row["errors"], row["error_reasons"]) == (6, 0, {})
    assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert row["throughput_rps"] > 0
    assert "raw_p50_ms" not in row and row["ttft_p50_ms"] is None


def test_csv_is_a_header_and_a_line_per_provider(emu: Any) -> None:
    result = run_bench(*FAST, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["provider"] for r in rows] == ["ollama_local", "remote_gpu"]
    assert all(r["requests"] == "6" and float(r["p50_ms"]) > 0 for r in rows)


def test_vs_raw_adds_the_raw_figures_and_the_ratios(emu: Any) -> None:
    report = as_json(run_bench(*FAST, "--vs-raw", "--format", "json",
                               "--providers", "ollama_local"))
    (row,) = report["results"]
    assert row["raw_requests"] == 6 and row["raw_errors"] == 0
    assert row["p50_ratio"] == pytest.approx(row["p50_ms"] / row["raw_p50_ms"], rel=1e-2)
    assert row["throughput_ratio"] > 0
    assert emu.request_count("ollama") == 2 * 7  # the SDK and raw, each with a warm-up
    header = run_bench(*FAST, "--vs-raw", "--providers", "ollama_local").stdout.splitlines()[0]
    assert header.endswith("raw req/s  raw p50  p50 x  req/s x")


def test_stream_adds_time_to_first_token_and_tokens_per_second(emu: Any) -> None:
    report = as_json(run_bench(*FAST, "--stream", "--vs-raw", "--format", "json",
                               "--providers", "ollama_local"))
    (row,) = report["results"]
    assert 0 < row["ttft_p50_ms"] <= row["p50_ms"]
    assert row["tokens_per_s"] > 0
    assert row["raw_ttft_p50_ms"] > 0 and row["ttft_ratio"] > 0
    assert all(r.json["stream"] is True for r in emu.requests("ollama"))


def test_async_client_with_concurrency(emu: Any) -> None:
    report = as_json(run_bench("-n", "20", "--warmup", "2", "--client", "async", "-c", "4",
                               "--vs-raw", "--format", "json"))
    assert [(r["provider"], r["requests"], r["errors"], r["raw_errors"])
            for r in report["results"]] == [("ollama_local", 20, 0, 0), ("remote_gpu", 20, 0, 0)]


def test_concurrency_beyond_a_bulkhead_is_noted(emu: Any) -> None:
    result = run_bench(*FAST, "-c", "4", "--client", "async", "--providers", "ollama_local")
    assert result.exit_code == 0, result.stderr
    assert "note: ollama_local allows 2 calls in flight" in result.stderr


def test_vs_raw_with_several_base_urls_sends_raw_to_the_first(
    emu: Any, clean_env: pytest.MonkeyPatch
) -> None:
    first = emu.url_for("ollama")
    clean_env.setenv("OLLAMA_BASE_URL", f"{first},{first.replace('127.0.0.1', 'localhost')}")
    report = as_json(run_bench(*FAST, "--vs-raw", "--providers", "ollama_local",
                               "--format", "json"))
    assert (report["results"][0]["errors"], report["results"][0]["raw_errors"]) == (0, 0)


def test_a_provider_that_never_answers_is_an_error_row_and_exit_1(emu: Any) -> None:
    from sarvanom_sdk.testing import Fault

    emu.inject("remote_gpu", Fault.http(503))
    result = run_bench(*FAST, "--providers", "remote_gpu")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].split()[:3] == ["remote_gpu", "6", "6"]
    assert "remote_gpu errors: 6 x" in result.stdout


# -- the HTML report ----------------------------------------------------------------------
def test_html_report_is_self_contained_with_an_inline_svg_chart_per_provider(
    emu: Any, tmp_path: Any
) -> None:
    path = tmp_path / "report.html"
    result = run_bench(*FAST, "--vs-raw", "--html", str(path))
    assert result.exit_code == 0, result.stderr
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3  # + the overview
    assert "<h2>ollama_local</h2>" in page and "<h2>remote_gpu</h2>" in page
    assert "<polyline" in page and "p50" in page
    assert not NO_EXTERNAL.search(page)


def _sections(page: str) -> dict[str, str]:
    """Each provider's part of the page, by its ``<h2>``."""
    parts = re.split(r"<h2>(.*?)</h2>", page)
    providers = _table_cells(page)
    return {k: v for k, v in zip(parts[1::2], parts[2::2], strict=True) if k in providers}


def _table_cells(page: str) -> dict[str, dict[str, str]]:
    head = re.findall(r"<th>(.*?)</th>", page)
    rows = re.findall(r"<tr><td>(.*?)</tr>", page)
    out = {}
    for row in rows:
        cells = re.split(r"</td><td>", row.removesuffix("</td>"))
        out[cells[0]] = dict(zip(head, cells, strict=True))
    return out


def test_d13_html_shows_why_a_provider_failed(emu: Any, tmp_path: Any) -> None:
    """D13: a provider whose every request failed shows the reasons, not only "No
    successful request to chart"."""
    from sarvanom_sdk.testing import Fault

    emu.inject("remote_gpu", Fault.http(503))
    path = tmp_path / "report.html"
    result = run_bench("-n", "6", "--warmup", "0", "--html", str(path))
    assert result.exit_code == 1
    section = _sections(path.read_text(encoding="utf-8"))["remote_gpu"]
    assert "6 of 6 SDK requests failed" in section
    reasons = re.findall(r"<li>(\d+) × ([^<]*)</li>", section)
    assert sum(int(count) for count, _ in reasons) == 6
    assert reasons and all("503" in r or "circuit open" in r for _, r in reasons), reasons
    assert "errors" not in _sections(path.read_text(encoding="utf-8"))["ollama_local"]


def test_d13_the_slowest_request_note_matches_the_tables_max(emu: Any, tmp_path: Any) -> None:
    """D13: the caption's "slowest" figure is the SDK's max (it took the max over the SDK
    and raw series before)."""
    path = tmp_path / "report.html"
    assert run_bench("-n", "30", "--warmup", "1", "--vs-raw", "--html",
                     str(path)).exit_code == 0
    page = path.read_text(encoding="utf-8")
    table = _table_cells(page)
    for provider, section in _sections(page).items():
        slowest = re.search(r"the slowest SDK request took ([\d.]+) ms \(raw: ([\d.]+) ms\)",
                            section)
        assert slowest, section
        assert slowest.group(1) == table[provider]["max ms"]


def test_d13_stream_reports_chart_the_time_to_first_token(emu: Any, tmp_path: Any) -> None:
    """D13: with --stream each provider also gets a TTFT chart, its SDK p50 marked."""
    path = tmp_path / "report.html"
    assert run_bench(*FAST, "--stream", "--vs-raw", "--html", str(path)).exit_code == 0
    page = path.read_text(encoding="utf-8")
    for provider, section in _sections(page).items():
        assert f'aria-label="{provider}: time to first token"' in section
        assert section.count("<polyline") == 4  # latency and TTFT, SDK and raw each
        assert "the slowest SDK first token came after" in section


def test_d13_table_headers_do_not_wrap(emu: Any, tmp_path: Any) -> None:
    from sarvanom_cli.bench.html_report import _STYLE

    assert re.search(r"th, td \{[^}]*white-space: nowrap", _STYLE)
    assert ".scroll { overflow-x: auto; }" in _STYLE


NO_EXTERNAL = re.compile(r"<script|<link|<img|<iframe|<object|https?://|src=|href=|@import|url\(",
                         re.IGNORECASE)


def test_issue17_html_opens_with_a_headline_and_an_overview_chart(emu: Any,
                                                                   tmp_path: Any) -> None:
    """Issue 17 item 4: a one-line headline, then p50/p95 bars per provider whose values
    are the table's, before the table; a provider that never answered shows why there."""
    from sarvanom_sdk.testing import Fault

    emu.inject("remote_gpu", Fault.http(503))
    path = tmp_path / "report.html"
    assert run_bench("-n", "20", "--warmup", "1", "--vs-raw", "--html",
                     str(path)).exit_code == 1
    page = path.read_text(encoding="utf-8")
    assert not NO_EXTERNAL.search(page)
    headline = re.search(r'<p class="headline">(.*?)</p>', page)
    assert headline and re.fullmatch(
        r"The SDK (adds|is) [\d.]+ ms (faster )?at p50 (over|than) raw requests "
        r"\(ollama_local: [\d.]+ vs [\d.]+ ms\)\.", headline.group(1)), headline
    assert "never answered: remote_gpu" in page
    overview = page.index('aria-label="p50 and p95 latency per provider"')
    assert overview < page.index("<table>") < page.index("<h2>ollama_local</h2>")
    chart = page[overview:page.index("</svg>", overview)]
    row = _table_cells(page)["ollama_local"]
    assert f"p50 {row['p50 ms']} · p95 {row['p95 ms']}" in chart
    assert f"p50 {row['raw p50']} · " in chart
    assert re.search(r"no answer: 20 of 20 failed \(\d+ × [^)]*(503|circuit open)", chart)
    assert chart.count("<rect") >= 2 * 2 + 4  # ollama_local's SDK and raw bars, the legend


def test_issue17_stream_adds_an_overview_of_the_time_to_first_token(emu: Any,
                                                                    tmp_path: Any) -> None:
    path = tmp_path / "report.html"
    assert run_bench(*FAST, "--stream", "--html", str(path)).exit_code == 0
    page = path.read_text(encoding="utf-8")
    assert not NO_EXTERNAL.search(page)
    ttft = page.index('aria-label="p50 and p95 time to first token per provider"')
    assert ttft < page.index("<table>")
    chart = page[ttft:page.index("</svg>", ttft)]
    row = _table_cells(page)["remote_gpu"]
    assert f"p50 {row['ttft ms']} · p95 " in chart
    assert re.search(r'<p class="headline">Fastest at p50: \w+ \([\d.]+ ms\); slowest: \w+ '
                     r'\([\d.]+ ms\)\.</p>', page)


def test_issue17_headline_says_what_the_sdk_adds_over_raw() -> None:
    from sarvanom_cli.bench.html_report import caveats, headline
    from sarvanom_cli.bench.stats import Row, Stats

    def stats(p50: float | None, errors: int = 0, ttft: float | None = None) -> Stats:
        return Stats(10, errors, 1.0, p50, p50, p50, p50, p50, ttft_p50_ms=ttft)

    rows = [Row("a", stats(1.30, ttft=0.5), stats(1.00, ttft=0.4)),
            Row("b", stats(2.10), stats(2.00)),
            Row("c", stats(0.90), stats(0.40))]
    assert headline(rows, {"client": "async"}, vs_raw=True, stream=False) == (
        "The SDK adds 0.30 ms at p50 over raw aiohttp (median of 3 providers, 0.10 to "
        "0.50 ms).")
    assert headline(rows[:1], {"client": "sync"}, vs_raw=True, stream=True) == (
        "The SDK adds 0.30 ms at p50 over raw requests (a: 1.30 vs 1.00 ms) and 0.10 ms to "
        "the first token.")
    faster = [Row("a", stats(0.9), stats(1.0))]
    assert headline(faster, {"client": "sync"}, vs_raw=True, stream=False).startswith(
        "The SDK is 0.10 ms faster at p50 than raw requests")
    failing = [Row("a", stats(1.0)), Row("b", stats(None, errors=10))]
    assert headline(failing, {}, vs_raw=False, stream=False) == "a: p50 1.00 ms, p95 1.00 ms."
    assert caveats(failing, {"interrupted": True}) == (
        "Interrupted: partial results. 10 of 20 SDK requests failed; never answered: b.")
    assert caveats(rows, {}) == ""


@pytest.mark.parametrize(
    ("highest", "ticks"),
    [(0.9, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), (1.92, [0.0, 0.5, 1.0, 1.5, 2.0]),
     (250.0, [0.0, 50.0, 100.0, 150.0, 200.0, 250.0]), (260.0, [0.0, 100.0, 200.0, 300.0]),
     (0.0, [0.0, 1.0]), (5.0, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])],
)
def test_linear_ticks_start_at_zero_in_1_2_5_steps(highest: float, ticks: list[float]) -> None:
    from sarvanom_cli.bench.svg import linear_ticks

    assert linear_ticks(highest) == ticks


def test_svg_text_colours_survive_the_pages_stylesheet() -> None:
    """A ``fill`` attribute loses to the page's ``svg text { fill }`` rule: red notes must
    be inline styles (they rendered black in Chromium)."""
    from sarvanom_cli.bench.svg import Bar, BarGroup, bar_chart

    svg = bar_chart([BarGroup("p", (Bar("sdk", None, None, "no answer: 3 of 3 failed"),
                                    Bar("raw", 1.0, 2.0, "1 error")))], "x")
    assert 'style="fill:#cf222e">' in svg and "no answer: 3 of 3 failed" in svg
    assert not re.search(r"<text[^>]* fill=", svg)


def test_html_escapes_what_it_shows(emu: Any, tmp_path: Any) -> None:
    from sarvanom_cli.bench.html_report import render
    from sarvanom_cli.bench.stats import Row

    phase = Phase()
    phase.begin()
    phase.add(Outcome(True, 0.001))
    page = render([Row("<b>x</b>", phase.summary())], {"<b>x</b>": {"sdk": phase}},
                  {"prompt": "<script>alert(1)</script>"}, stream=False, vs_raw=False)
    assert "<script" not in page and "&lt;script&gt;" in page and "<b>" not in page


# -- what may be measured -----------------------------------------------------------------
@pytest.fixture
def paid(emu: Any, clean_env: pytest.MonkeyPatch) -> Any:
    """Paid use enabled, OpenAI configured -- on the emulator (loopback), so even a bug
    here costs nothing."""
    clean_env.setenv("ENABLE_PAID_API", "true")
    clean_env.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    clean_env.setenv("OPENAI_BASE_URL", emu.url_for("openai"))
    return emu


def test_paid_providers_are_refused_without_the_acknowledgement(paid: Any) -> None:
    result = run_bench(*FAST, "--providers", "openai")
    assert result.exit_code == 2
    assert "openai cost money" in result.stderr and "--i-accept-paid-costs" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert paid.request_count("openai") == 0


def test_paid_providers_are_left_out_of_the_default_set_with_a_note(paid: Any) -> None:
    report = as_json(run_bench(*FAST, "--format", "json"))
    assert [r["provider"] for r in report["results"]] == ["ollama_local", "remote_gpu"]
    assert paid.request_count("openai") == 0


def test_paid_providers_are_measured_with_the_acknowledgement(paid: Any) -> None:
    report = as_json(run_bench(*FAST, "--providers", "openai", "--i-accept-paid-costs",
                               "--format", "json"))
    assert report["results"][0]["errors"] == 0
    assert paid.request_count("openai") == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--providers", "huggingface"), "huggingface is not in the chain: HUGGINGFACE_API_KEY"),
        (("--providers", "nope"), "unknown provider 'nope'"),
        (("--providers", "local_stub"), "local_stub has no network call"),
        (("--requests", "0"), "Invalid value for '--requests' / '-n'"),
        (("--client", "threads"), "Invalid value for '--client'"),
    ],
)
def test_bad_choices_are_one_line(emu: Any, args: tuple[str, ...], message: str) -> None:
    result = run_bench(*args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_nothing_configured_points_at_the_emulator(clean_env: pytest.MonkeyPatch,
                                                   tmp_path: Any) -> None:
    clean_env.chdir(tmp_path)
    result = run_bench()
    assert result.exit_code == 2 and "use --emulator" in result.stderr


def test_a_malformed_environment_value_is_one_line(emu: Any,
                                                    clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SARVANOM_MAX_RETRIES", "twice")
    result = run_bench()
    assert result.exit_code == 1
    assert result.stderr == "Error: SARVANOM_MAX_RETRIES: must be an integer, got 'twice'\n"


# -- the built-in emulator ----------------------------------------------------------------
def test_emulator_flag_measures_every_provider_on_its_own_emulator(
    clean_env: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    clean_env.chdir(tmp_path)
    clean_env.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")  # ignored: --emulator wins
    report = as_json(run_bench("--emulator", "-n", "3", "--warmup", "0", "--format", "json"))
    assert report["meta"]["target"] == "built-in emulator"
    assert [(r["provider"], r["errors"]) for r in report["results"]] == [
        ("ollama_local", 0), ("remote_gpu", 0), ("huggingface", 0), ("openai", 0),
        ("anthropic", 0),
    ]


# -- Ctrl-C and progress ------------------------------------------------------------------
def interrupting_after(count: int, real: Callable[..., Any], is_async: bool) -> Any:
    """A stand-in for ``sdk_sync``/``sdk_async`` whose calls raise KeyboardInterrupt once
    ``count`` have been measured (warm-ups included)."""

    def factory(*args: Any) -> Any:
        one = real(*args)
        calls = [0]

        def tick() -> None:
            calls[0] += 1
            if calls[0] > count:
                raise KeyboardInterrupt

        async def async_call() -> Outcome:
            tick()
            return await one()  # type: ignore[no-any-return]

        def sync_call() -> Outcome:
            tick()
            return one()  # type: ignore[no-any-return]

        return async_call if is_async else sync_call

    return factory


@pytest.mark.parametrize("client", ["sync", "async"])
def test_ctrl_c_prints_what_was_measured_so_far(
    emu: Any, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    name = "sdk_async" if client == "async" else "sdk_sync"
    real = getattr(_bench_run.calls, name)
    monkeypatch.setattr(_bench_run.calls, name, interrupting_after(4, real, client == "async"))
    result = run_bench("-n", "10", "--warmup", "1", "--client", client, "--format", "json")
    assert result.exit_code == bench.EXIT_INTERRUPTED
    report = json.loads(result.stdout)
    assert report["meta"]["interrupted"] is True
    assert [(r["provider"], r["requests"]) for r in report["results"]] == [("ollama_local", 3)]
    assert "interrupted: partial results (3 of 20 measured requests)" in result.stderr


def test_progress_bar_goes_to_stderr_once_a_run_lasts(emu: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench.Progress
    monkeypatch.setattr(bench, "Progress",
                        lambda total, label: real(total, label, delay=0.0, every=0.0))
    result = run_bench(*FAST, "--format", "json")
    assert "sarvanom-bench" in result.stderr
    json.loads(result.stdout)  # stdout stays clean


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_d14_progress_in_a_log_is_periodic_lines_naming_the_provider_and_errors() -> None:
    """D14: without a terminal, a line every ``log_every`` s (after ``delay``) with the
    provider and side, done/total and errors so far, and a last line at the end."""
    from sarvanom_cli.bench.drive import Progress

    out, clock = io.StringIO(), _Clock()
    progress = Progress(40, "sarvanom-bench", delay=1.0, every=0.0, log_every=10.0,
                        stream=out, tty=False, clock=clock)
    progress.start("ollama_local", "sdk")
    for step in range(20):  # one outcome every second, every third an error
        clock.now = float(step)
        progress.advance(ok=step % 3 != 0)
    progress.start("ollama_local", "raw")
    for step in range(20, 40):
        clock.now = float(step)
        progress.advance()
    progress.close()
    assert out.getvalue().splitlines() == [
        "sarvanom-bench: ollama_local 2/40 measured, 1 error so far",
        "sarvanom-bench: ollama_local 12/40 measured, 4 errors so far",
        "sarvanom-bench: ollama_local raw 22/40 measured, 7 errors so far",
        "sarvanom-bench: ollama_local raw 32/40 measured, 7 errors so far",
        "sarvanom-bench: done: 40/40 measured, 7 errors",
    ]


def test_d14_a_short_run_prints_no_progress_at_all() -> None:
    from sarvanom_cli.bench.drive import Progress

    out = io.StringIO()
    progress = Progress(5, "sarvanom-bench", stream=out, tty=False, clock=lambda: 0.0)
    progress.start("remote_gpu", "sdk")
    for _ in range(5):
        progress.advance()
    progress.close()
    assert out.getvalue() == ""


def test_d14_on_a_terminal_the_bar_names_the_provider_and_the_errors() -> None:
    from sarvanom_cli.bench.drive import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, clock = Terminal(), _Clock()
    progress = Progress(10, "sarvanom-bench", delay=0.0, every=0.0, stream=out, clock=clock)
    progress.start("remote_gpu", "sdk")
    for step in range(10):
        clock.now = float(step)
        progress.advance(ok=step >= 2)
    progress.close()
    assert "sarvanom-bench" in out.getvalue()
    assert "remote_gpu, 2 errors" in out.getvalue() and "100%" in out.getvalue()


def test_d14_a_run_logs_its_progress_through_the_command(emu: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench.Progress
    monkeypatch.setattr(bench, "Progress", lambda total, label: real(
        total, label, delay=0.0, every=0.0, log_every=0.0))
    result = run_bench(*FAST, "--vs-raw", "--providers", "remote_gpu", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "sarvanom-bench: remote_gpu 1/12 measured, 0 errors so far" in result.stderr
    assert "sarvanom-bench: remote_gpu raw " in result.stderr
    assert "sarvanom-bench: done: 12/12 measured, 0 errors" in result.stderr


def test_help_has_examples() -> None:
    result = run_bench("--help")
    assert result.exit_code == 0 and "sarvanom-bench --emulator --vs-raw" in result.stdout


# -- numbers ------------------------------------------------------------------------------
def test_vs_raw_alternates_the_sides_in_blocks() -> None:
    plan = _bench_run.Plan(("ollama_local",), 12, 1, 0, "sync", False, True, {})
    assert plan.blocks() == [3, 3, 2, 2, 2]
    assert _bench_run.Plan((), 3, 1, 0, "sync", False, True, {}).blocks() == [1, 1, 1]
    assert _bench_run.Plan((), 12, 1, 0, "sync", False, False, {}).blocks() == [12]


def test_a_phase_counts_only_the_time_its_blocks_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([10.0, 11.0, 50.0, 52.0])  # block 1: 10 -> 11; block 2: 50 -> 52
    monkeypatch.setattr("sarvanom_cli.bench.stats.time.perf_counter", lambda: next(clock))
    phase = Phase()
    phase.begin()
    phase.add(Outcome(True, 0.5))
    phase.begin()
    phase.add(Outcome(True, 0.5))
    assert phase.elapsed == 3.0
    assert phase.summary().throughput == pytest.approx(2 / 3)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([float(v) for v in range(1, 101)], 99) == pytest.approx(99.01)
    assert percentile([3.0], 95) == 3.0


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0.62, 1.9, [0.5, 1.0, 2.0]),
        (0.6, 3.3, [0.5, 1.0, 2.0, 5.0]),
        (1.0, 1.0, [1.0, 2.0]),
        (0.9, 45.0, [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]),
        (0.3, 2500.0, [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]),
    ],
)
def test_log_ticks_cover_the_range_in_1_2_5_steps(
    low: float, high: float, ticks: list[float]
) -> None:
    assert log_ticks(low, high) == ticks


def test_the_console_script_entry_point_resolves_to_the_bench_package() -> None:
    """The package move (cli/bench/) keeps ``sarvanom-bench`` and ``sarvanom_cli.bench:main``."""
    import configparser
    import importlib
    from pathlib import Path

    import sarvanom_cli.bench

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    scripts = dict(
        line.split(" = ", 1)
        for line in config["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    module, _, attr = scripts["sarvanom-bench"].partition(":")
    assert getattr(importlib.import_module(module), attr) is sarvanom_cli.bench.main
    assert "sarvanom_cli.bench" in config["options"]["packages"].split()


@pytest.mark.parametrize("where", ["missing-dir/r.html", "a-file/r.html"])
def test_d4_an_unwritable_html_path_fails_at_once_before_the_run(
    emu: Any, tmp_path: Any, where: str
) -> None:
    """D4: one line, exit 2, and not a single request sent (the path was only opened at
    the end before, with a traceback after the whole run)."""
    (tmp_path / "a-file").write_text("not a directory")
    result = run_bench(*FAST, "--html", str(tmp_path / where))
    assert result.exit_code == 2, result.output
    assert "--html" in result.stderr and "cannot write" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert emu.request_count("ollama") == emu.request_count("remote_gpu") == 0


def test_d4_the_writability_check_leaves_no_empty_file_behind(emu: Any, tmp_path: Any) -> None:
    """The check creates the file to prove it can; a run that then stops on a usage error
    must not leave that empty file."""
    path = tmp_path / "r.html"
    result = run_bench(*FAST, "--providers", "nope", "--html", str(path))
    assert result.exit_code == 2 and not path.exists()

"""``sarvanom-bench``: latency and throughput per provider, through the SDK, optionally
side by side with the same requests sent raw.

Each provider is measured by pinning it (``provider=``) with ``cache=False``, so every
request reaches the provider. The report goes to stdout (``--format``), progress and notes
to stderr. Ctrl-C stops the run and prints what was measured so far (exit 130); so do
SIGTERM (exit 143) and SIGHUP (exit 129), and in every case the emulator child process is
stopped too. Exit 1 when a provider never answered successfully.

The module imports only click at load time; the SDK, requests and aiohttp are imported
when a run starts.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from ..main import OneLineCommand
from .drive import Progress
from .run import Plan, Result, run_async, run_sync
from .stopping import exit_status, signal_name, stop_on_signals
from .targets import (
    emulator_process,
    emulator_settings,
    load_settings,
    select_providers,
    warn_about_bulkheads,
)

DEFAULT_PROMPT = "Say hello in one short sentence."
EXIT_INTERRUPTED = 130


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--emulator", is_flag=True,
              help="Measure against the built-in provider emulator (loopback, free).")
@click.option("--providers", metavar="A,B",
              help="Comma-separated providers (default: the configured chain).")
@click.option("--requests", "-n", "requests_", type=click.IntRange(min=1), default=100,
              show_default=True, help="Measured requests per provider (and per side).")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=1, show_default=True,
              help="Requests in flight at once (threads for sync, tasks for async).")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True,
              help="Unmeasured requests per provider and side first.")
@click.option("--prompt", default=DEFAULT_PROMPT, show_default=True)
@click.option("--max-tokens", type=click.IntRange(1, 32768), default=64, show_default=True)
@click.option("--client", type=click.Choice(["sync", "async"]), default="sync",
              show_default=True, help="SarvanClient or AsyncSarvanClient.")
@click.option("--stream", "stream_", is_flag=True,
              help="Stream the answers: adds time to first token and tokens/s.")
@click.option("--vs-raw", is_flag=True,
              help="Also send the same HTTP requests with plain requests/aiohttp; adds "
                   "SDK/raw ratios.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report with a latency chart per provider.")
@click.option("--i-accept-paid-costs", "accept_paid", is_flag=True,
              help="Allow measuring OpenAI/Anthropic when paid use is enabled.")
def bench(
    emulator: bool,
    providers: str | None,
    requests_: int,
    concurrency: int,
    warmup: int,
    prompt: str,
    max_tokens: int,
    client: str,
    stream_: bool,
    vs_raw: bool,
    fmt: str,
    html_path: Path | None,
    accept_paid: bool,
) -> None:
    """Measure each provider's latency (min/p50/p95/p99/max), throughput and errors
    through the SDK, as the environment configures the providers.

    \b
    Examples:
      sarvanom-bench --emulator --vs-raw
      sarvanom-bench --providers ollama_local -n 50 --stream
      sarvanom-bench --emulator --client async -c 64 -n 2000 --format json
      sarvanom-bench --emulator --vs-raw --html report.html
    """
    if not prompt.strip():
        raise click.BadParameter("must not be empty", param_hint="--prompt")
    if html_path is not None:
        check_writable(html_path)
    plan = Plan((), requests_, concurrency, warmup, client, stream_, vs_raw,
                {"prompt": prompt, "max_tokens": max_tokens})
    output = Output(fmt, html_path, "built-in emulator" if emulator else "configured providers")
    settings = load_settings()
    with stop_on_signals():
        try:
            if emulator:
                with emulator_process() as urls:
                    _bench(emulator_settings(settings, urls), plan, output, providers,
                           accept_paid, free_of_charge=True)
            else:
                _bench(settings, plan, output, providers, accept_paid, free_of_charge=False)
        except KeyboardInterrupt as stop:  # outside the measuring (e.g. the emulator starting)
            click.echo(f"interrupted ({signal_name(stop)})", err=True)
            sys.exit(exit_status(stop))


def check_writable(path: Path) -> None:
    """Raise a one-line usage error now if ``path`` cannot be written, so a long run's
    report is not lost at the end (D4). A file created by the check is removed again."""
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise click.BadParameter(f"cannot write {str(path)!r}: {reason}",
                                 param_hint="--html") from None
    if not existed:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Output:
    """Where and how the report goes; ``target`` describes what was measured."""

    fmt: str
    html_path: Path | None
    target: str


def _bench(
    settings: Any,
    plan: Plan,
    output: Output,
    requested: str | None,
    accept_paid: bool,
    *,
    free_of_charge: bool,
) -> None:
    """Select the providers, run the plan, report."""
    names = select_providers(
        settings,
        requested,
        accept_paid=accept_paid,
        free_of_charge=free_of_charge,
        requests_each=(plan.requests + plan.warmup) * len(plan.sides),
        request_options=plan.options,
    )
    plan = replace(plan, providers=names)
    warn_about_bulkheads(settings, names, plan.concurrency)
    result = Result()
    progress = Progress(plan.total, "sarvanom-bench")
    status = 0
    try:
        if plan.client == "async":
            import asyncio

            asyncio.run(run_async(settings, plan, result, progress))
        else:
            run_sync(settings, plan, result, progress)
    except KeyboardInterrupt as stop:
        result.interrupted = True
        status = exit_status(stop)
    finally:
        progress.close()
    _report(result, plan, output, status)


def _report(result: Result, plan: Plan, output: Output, status: int = 0) -> None:
    """Print the report, write the HTML file, and exit with ``status`` if interrupted
    (128 + the signal: 130 for Ctrl-C), 1 if a provider never answered."""
    from . import report

    rows = result.rows()
    meta = _meta(plan, output, result)
    if output.fmt == "json":
        click.echo(report.as_json(rows, meta))
    elif output.fmt == "csv":
        click.echo(report.as_csv(rows))
    else:
        click.echo(report.table(rows, stream=plan.stream, vs_raw=plan.vs_raw))
    if output.html_path is not None:
        from .html_report import render

        page = render(rows, result.phases, meta, stream=plan.stream, vs_raw=plan.vs_raw)
        try:
            output.html_path.write_text(page, encoding="utf-8")
        except OSError as error:  # checked before the run; the disk may have filled since
            click.echo(f"Error: cannot write {str(output.html_path)!r}: "
                       f"{error.strerror or type(error).__name__}", err=True)
            sys.exit(1)
        click.echo(f"HTML report written to {output.html_path}", err=True)
    if result.interrupted:
        click.echo(f"interrupted: partial results ({result.measured()} of {plan.total} "
                   "measured requests)", err=True)
        sys.exit(status or EXIT_INTERRUPTED)
    if any(row.sdk.errors == row.sdk.requests for row in rows):
        sys.exit(1)


def _meta(plan: Plan, output: Output, result: Result) -> dict[str, Any]:
    """The run's settings, for the JSON and HTML reports."""
    from sarvanom_sdk import __version__

    return {
        "target": output.target,
        "providers": ", ".join(plan.providers),
        "client": plan.client,
        "concurrency": plan.concurrency,
        "requests": plan.requests,
        "warmup": plan.warmup,
        "stream": plan.stream,
        "vs_raw": plan.vs_raw,
        "max_tokens": plan.options["max_tokens"],
        "prompt_chars": len(plan.options["prompt"]),
        "interrupted": result.interrupted,
        "sdk_version": __version__,
        "python": platform.python_version(),
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def main() -> None:
    """Entry point of the ``sarvanom-bench`` console script."""
    bench(prog_name="sarvanom-bench")


if __name__ == "__main__":
    main()

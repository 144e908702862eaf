"""What ``sarvanom-bench`` measures: the settings, which providers, and the emulator.

Providers come from the chain the settings configure (``sarvanom providers`` shows it).
Paid providers (OpenAI, Anthropic) are measured only with ``--i-accept-paid-costs`` —
except against the built-in emulator, which is loopback with placeholder keys, so no
request can cost anything. ``--emulator`` starts ``sarvanom emulate`` in a child process
(so the server does not share this interpreter's GIL with the clients being measured)
and points every provider at it.
"""

from __future__ import annotations

import contextlib
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import click

from ..emulate import EMULATOR_KEYS
from .stopping import stop_child

_URL_LINE = re.compile(r"^\s+(\w+)\s+(http://\S+)$")
_READY = "Ctrl-C to stop."
STARTUP_TIMEOUT = 30.0


def load_settings() -> Any:
    """Settings from the environment (and ``.env``); a malformed value is one line."""
    from sarvanom_sdk import SarvanError, Settings

    try:
        return Settings.from_env()
    except SarvanError as error:
        raise click.ClickException(str(error)) from None


def emulator_settings(base: Any, urls: dict[str, str]) -> Any:
    """``base`` with every provider pointed at the emulator (models at their defaults,
    paid use on with placeholder keys, the seed's chain order, no budget)."""
    defaults = {f.name: f.default for f in fields(base)}
    keep = ("ollama_model", "gpu_remote_model", "huggingface_model", "openai_model",
            "anthropic_model")
    return base.replace(
        **{name: defaults[name] for name in keep},
        ollama_base_url=urls["ollama"],
        gpu_remote_url=urls["remote_gpu"],
        gpu_remote_token=None,
        gpu_remote_protocol="seed",
        huggingface_base_url=urls["huggingface"],
        huggingface_api_key=EMULATOR_KEYS["HUGGINGFACE_API_KEY"],
        huggingface_api="router",
        enable_paid_api=True,
        openai_base_url=urls["openai"],
        openai_api_key=EMULATOR_KEYS["OPENAI_API_KEY"],
        anthropic_base_url=urls["anthropic"],
        anthropic_api_key=EMULATOR_KEYS["ANTHROPIC_API_KEY"],
        providers=None,
        budget_usd=None,
    )


def select_providers(
    settings: Any,
    requested: str | None,
    *,
    accept_paid: bool,
    free_of_charge: bool,
    requests_each: int,
    request_options: dict[str, Any],
) -> tuple[str, ...]:
    """The providers to measure, in chain order (or as ``requested``, comma-separated).

    Raises ``click.UsageError`` for an unknown provider, one not in the chain (with the
    reason), the stub, or a paid provider without ``accept_paid`` unless
    ``free_of_charge`` (the emulator). Unrequested paid providers are left out with a
    note instead.
    """
    from sarvanom_sdk.chain import explain_chain
    from sarvanom_sdk.types import PAID_PROVIDERS, ProviderName

    entries = {e.provider.value: e for e in explain_chain(settings)}
    chain = [name for name, e in entries.items() if e.included and name != "local_stub"]
    if requested:
        names = [n.strip().lower() for n in requested.split(",") if n.strip()]
        for name in names:
            if name == "local_stub":
                raise click.UsageError("local_stub has no network call to benchmark")
            if name not in entries:
                known = ", ".join(p.value for p in ProviderName if p.value != "local_stub")
                raise click.UsageError(f"unknown provider {name!r}; known: {known}")
            if not entries[name].included:
                raise click.UsageError(f"{name} is not in the chain: {entries[name].reason}")
    else:
        names = chain
    paid = {p.value for p in PAID_PROVIDERS}
    if not (accept_paid or free_of_charge):
        costly = [n for n in names if n in paid]
        if requested and costly:
            raise click.UsageError(_paid_refusal(settings, costly, requests_each,
                                                 request_options))
        if costly:
            click.echo(f"leaving out paid providers ({', '.join(costly)}): pass "
                       "--i-accept-paid-costs to measure them", err=True)
            names = [n for n in names if n not in paid]
    if not names:
        raise click.UsageError(
            "no provider to benchmark: configure one (OLLAMA_BASE_URL, GPU_REMOTE_URL, "
            "HUGGINGFACE_API_KEY; see `sarvanom providers`) or use --emulator"
        )
    return tuple(names)


def warn_about_bulkheads(settings: Any, providers: tuple[str, ...], concurrency: int) -> None:
    """Say on stderr when ``concurrency`` passes a provider's calls-in-flight limit: the
    SDK queues the rest briefly, then fails them as busy (pinned: no other provider)."""
    from sarvanom_sdk import ProviderName

    for name in providers:
        limit = settings.concurrency_limit(ProviderName(name))
        if concurrency > limit:
            click.echo(
                f"note: {name} allows {limit} calls in flight (SARVANOM_MAX_CONCURRENCY); "
                f"the rest wait up to {settings.queue_timeout:g} s "
                "(SARVANOM_QUEUE_TIMEOUT_SECONDS), then fail as busy",
                err=True,
            )


def _paid_refusal(
    settings: Any, costly: list[str], requests_each: int, options: dict[str, Any]
) -> str:
    from sarvanom_sdk import LLMRequest
    from sarvanom_sdk.layers.cost import estimate_usd

    request = LLMRequest(**options)
    worst = sum(
        estimate_usd(getattr(settings, f"{name}_model"), request) * requests_each
        for name in costly
    )
    return (
        f"{', '.join(costly)} cost money: this run would send {requests_each} requests to "
        f"each (worst case about ${worst:.4f}). Pass --i-accept-paid-costs to go ahead, "
        "or leave them out of --providers."
    )


@contextlib.contextmanager
def emulator_process(latency: float = 0.0) -> Iterator[dict[str, str]]:
    """Run ``sarvanom emulate`` in a child process; yield its base URL per provider.

    The child gets its own session, so a Ctrl-C meant for the benchmark does not kill the
    server mid-run; it is terminated when the block ends -- also on SIGTERM or SIGHUP
    within :func:`~.stopping.stop_on_signals`, which makes them unwind like Ctrl-C.
    """
    command = [sys.executable, "-m", "sarvanom_cli.main", "emulate", "--port", "0",
               "--latency", str(latency)]
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        yield _read_banner(child)
    finally:
        stop_child(child)


def _read_banner(child: subprocess.Popen[str]) -> dict[str, str]:
    """The provider URLs the emulator prints before it says it is ready."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line)
            if line.strip() == _READY:
                break
        else:
            lines.put(None)

    threading.Thread(target=pump, daemon=True, name="emulator-banner").start()
    urls: dict[str, str] = {}
    while True:
        try:
            line = lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            raise click.ClickException("the emulator did not start in time") from None
        if line is None:
            detail = child.stderr.read().strip() if child.stderr else ""
            last = detail.splitlines()[-1] if detail else "no output"
            raise click.ClickException(f"the emulator could not start: {last}")
        if line.strip() == _READY:
            return urls
        match = _URL_LINE.match(line)
        if match:
            urls[match.group(1)] = match.group(2)

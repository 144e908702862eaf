"""``sarvanom``: a thin click CLI over the SDK.

The answer goes to stdout; the attempt trail and hints go to stderr, so
``sarvanom complete "..." > answer.txt`` keeps only the answer. Errors a user can cause
(a bad option, a malformed environment value) print one line and exit non-zero.
Startup is light: the SDK and its HTTP libraries are imported only by the command that
needs them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .chat import chat
from .demo import demo
from .emulate import emulate
from .gpu_box import gpu_box
from .serve import serve

EXIT_NO_PROVIDER = 3
#: Ctrl-C: 128 + SIGINT, as shells and sarvanom-bench report it.
EXIT_INTERRUPTED = 130


class OneLineErrors:
    """A click command mixin: a usage error (bad option, bad value) is one stderr line,
    ``Error: <what> (see '<command> --help')``, with click's exit status 2; other click
    errors print their usual one line. Never a traceback. Otherwise as click's standalone
    mode: exit 0 after the command, an ``Exit``'s code, a quiet exit on a closed pipe, and
    exit 130 without "Aborted!" on Ctrl-C."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            click.echo(f"Error: {error.format_message()}{hint}", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort as abort:
            if isinstance(abort.__context__, KeyboardInterrupt):
                sys.exit(EXIT_INTERRUPTED)  # Ctrl-C: the shell's convention, no "Aborted!"
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # e.g. `sarvanom complete ... | head -1`
            import os  # Python's documented recipe: no second error when stdout flushes

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class OneLineGroup(OneLineErrors, click.Group):
    """The ``sarvanom`` group, with one-line errors."""


class OneLineCommand(OneLineErrors, click.Command):
    """A stand-alone command (``sarvanom-bench``), with one-line errors."""


def _fail_cleanly(error: Exception) -> click.ClickException:
    return click.ClickException(str(error))


#: A request field -> the ``complete`` option (or argument) a CLI user typed for it (D18).
_OPTION_OF = {
    "prompt": "PROMPT",
    "max_tokens": "--max-tokens",
    "temperature": "--temperature",
    "provider": "--provider",
    "model": "--model",
    "system": "--system",
    "timeout": "--timeout",
}


def _request_error(error: Any) -> click.ClickException:
    """An InvalidRequestError in the words of the command line: the option the user typed,
    not the Python field (``--max-tokens``, not ``max_tokens``); a usage error (exit 2)."""
    field = getattr(error, "field", None)
    if field not in _OPTION_OF:
        return _fail_cleanly(error)
    message = str(error).split(": ", 1)[-1].replace("(provider=...)", "(--provider NAME)")
    return click.BadParameter(message, param_hint=f"'{_OPTION_OF[field]}'")


def _client(kind: str = "sync", **overrides: Any) -> Any:
    from sarvanom_sdk import AsyncSarvanClient, SarvanClient, SarvanError

    try:
        cls = SarvanClient if kind == "sync" else AsyncSarvanClient
        return cls(**overrides)
    except SarvanError as error:
        raise _fail_cleanly(error) from None


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sarvanom-sdk")
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read settings from this file instead of ./.env (trusted: it may set base URLs "
    "for keys in the environment). Same as SARVANOM_ENV_FILE.",
)
@click.pass_context
def cli(ctx: click.Context, env_file: str | None) -> None:
    """Free-first LLM completions: a local Ollama, a free remote GPU, Hugging Face's free
    tier, then paid APIs only when enabled, and a local stub that always answers.

    \b
    Examples:
      sarvanom complete "What is the capital of France?"
      sarvanom providers
      sarvanom health --probe
      sarvanom --env-file team.env providers
    """
    if env_file:
        _use_env_file(ctx, env_file)
    if ctx.invoked_subcommand == "serve":
        _gateway_token_from_env_file(ctx)


def _use_env_file(ctx: click.Context, path: str) -> None:
    """``--env-file``: every command of this run (serve included) reads ``path`` as
    SARVANOM_ENV_FILE, a file the user chose; the variable is restored when the run ends."""
    import os

    previous = os.environ.get("SARVANOM_ENV_FILE")
    os.environ["SARVANOM_ENV_FILE"] = os.path.abspath(path)

    def restore() -> None:
        if previous is None:
            os.environ.pop("SARVANOM_ENV_FILE", None)
        else:
            os.environ["SARVANOM_ENV_FILE"] = previous

    ctx.call_on_close(restore)


def _gateway_token_from_env_file(ctx: click.Context) -> None:
    """``serve`` reads SARVANOM_GATEWAY_TOKEN from a file the user named (--env-file or
    SARVANOM_ENV_FILE) when the environment lacks it. Never from a ./.env found implicitly:
    a cloned repository's .env would otherwise choose the token (and with it, let
    ``--host 0.0.0.0`` start) for someone who knows it."""
    from sarvanom_sdk import SarvanError
    from sarvanom_sdk.envfile import EnvSources

    try:
        sources = EnvSources()
    except SarvanError:
        return  # the client build reports it
    token = sources.file.get("SARVANOM_GATEWAY_TOKEN", "").strip()
    if token and not sources.implicit and not sources.from_real("SARVANOM_GATEWAY_TOKEN"):
        ctx.default_map = {**(ctx.default_map or {}), "serve": {"token": token}}


@cli.command()
@click.argument("prompt")
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=0.7, show_default=True)
@click.option("--provider", help="Pin one provider (e.g. ollama_local).")
@click.option("--system", help="A system prompt.")
@click.option("--model", help="Override the pinned provider's model (needs --provider).")
@click.option(
    "--timeout",
    type=float,
    help="Seconds for the whole call, every provider included (default "
    "SARVANOM_TOTAL_TIMEOUT_SECONDS); each attempt still stops at LLM_TIMEOUT_SECONDS.",
)
@click.option("--stream", "stream_", is_flag=True, help="Print tokens as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole response as JSON.")
@click.option(
    "--strict",
    is_flag=True,
    help=f"Never print the local stub's text: exit {EXIT_NO_PROVIDER} (nothing on stdout, or an "
    "error JSON with --json) if no real provider answered. Same as "
    "SARVANOM_FALLBACK_TO_STUB=false.",
)
def complete(
    prompt: str,
    max_tokens: int,
    temperature: float,
    provider: str | None,
    system: str | None,
    model: str | None,
    timeout: float | None,
    stream_: bool,
    as_json: bool,
    strict: bool,
) -> None:
    """Answer PROMPT through the provider chain (PROMPT '-' reads standard input).

    \b
    Example:
      sarvanom complete "Explain TCP in one line" --max-tokens 60 --timeout 20
      echo "Summarise this" | sarvanom complete - --json
    """
    from sarvanom_sdk import AllProvidersFailed, LLMRequest, ProviderName, SarvanError

    if prompt == "-":
        prompt = sys.stdin.read()
    try:
        request = LLMRequest(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            provider=ProviderName.parse(provider) if provider is not None else None,
            system=system,
            model=model,
            timeout=timeout,
        )
    except SarvanError as error:
        raise _request_error(error) from None
    # --strict is SARVANOM_FALLBACK_TO_STUB=false: one strict mode, one behaviour (D12)
    with _client("sync", **({"fallback_to_stub": False} if strict else {})) as client:
        try:
            if stream_:
                response = _stream(client, request, echo=not as_json)
            else:
                response = client.complete(request)
        except AllProvidersFailed as error:
            _no_provider_answered(error, as_json)
        except SarvanError as error:
            raise _fail_cleanly(error) from None
    if as_json:
        click.echo(json.dumps(response.to_dict(), indent=2))
    elif not stream_:
        click.echo(response.content)
    _report(response)


def _no_provider_answered(error: Any, as_json: bool) -> None:
    """Strict mode and no real provider answered: the trail and the error on stderr, an
    error JSON on stdout with ``--json`` (never the stub's text); exit EXIT_NO_PROVIDER."""
    _report_trail(error.attempts)
    if as_json:
        body = {
            "success": False,
            "error": {"type": "no_provider_answered", "message": str(error)},
            "attempts": [attempt.to_dict() for attempt in error.attempts],
            "trace_id": error.trace_id,
        }
        click.echo(json.dumps(body, indent=2))
    click.echo(f"Error: {error}", err=True)
    if not error.attempts:
        click.echo("No provider is configured: run `sarvanom providers` to see why.", err=True)
    sys.exit(EXIT_NO_PROVIDER)


def _stream(client: Any, request: Any, *, echo: bool) -> Any:
    """Stream ``request``, printing each chunk when ``echo``; the final response."""
    stream = client.stream(request)
    with stream:
        for chunk in stream:
            if echo:
                click.echo(chunk.text, nl=False)
    if echo:
        click.echo()
    return stream.response


def _report(response: Any) -> None:
    """The trail and a hint, on stderr."""
    _report_trail(response.attempts)
    if response.provider.value == "local_stub":
        click.secho(
            "No provider answered: the text above is the local stub's. "
            "Run `sarvanom providers` to see why.",
            fg="yellow",
            err=True,
        )
    elif response.stale:
        click.secho("Every provider failed: this is a stale cached answer.", fg="yellow", err=True)
    else:
        click.echo(
            f"answered by {response.provider.value} ({response.model}) "
            f"in {response.latency_ms:.0f} ms",
            err=True,
        )


def _report_trail(attempts: Any) -> None:
    """One stderr line per attempt: provider, outcome, latency, HTTP status, reason."""
    for attempt in attempts:
        status = f" HTTP {attempt.status}" if attempt.status else ""
        click.echo(
            f"  {attempt.provider.value:<13} {attempt.outcome.value:<8}"
            f"{attempt.latency_ms:8.1f} ms{status}  {attempt.reason}",
            err=True,
        )


@cli.command()
@click.option("--probe", is_flag=True, help="Call each provider's health endpoint now.")
@click.option("--json", "as_json", is_flag=True, help="The seed's health JSON.")
@click.option(
    "--url",
    metavar="URL",
    help="A running gateway (sarvanom serve) to ask instead of this process's providers.",
)
@click.option(
    "--token",
    envvar="SARVANOM_GATEWAY_TOKEN",
    show_envvar=True,
    help="The gateway's bearer token, for --url (prefer the environment variable).",
)
@click.option("--watch", is_flag=True, help="Refresh the view until Ctrl-C.")
@click.option(
    "--interval", type=click.FloatRange(0.1), default=2.0, show_default=True,
    help="Seconds between refreshes with --watch.",
)
@click.option(
    "--count", type=click.IntRange(1), help="With --watch: stop after this many refreshes."
)
def health(
    probe: bool,
    as_json: bool,
    url: str | None,
    token: str | None,
    watch: bool,
    interval: float,
    count: int | None,
) -> None:
    """Each configured provider's status, latency, counts and breaker state: this
    process's providers, or a running gateway's with --url.

    Exit status, for monitoring: 0 when at least one real provider is healthy, 3 when none
    is, 4 when none is known to be (a fresh process knows nothing until it calls or probes:
    use --probe); 1 when the gateway cannot be asked.

    \b
    Examples:
      sarvanom health --probe
      sarvanom health --url http://127.0.0.1:8000 --watch
    """
    from ._health_view import GatewayUnreachable, check_gateway_url

    if url is not None:
        try:
            url = check_gateway_url(url)
        except GatewayUnreachable as error:
            raise click.BadParameter(str(error).split(": ", 1)[1], param_hint="'--url'") from None
    if not watch:
        sys.exit(_health_once(url, token, probe, as_json))
    import time

    code, rounds = EXIT_NO_PROVIDER, 0
    try:
        while True:
            if sys.stdout.isatty():
                click.echo("\x1b[H\x1b[2J", nl=False)  # clear the screen, cursor home
            else:
                click.echo(f"--- {time.strftime('%H:%M:%S')}")
            code = _health_once(url, token, probe, as_json, watching=True)
            rounds += 1
            if count is not None and rounds >= count:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends: exit with the last view's status
    sys.exit(code)


def _health_once(
    url: str | None, token: str | None, probe: bool, as_json: bool, *, watching: bool = False
) -> int:
    """Print one health view (this process's providers, or the gateway at ``url``); its
    exit status. An unreachable gateway is an error line: exit 1, or a line in the view
    while watching."""
    from ._health_view import GatewayUnreachable, fetch_gateway, table, verdict

    endpoints: dict[str, Any] = {}
    if url is None:
        with _client() as client:
            providers = client.get_provider_health(probe=probe)
            report = client.health_report()
        seed = report["gpu_providers"]["providers"]
        view = {n: {**seed[n], "circuit_state": h.circuit_state} for n, h in providers.items()}
        endpoints = {name: h.endpoints for name, h in providers.items()}
        title = None
    else:
        from sarvanom_sdk.settings import display_url

        try:
            alive, report = fetch_gateway(url, token=token, probe=probe)
        except GatewayUnreachable as error:
            if not watching:
                raise click.ClickException(f"gateway {display_url(url)}: {error}") from None
            click.echo(f"gateway {display_url(url)}: {error}")
            return 1
        view = report["gpu_providers"]["providers"]
        title = f"gateway {display_url(url)}  /health: {alive}  at {report.get('timestamp')}"
    code, status, summary = verdict(view)
    if as_json:
        if status == "unknown":  # D23: not "healthy" when nothing is known
            report["status"] = "unknown"
        click.echo(json.dumps(report, indent=2))
        return code
    if title:
        click.echo(title)
    if not view:
        click.echo("No provider is configured; only the local stub would answer.")
        return code
    for line in table(view, endpoints):
        click.echo(line)
    click.echo(f"available: {', '.join(report['gpu_providers']['available_providers'])}")
    click.echo(f"{status}: {summary}", err=not watching)
    return code


@cli.command()
def providers() -> None:
    """The provider chain in order, as the environment configures it, and why each
    provider is in or out, with what each can do beyond plain chat (tools, JSON output,
    images, stop, seed: a request needing one skips providers without it). Keys are
    shown redacted.

    \b
    Example:
      OLLAMA_BASE_URL=http://localhost:11434 sarvanom providers
    """
    from sarvanom_sdk import SarvanError, Settings
    from sarvanom_sdk.chain import explain_chain
    from sarvanom_sdk.settings import display_url, redact_key

    try:
        settings = Settings.from_env()
    except SarvanError as error:
        raise _fail_cleanly(error) from None
    url = display_url  # scheme://host:port/path: never credentials or a query (F11)
    details = {
        "ollama_local": f"{url(settings.ollama_base_url)} model={settings.ollama_model}",
        "remote_gpu": f"{url(settings.gpu_remote_url)} protocol={settings.gpu_remote_protocol}"
        + (f" token={redact_key(settings.gpu_remote_token)}" if settings.gpu_remote_token else ""),
        "huggingface": f"{url(settings.huggingface_base_url)} model={settings.huggingface_model} "
        f"key={redact_key(settings.huggingface_api_key)}",
        "openai": f"{url(settings.openai_base_url)} model={settings.openai_model} "
        f"key={redact_key(settings.openai_api_key)}",
        "anthropic": f"{url(settings.anthropic_base_url)} model={settings.anthropic_model} "
        f"key={redact_key(settings.anthropic_api_key)}",
        "local_stub": "",
    }
    position = 0
    for entry in explain_chain(settings):
        if entry.included:
            position += 1
            mark = f"{position}."
        else:
            mark = " -"
        detail = details[entry.provider.value] if entry.included else ""
        if entry.included:
            detail = f"{detail}  {_capabilities_of(entry.provider, settings)}".lstrip()
        click.echo(f"{mark:>3} {entry.provider.value:<13} {entry.reason}  {detail}".rstrip())


def _capabilities_of(provider: Any, settings: Any) -> str:
    """What ``provider``'s adapter translates beyond plain chat (issue 14 item 5), e.g.
    ``capabilities=tools,json_schema,stop``; ``capabilities=none`` for plain text only;
    the context window when known. Builds the adapter only (no network)."""
    from sarvanom_sdk import SarvanError
    from sarvanom_sdk.chat import CAPABILITIES
    from sarvanom_sdk.providers import adapter_for
    from sarvanom_sdk.types import ProviderName

    if provider is ProviderName.LOCAL_STUB:
        return "capabilities=none"
    try:
        adapter = adapter_for(provider, settings)
    except SarvanError:
        return ""
    names = [name for name in CAPABILITIES if name in adapter.capabilities]
    shown = f"capabilities={','.join(names) or 'none'}"
    if adapter.context_window:
        shown += f" context={adapter.context_window}"
    return shown


def main() -> None:
    """Entry point of the ``sarvanom`` console script."""
    cli()


# Commands in their own modules; each imports its heavy parts (aiohttp...) when it runs.
cli.add_command(chat)
cli.add_command(emulate)
cli.add_command(demo)
cli.add_command(serve)
cli.add_command(gpu_box)

if __name__ == "__main__":
    main()

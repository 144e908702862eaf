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

from .demo import demo
from .emulate import emulate
from .serve import serve

EXIT_NO_PROVIDER = 3


class OneLineErrors:
    """A click command mixin: a usage error (bad option, bad value) is one stderr line,
    ``Error: <what> (see '<command> --help')``, with click's exit status 2; other click
    errors print their usual one line. Never a traceback. Otherwise as click's standalone
    mode: exit 0 after the command, an ``Exit``'s code, a quiet exit on a closed pipe."""

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
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
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


def _client(kind: str = "sync", **overrides: Any) -> Any:
    from sarvanom_sdk import AsyncSarvanClient, SarvanClient, SarvanError

    try:
        cls = SarvanClient if kind == "sync" else AsyncSarvanClient
        return cls(**overrides)
    except SarvanError as error:
        raise _fail_cleanly(error) from None


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sarvanom-sdk")
def cli() -> None:
    """Free-first LLM completions: a local Ollama, a free remote GPU, Hugging Face's free
    tier, then paid APIs only when enabled, and a local stub that always answers.

    \b
    Examples:
      sarvanom complete "What is the capital of France?"
      sarvanom providers
      sarvanom health --probe
    """


@cli.command()
@click.argument("prompt")
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=0.7, show_default=True)
@click.option("--provider", help="Pin one provider (e.g. ollama_local).")
@click.option("--system", help="A system prompt.")
@click.option("--model", help="Override the pinned provider's model (needs --provider).")
@click.option("--stream", "stream_", is_flag=True, help="Print tokens as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole response as JSON.")
@click.option(
    "--strict", is_flag=True, help=f"Exit {EXIT_NO_PROVIDER} if no real provider answered."
)
def complete(
    prompt: str,
    max_tokens: int,
    temperature: float,
    provider: str | None,
    system: str | None,
    model: str | None,
    stream_: bool,
    as_json: bool,
    strict: bool,
) -> None:
    """Answer PROMPT through the provider chain (PROMPT '-' reads standard input).

    \b
    Example:
      sarvanom complete "Explain TCP in one line" --max-tokens 60
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
        )
    except SarvanError as error:
        raise _fail_cleanly(error) from None
    with _client() as client:
        try:
            if stream_:
                response = _stream(client, request, echo=not as_json)
            else:
                response = client.complete(request)
        except AllProvidersFailed as error:  # SARVANOM_FALLBACK_TO_STUB=false
            _report_trail(error.attempts)
            click.echo(f"Error: {error}", err=True)
            sys.exit(EXIT_NO_PROVIDER)
        except SarvanError as error:
            raise _fail_cleanly(error) from None
    if as_json:
        click.echo(json.dumps(response.to_dict(), indent=2))
    elif not stream_:
        click.echo(response.content)
    _report(response)
    if strict and not response.success:
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
def health(probe: bool, as_json: bool) -> None:
    """Each configured provider's status, latency, counts and breaker state.

    \b
    Example:
      sarvanom health --probe
    """
    with _client() as client:
        providers = client.get_provider_health(probe=probe)
        report = client.health_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if not providers:
        click.echo("No provider is configured; only the local stub would answer.")
        return
    click.echo(f"{'provider':<14}{'status':<14}{'latency':>10}{'ok':>6}{'errors':>8}  "
               f"{'breaker':<10}last error")
    for name, h in providers.items():
        click.echo(
            f"{name:<14}{h.status.value:<14}{h.latency_ms:>8.1f}ms{h.success_count:>6}"
            f"{h.error_count:>8}  {h.circuit_state:<10}{h.last_error or ''}"
        )
        if len(h.endpoints) > 1:
            for endpoint in h.endpoints:
                click.echo(
                    f"  {endpoint.url:<38}{endpoint.latency_ms:>8.1f}ms  "
                    f"{endpoint.in_flight} in flight  breaker {endpoint.circuit_state}"
                )
    click.echo(f"available: {', '.join(report['gpu_providers']['available_providers'])}")


@cli.command()
def providers() -> None:
    """The provider chain in order, as the environment configures it, and why each
    provider is in or out. Keys are shown redacted.

    \b
    Example:
      OLLAMA_BASE_URL=http://localhost:11434 sarvanom providers
    """
    from sarvanom_sdk import SarvanError, Settings
    from sarvanom_sdk.chain import explain_chain
    from sarvanom_sdk.settings import redact_key

    try:
        settings = Settings.from_env()
    except SarvanError as error:
        raise _fail_cleanly(error) from None
    details = {
        "ollama_local": f"{settings.ollama_base_url} model={settings.ollama_model}",
        "remote_gpu": f"{settings.gpu_remote_url} protocol={settings.gpu_remote_protocol}"
        + (f" token={redact_key(settings.gpu_remote_token)}" if settings.gpu_remote_token else ""),
        "huggingface": f"{settings.huggingface_base_url} model={settings.huggingface_model} "
        f"key={redact_key(settings.huggingface_api_key)}",
        "openai": f"{settings.openai_base_url} model={settings.openai_model} "
        f"key={redact_key(settings.openai_api_key)}",
        "anthropic": f"{settings.anthropic_base_url} model={settings.anthropic_model} "
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
        click.echo(f"{mark:>3} {entry.provider.value:<13} {entry.reason}  {detail}".rstrip())


def main() -> None:
    """Entry point of the ``sarvanom`` console script."""
    cli()


# Commands in their own modules; each imports its heavy parts (aiohttp...) when it runs.
cli.add_command(emulate)
cli.add_command(demo)
cli.add_command(serve)

if __name__ == "__main__":
    main()

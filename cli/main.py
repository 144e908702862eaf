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

EXIT_NO_PROVIDER = 3


def _fail_cleanly(error: Exception) -> click.ClickException:
    return click.ClickException(str(error))


def _client(kind: str = "sync", **overrides: Any) -> Any:
    from sarvanom_sdk import AsyncSarvanClient, SarvanClient, SarvanError

    try:
        cls = SarvanClient if kind == "sync" else AsyncSarvanClient
        return cls(**overrides)
    except SarvanError as error:
        raise _fail_cleanly(error) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--strict", is_flag=True, help=f"Exit {EXIT_NO_PROVIDER} if no real provider answered.")
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
    from sarvanom_sdk import LLMRequest, SarvanError

    if prompt == "-":
        prompt = sys.stdin.read()
    try:
        request = LLMRequest(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            provider=provider,
            system=system,
            model=model,
        )
    except SarvanError as error:
        raise _fail_cleanly(error) from None
    with _client() as client:
        try:
            response = _stream(client, request) if stream_ else client.complete(request)
        except SarvanError as error:
            raise _fail_cleanly(error) from None
    if as_json:
        click.echo(json.dumps(response.to_dict(), indent=2))
    elif not stream_:
        click.echo(response.content)
    _report(response)
    if strict and not response.success:
        sys.exit(EXIT_NO_PROVIDER)


def _stream(client: Any, request: Any) -> Any:
    stream = client.stream(request)
    with stream:
        for chunk in stream:
            click.echo(chunk.text, nl=False)
    click.echo()
    return stream.response


def _report(response: Any) -> None:
    """The trail and a hint, on stderr."""
    for attempt in response.attempts:
        status = f" HTTP {attempt.status}" if attempt.status else ""
        click.echo(
            f"  {attempt.provider.value:<13} {attempt.outcome.value:<8}"
            f"{attempt.latency_ms:8.1f} ms{status}  {attempt.reason}",
            err=True,
        )
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
    _register_optional_commands()
    cli()


def _register_optional_commands() -> None:
    """Commands that live in their own modules (each imports its heavy parts lazily)."""
    import importlib

    for module_name, command_name in (("sarvanom_cli.emulate", "emulate"),
                                      ("sarvanom_cli.serve", "serve")):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        cli.add_command(getattr(module, command_name))


if __name__ == "__main__":
    main()

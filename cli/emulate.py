"""``sarvanom emulate``: the provider emulator in the foreground, until Ctrl-C.

It prints each emulated provider's base URL and the environment lines that point the SDK
at it. The paid providers' lines are printed commented out: pasting them would enable
paid use in that shell, which is harmless against the emulator but easy to forget.

Output contract (other tools, e.g. ``sarvanom-bench --emulator``, read it): the first
line is ``listening on http://HOST:PORT`` with the address really bound (``0.0.0.0`` for
every interface; one such line per listening socket); then one line per provider,
``  <name>  <base URL>``; then the ``export`` lines. Warnings go to stderr. aiohttp is
imported only when the command runs, never by ``sarvanom --help``.

The emulator accepts any API key, so it listens on loopback only unless ``--allow-remote``
says otherwise (security review F20); then it warns that it is reachable from the network,
and says so plainly when that is every interface (ux review D21). Its memory is bounded:
the emulator's defaults keep the last 1,000 requests with 8 KiB of each body.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any

import click

#: Placeholder keys: the emulator accepts any key unless told otherwise.
EMULATOR_KEYS = {
    "HUGGINGFACE_API_KEY": "hf_emulator",
    "OPENAI_API_KEY": "sk-emulator",
    "ANTHROPIC_API_KEY": "sk-ant-emulator",
}


def free_env(urls: dict[str, str]) -> dict[str, str]:
    """Environment variables that send the SDK's free providers to the emulator."""
    return {
        "OLLAMA_BASE_URL": urls["ollama"],
        "GPU_REMOTE_URL": urls["remote_gpu"],
        "HUGGINGFACE_BASE_URL": urls["huggingface"],
        "HUGGINGFACE_API_KEY": EMULATOR_KEYS["HUGGINGFACE_API_KEY"],
    }


def paid_env(urls: dict[str, str]) -> dict[str, str]:
    """Environment variables that send OpenAI and Anthropic to the emulator (paid use on,
    placeholder keys: nothing leaves the machine)."""
    return {
        "ENABLE_PAID_API": "true",
        "OPENAI_BASE_URL": urls["openai"],
        "OPENAI_API_KEY": EMULATOR_KEYS["OPENAI_API_KEY"],
        "ANTHROPIC_BASE_URL": urls["anthropic"],
        "ANTHROPIC_API_KEY": EMULATOR_KEYS["ANTHROPIC_API_KEY"],
    }


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse (``click.ClickException``, exit status 1) a non-loopback ``--host`` unless
    ``--allow-remote``: the emulator accepts any key, so anyone reaching it can use it."""
    if allow_remote or _is_loopback(host):
        return
    raise click.ClickException(
        f"refusing to listen on {host!r}: --host is not a loopback address, and the "
        "emulator accepts any API key; pass --allow-remote to serve it to the network anyway"
    )


def _is_loopback(host: str) -> bool:
    """The SDK's loopback rule (``localhost``, 127.0.0.0/8, ``::1``), imported on use."""
    from sarvanom_sdk.settings import is_loopback_host

    return is_loopback_host(host.strip())


def bind_warnings(bound: list[str]) -> list[str]:
    """Warnings for listening sockets (``http://address:port``) reachable from elsewhere."""
    from urllib.parse import urlsplit

    notes = []
    for url in bound:
        host = urlsplit(url).hostname or ""
        if host in ("0.0.0.0", "::"):
            notes.append(
                f"warning: listening on every interface ({url}): anyone who can reach this "
                "machine can use the emulator, with any API key"
            )
        elif not _is_loopback(host):
            notes.append(
                f"warning: listening on {url}, reachable from the network: anyone who can "
                "reach it can use the emulator, with any API key"
            )
    return notes


def banner(bound: list[str], urls: dict[str, str]) -> list[str]:
    """The lines printed once the emulator listens (see the module docstring): ``bound``
    are the sockets really listening, ``urls`` maps each emulated provider to its base URL,
    in the order to print."""
    lines = [f"listening on {url}" for url in bound] + [""]
    lines += [f"  {name:<18} {url}" for name, url in urls.items()]
    lines += ["", "# Point the SDK's free providers at the emulator:"]
    lines += [f"export {key}={value}" for key, value in free_env(urls).items()]
    lines += ["# The paid providers too (any key passes; nothing leaves this machine):"]
    lines += [f"# export {key}={value}" for key, value in paid_env(urls).items()]
    lines += [
        "# Variants: GPU_REMOTE_URL=" + urls["remote_gpu_openai"] + " GPU_REMOTE_PROTOCOL=openai",
        "#           HUGGINGFACE_BASE_URL=" + urls["huggingface_task"] + " HUGGINGFACE_API=task",
        "",
        "Ctrl-C to stop.",
    ]
    return lines


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (loopback unless --allow-remote).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host that is not loopback (the emulator accepts any key).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port (0: any free port).")
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait before every answer.")
@click.option("--fault", "faults", multiple=True, metavar="PROVIDER=KIND[:ARG]...",
              callback=lambda _ctx, param, value: _parse_faults(param, value),
              help="Inject a fault (repeatable), e.g. ollama=hang, huggingface=http:503:2, "
                   "openai=http:429:times=3. Kinds and arguments: the Fault constructors "
                   "of sarvanom_sdk.testing.")
def emulate(
    host: str, allow_remote: bool, port: int, latency: float, faults: tuple[Any, ...]
) -> None:
    """Serve every provider's wire protocol on loopback (OpenAI, Anthropic, Ollama,
    Hugging Face, the remote GPU box) until Ctrl-C, and print the environment lines that
    point the SDK at it.

    \b
    Example:
      sarvanom emulate --port 8765 --latency 0.05
      # in another shell, paste the printed export lines, then:
      sarvanom complete "hello"
      # watch the chain fall over:
      sarvanom emulate --fault ollama=hang --fault huggingface=http:503:2
    """
    import asyncio

    check_bind(host, allow_remote)
    try:
        asyncio.run(_serve(host, port, latency, faults))
    except KeyboardInterrupt:
        pass
    except OSError as error:  # the port is taken, the host cannot be bound
        reason = error.strerror or error
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None
    click.echo("emulator stopped", err=True)


def _parse_faults(param: Any, values: tuple[str, ...]) -> tuple[Any, ...]:
    """The ``--fault`` values as fault specs, or a usage error naming the flag."""
    from sarvanom_sdk.testing.fault_spec import parse_fault

    specs = []
    for value in values:
        try:
            specs.append(parse_fault(value))
        except ValueError as error:
            raise click.BadParameter(str(error), param=param) from None
    return tuple(specs)


async def _serve(host: str, port: int, latency: float, faults: tuple[Any, ...] = ()) -> None:
    """Run the emulator on this thread's event loop until SIGINT or SIGTERM."""
    import asyncio

    from sarvanom_sdk.testing import PROVIDERS, ProviderEmulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    _on_signals(loop, stop.set)
    async with ProviderEmulator(host, port, latency=latency) as emu:
        for spec in faults:
            emu.inject(spec.provider, spec.fault, **spec.schedule)
            click.echo(f"fault: {spec.text}", err=True)
        urls = {name: emu.url_for(name) for name in PROVIDERS}
        for line in banner(emu.bound, urls):
            click.echo(line)
        for line in bind_warnings(emu.bound):
            click.secho(line, fg="yellow", err=True)
        await stop.wait()


def _on_signals(loop: Any, callback: Any) -> None:
    """Stop cleanly on SIGTERM (and SIGINT) where the platform lets the loop catch them."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Windows has no loop signal handlers; a non-main thread cannot install them.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, callback)

"""``sarvanom chat``: a REPL over the provider chain, keeping the conversation's history.

Each line is a user turn; the whole conversation so far goes out as ``messages``, and the
answer streams to stdout as it arrives (``--no-stream``: printed whole). The stub's text is
shown but never kept in the history (it is not a model's answer). Commands: ``/trail`` (the
last answer's attempt trail), ``/reset`` (forget the history), ``/help``, ``/quit``.

Reads standard input line by line, so it can be driven by a pipe or a test; on a terminal
the prompt is shown and ``readline`` (when available) gives line editing and recall.
End of input (Ctrl-D) ends the session; Ctrl-C while an answer streams stops that answer.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

HELP = (
    "Commands: /trail (the last answer's attempt trail), /reset (forget the history), "
    "/help, /quit. Ctrl-D ends the session."
)


@click.command("chat")
@click.option("--provider", help="Pin one provider (e.g. ollama_local).")
@click.option("--model", help="Override the pinned provider's model (needs --provider).")
@click.option("--system", help="A system prompt for the whole conversation.")
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=0.7, show_default=True)
@click.option("--timeout", type=float, help="Seconds for each answer, every provider included.")
@click.option("--no-stream", "no_stream", is_flag=True, help="Print each answer whole.")
@click.option(
    "--strict", is_flag=True, help="Never show the local stub's text (same as "
    "SARVANOM_FALLBACK_TO_STUB=false)."
)
def chat(
    provider: str | None,
    model: str | None,
    system: str | None,
    max_tokens: int,
    temperature: float,
    timeout: float | None,
    no_stream: bool,
    strict: bool,
) -> None:
    """Talk to the provider chain; the conversation is kept and sent with every turn.

    \b
    Examples:
      sarvanom chat
      sarvanom chat --provider ollama_local --system "Answer in one sentence."
      printf 'hi\\n/trail\\n' | sarvanom chat
    """
    from sarvanom_sdk import ProviderName, SarvanError

    from .main import _client, _request_error

    try:
        pinned = ProviderName.parse(provider) if provider is not None else None
    except SarvanError as error:
        raise _request_error(error) from None
    options = {
        "provider": pinned, "model": model, "system": system, "max_tokens": max_tokens,
        "temperature": temperature, "timeout": timeout,
    }
    interactive = sys.stdin.isatty()
    if interactive:
        _enable_line_editing()
        click.echo(f"sarvanom chat. {HELP}", err=True)
    with _client("sync", **({"fallback_to_stub": False} if strict else {})) as client:
        session = ChatSession(client, options, stream=not no_stream)
        while True:
            line = _read_line(interactive)
            if line is None:
                break
            if not session.handle(line.strip()):
                break


class ChatSession:
    """One conversation: its history, its last trail, and what each input line does."""

    def __init__(self, client: Any, options: dict[str, Any], *, stream: bool) -> None:
        self.client = client
        self.options = options
        self.stream = stream
        self.history: list[dict[str, str]] = []
        self.last_attempts: tuple[Any, ...] | None = None

    def handle(self, line: str) -> bool:
        """Act on one input line; False when the session should end."""
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line == "/help":
            click.echo(HELP, err=True)
        elif line == "/trail":
            self._show_trail()
        elif line == "/reset":
            self.history.clear()
            click.echo("(history cleared)", err=True)
        elif line.startswith("/"):
            click.echo(f"Error: unknown command {line.split()[0]!r}. {HELP}", err=True)
        else:
            self._turn(line)
        return True

    def _turn(self, text: str) -> None:
        from sarvanom_sdk import AllProvidersFailed, LLMRequest, SarvanError

        messages = [*self.history, {"role": "user", "content": text}]
        try:
            # LLMRequest parses plain {"role", "content"} dicts into Message objects; the
            # field's annotation is the parsed type, so the wider input cannot be expressed
            request = LLMRequest(messages=messages, **self.options)  # type: ignore[arg-type]
            response = self._answer(request)
        except AllProvidersFailed as error:
            self.last_attempts = error.attempts
            click.echo(f"Error: {error}", err=True)
            return
        except SarvanError as error:
            click.echo(f"Error: {error}", err=True)
            return
        except KeyboardInterrupt:
            click.echo("\n(answer interrupted)", err=True)
            return
        self.last_attempts = response.attempts
        if response.provider.value == "local_stub":
            click.secho("(the local stub answered: not kept in the history; /trail says why)",
                        fg="yellow", err=True)
            return
        self.history = [*messages, {"role": "assistant", "content": response.content}]

    def _answer(self, request: Any) -> Any:
        if not self.stream:
            response = self.client.complete(request)
            click.echo(response.content)
            return response
        stream = self.client.stream(request)
        with stream:
            for chunk in stream:
                click.echo(chunk.text, nl=False)
        click.echo()
        return stream.response

    def _show_trail(self) -> None:
        from .main import _report_trail

        if self.last_attempts is None:
            click.echo("(no answer yet)", err=True)
            return
        _report_trail(self.last_attempts)


def _read_line(interactive: bool) -> str | None:
    """The next input line, or None at end of input."""
    if interactive:
        try:
            return input("you> ")
        except EOFError:
            click.echo(err=True)
            return None
    line = sys.stdin.readline()
    return line if line else None


def _enable_line_editing() -> None:
    """Line editing and recall of earlier lines for ``input()``, where available."""
    with contextlib.suppress(ImportError):  # Windows without pyreadline
        import readline  # noqa: F401 - importing it is what enables it

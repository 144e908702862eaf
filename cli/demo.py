"""``sarvanom demo``: a short, scripted tour of the provider chain for a newcomer.

It starts the provider emulator in this process (loopback, nothing leaves the machine, no
key is real), puts Ollama first and Hugging Face second, and shows four things in plain
words, each with the attempt trail that proves it:

1. fallback: Ollama refuses connections, Hugging Face answers;
2. the circuit breaker: after three failures Ollama is skipped without a call;
3. a stale answer: every provider is down and the cached answer has expired, so the SDK
   returns that answer, marked stale, rather than the stub's text;
4. hedging: Ollama is slow, a backup request to Hugging Face answers first, and the slow
   call is cancelled.

It takes a few seconds (the hedging step waits out one slow call). Each step checks that
the chain did what the text says; if not, the demo says so and exits 1 (which also makes it
a test of the SDK). Time inside the breaker and cache steps is a fake clock's, so no step
sleeps through a reset timeout or a TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

HF_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
SLOW_OLLAMA = 1.5  # seconds: the hedging step's slow provider
HEDGE_AFTER = 0.1  # seconds before the backup request


class DemoFailed(click.ClickException):
    """A step saw the chain behave otherwise than it describes."""


@click.command()
def demo() -> None:
    """A short tour of the provider chain against an in-process emulator: fallback, the
    circuit breaker, a stale answer and hedging, told in plain words. Nothing leaves
    this machine.

    \b
    Example:
      sarvanom demo
    """
    from sarvanom_sdk.testing import ProviderEmulator

    started = time.monotonic()
    say = click.echo
    say("A tour of the provider chain, against the provider emulator on this machine.")
    with ProviderEmulator() as emu:
        say(f"Chain: ollama_local ({emu.url_for('ollama')}) -> huggingface -> local_stub\n")
        for number, step in enumerate(STEPS, 1):
            emu.clear()
            emu.reset()
            title, run = step
            say(click.style(f"{number}. {title}", bold=True))
            run(emu, say)
            say("")
    say(f"Done in {time.monotonic() - started:.1f} s. Try it on your own providers: "
        "sarvanom providers, sarvanom complete \"...\".")  # fmt: skip


# -- the steps --------------------------------------------------------------------------------
Say = Callable[[str], Any]


def _fallback(emu: Any, say: Say) -> None:
    from sarvanom_sdk.testing import Fault

    say("   Ollama refuses every connection. The request moves on to the next provider.")
    emu.inject("ollama", Fault.refuse())
    with _client(emu) as client:
        response = client.complete("What is a circuit breaker?")
    _trail(response, say)
    _expect(response.provider.value == "huggingface", "Hugging Face should have answered")
    say(f"   -> answered by {response.provider.value}: {response.content!r}")


def _breaker(emu: Any, say: Say) -> None:
    from sarvanom_sdk.testing import Fault

    say("   Ollama answers 503 three times in a row: its circuit breaker opens, and the")
    say("   next requests skip it without a network call, for the reset timeout (300 s).")
    emu.inject("ollama", Fault.http(503))
    clock = _clock()
    with _client(emu, clock=clock, circuit_fail_max=3) as client:
        for n in range(1, 4):
            response = client.complete(f"request {n}")
            failure = response.attempts[0].reason.split(":")[0]
            say(f"   request {n}: ollama_local {failure}; answered by {response.provider.value}")
        calls = emu.request_count("ollama", endpoint="generate")
        response = client.complete("request 4")
        _trail(response, say)
        _expect(response.attempts[0].outcome.value == "skipped", "Ollama should be skipped")
        _expect(emu.request_count("ollama", endpoint="generate") == calls,
                "a call reached Ollama through an open breaker")  # fmt: skip
        say(f"   -> Ollama received {calls} calls, not {calls + 1}. After the reset timeout one "
            "trial call tests it again:")  # fmt: skip
        emu.clear()
        clock.advance(301)
        response = client.complete("request 5, five minutes later")
        _trail(response, say)
        _expect(response.provider.value == "ollama_local", "the trial call should succeed")
        say("   -> the trial succeeded; the breaker is closed again.")


def _stale(emu: Any, say: Say) -> None:
    from sarvanom_sdk.testing import Fault

    say("   An answer is cached for 60 s. Two minutes later every provider is down: the")
    say("   expired answer comes back, marked stale, instead of the stub's apology.")
    clock = _clock()
    with _client(emu, clock=clock, cache_ttl_seconds=60) as client:
        first = client.complete("What is the capital of France?")
        say(f"   first ask: answered by {first.provider.value}, now cached")
        clock.advance(120)
        emu.inject("ollama", Fault.refuse())
        emu.inject("huggingface", Fault.http(503))
        again = client.complete("What is the capital of France?")
    _trail(again, say)
    _expect(again.stale and again.content == first.content, "a stale answer was expected")
    say(f"   -> stale={again.stale}: {again.content!r}")


def _hedging(emu: Any, say: Say) -> None:
    from sarvanom_sdk.testing import Fault

    say(f"   Ollama takes {SLOW_OLLAMA:g} s to answer. With hedging on, a backup request goes to")
    say(f"   Hugging Face after {HEDGE_AFTER:g} s; the first answer wins, the other is cancelled.")
    emu.inject("ollama", Fault.delay(SLOW_OLLAMA))
    with _client(emu, hedge=True, hedge_delay=HEDGE_AFTER) as client:
        started = time.monotonic()
        response = client.complete("Why hedge requests?")
        took = time.monotonic() - started
    _trail(response, say)
    _expect(response.provider.value == "huggingface", "the hedge should have won")
    lost = [a.reason for a in response.attempts if a.provider.value == "ollama_local"]
    _expect(lost == ["hedge lost: cancelled"], "the slow call should have been cancelled")
    say(f"   -> answered by {response.provider.value} in {took * 1000:.0f} ms, without waiting "
        f"{SLOW_OLLAMA:g} s for Ollama.")  # fmt: skip


STEPS: tuple[tuple[str, Callable[[Any, Say], None]], ...] = (
    ("Fallback", _fallback),
    ("Circuit breaker", _breaker),
    ("Stale answer", _stale),
    ("Hedging", _hedging),
)


# -- helpers ----------------------------------------------------------------------------------
@contextmanager
def _client(emu: Any, **overrides: Any) -> Iterator[Any]:
    """A sync client over the emulated Ollama then Hugging Face, ignoring the environment
    (placeholder key, generous timeouts, no retries, no cache unless asked)."""
    from sarvanom_sdk import ProviderName, SarvanClient

    settings: dict[str, Any] = {
        "ollama_base_url": emu.url_for("ollama"),
        "huggingface_base_url": emu.url_for("huggingface"),
        "huggingface_api_key": "hf_emulator",
        "huggingface_model": HF_MODEL,
        "providers": (ProviderName.OLLAMA_LOCAL, ProviderName.HUGGINGFACE),
        "max_retries": 0,
        "attempt_timeout": 10.0,
        "total_timeout": 20.0,
        "cache_ttl_seconds": 0,
        "max_concurrency": "ollama_local=4,huggingface=4",
        **overrides,
    }
    client = SarvanClient(env_file=None, **settings)
    try:
        yield client
    finally:
        client.close()


def _clock() -> Any:
    """A fake clock that starts now (so "circuit open until ..." reads true)."""
    from datetime import datetime, timezone

    from sarvanom_sdk.clock import FakeClock

    return FakeClock(datetime.now(timezone.utc).replace(microsecond=0))


def _trail(response: Any, say: Say) -> None:
    for attempt in response.attempts:
        say(f"     {attempt.provider.value:<13} {attempt.outcome.value:<8} {attempt.reason}")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(f"the demo did not go as described: {what}")

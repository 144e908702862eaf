"""Issue 13's sixteen provider-fault scenarios, as data, and one way to run each on the sync
client, the async client or the gateway (with the official ``openai`` client): shared by
``tests/gateway/test_failover_scenarios.py`` and ``benchmarks/failover_scenarios.py``.

Every scenario puts a faulty provider first and a healthy one second (OpenAI then
Anthropic, emulated), with stream recovery ``continue``, and sends "Tell me a story". The
promise it checks: the complete answer from some provider, or the documented clean error —
never a truncated answer reported as success. :func:`classify` reads an outcome:

* ``answer``: no error, and the text a client keeps ends with the whole answer of the
  provider that answered (a continued stream: the first provider's part, then the
  second's continuation; a restarted one: only what follows the restart);
* ``error:<code>``: a typed, documented error (``content_filter``, ``stream_interrupted``,
  ``no_provider_available``...);
* ``TRUNCATED``: no error, but not a whole answer — the failure the issue forbids.

"Attempts on the first provider": the generation requests it received (the emulator's
count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from reliability.helpers import chain, fresh

from sarvanom_sdk import AsyncSarvanClient, ContentFiltered, SarvanError, StreamInterrupted
from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.types import ProviderName

PROMPT = "Tell me a story"
KINDS = ("sync", "async", "gateway")
#: Timers short enough that the slow scenarios take seconds, far above what a healthy
#: emulated answer takes on a loaded machine.
TIMERS: dict[str, Any] = {
    "attempt_timeout": 3.0,
    "first_token_timeout": 3.0,
    "stream_idle_timeout": 2.0,
    "total_timeout": 40.0,
    "connect_timeout": 5.0,
    "max_retries": 1,
    "cache_ttl_seconds": 0,
    "stream_recovery": "continue",
    "breaker_probe_interval": 0.5,
}


@dataclass(frozen=True)
class Scenario:
    """``arm`` injects the faults; ``error``: the documented error code expected instead of
    an answer (None: an answer); ``prefill``: the second provider is an OpenAI-compatible
    server that declares prefill support (and refuses it)."""

    name: str
    arm: Callable[[ProviderEmulator], Any]
    primary: str = "openai"
    fallback: str = "anthropic"
    error: str | None = None
    prefill: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


def _flap(emu: ProviderEmulator) -> None:
    emu.flap("openai", seconds=FLAP_DOWN)


FLAP_DOWN = 3.0
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("429 with Retry-After", lambda e: e.inject("openai", Fault.http(429, retry_after=1))),
    Scenario("429 without Retry-After", lambda e: e.inject("openai", Fault.http(429))),
    Scenario("500 once", lambda e: e.inject("openai", Fault.http(500), times=1)),
    Scenario("persistent 503", lambda e: e.inject("openai", Fault.http(503))),
    Scenario("TCP reset", lambda e: e.inject("openai", Fault.refuse())),
    Scenario("no response", lambda e: e.inject("openai", Fault.hang())),
    Scenario("slow first token", lambda e: e.inject("openai", Fault.delay(30))),
    Scenario("stream cut mid-answer", lambda e: e.inject("openai", Fault.cut_stream())),
    Scenario("stream stall", lambda e: e.inject("openai", Fault.keepalive_stall(1, 60))),
    Scenario("malformed SSE event", lambda e: e.inject("openai", Fault.malformed_event())),
    Scenario(
        "complete without [DONE]",
        lambda e: e.inject("openai", Fault.complete_without_terminator()),
    ),
    Scenario("context-length 400", lambda e: e.inject("openai", Fault.context_length())),
    Scenario(
        "content-filter 400",
        lambda e: e.inject("openai", Fault.content_filter("prompt")),
        error="content_filter",
    ),
    Scenario(
        "fallback rejects prefill",
        lambda e: (
            e.inject("anthropic", Fault.cut_stream()),
            e.inject("openai", Fault.prefill_rejection()),
        ),
        primary="anthropic",
        fallback="openai",
        prefill=True,
    ),
    Scenario("primary flaps down then up", _flap),
    Scenario(
        "failover accounting",
        lambda e: e.inject("openai", Fault.http(500)),
        settings={"circuit_fail_max": 10},
    ),
)
FLAPPING = "primary flaps down then up"


def answer_of(wire: str) -> str:
    """The emulator's whole answer to :data:`PROMPT` from ``wire``."""
    return f"Emulated {wire} answer to: {PROMPT}"


_WIRE = {ProviderName.OPENAI: "openai", ProviderName.ANTHROPIC: "anthropic"}


@dataclass
class Outcome:
    """One request's result: the text a client keeps, who answered, the error code."""

    text: str = ""
    provider: str | None = None
    error: str | None = None
    seconds: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return classify(self)


def classify(outcome: Outcome) -> str:
    if outcome.error is not None:
        return f"error:{outcome.error}"
    if outcome.provider in ("openai", "anthropic") and outcome.text.endswith(
        answer_of(outcome.provider)
    ):
        return "answer"
    return "TRUNCATED"


def settings_for(emu: ProviderEmulator, scenario: Scenario) -> dict[str, Any]:
    return chain(emu, scenario.primary, scenario.fallback, **{**TIMERS, **scenario.settings})


def declare_prefill(client: Any) -> None:
    """The OpenAI-compatible provider declares prefill support (no setting exposes it: a
    server configured as accepting prefill that then refuses it)."""
    client.router.endpoints[ProviderName.OPENAI][0].adapter.accepts_prefill = True


# -- asking -----------------------------------------------------------------------------------
class Asker:
    """One client kind set up for one scenario: ``ask(stream)`` -> :class:`Outcome`."""

    def ask(self, stream: bool) -> Outcome:
        raise NotImplementedError


class DriverAsker(Asker):
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def ask(self, stream: bool) -> Outcome:
        started = time.monotonic()
        out = Outcome()
        try:
            if stream:
                streamed = self.driver.stream(PROMPT)
                if streamed.error is not None:
                    raise streamed.error
                kept: list[str] = []
                for chunk in streamed.chunks:
                    if chunk.restart:
                        kept.clear()
                    kept.append(chunk.text)
                out.text = "".join(kept)
                response = streamed.response
            else:
                response = self.driver.complete(PROMPT)
                out.text = response.content
            out.provider = _WIRE.get(response.provider, response.provider.value)
            out.attempts = [a.to_dict() for a in response.attempts]
        except ContentFiltered:
            out.error = "content_filter"
        except StreamInterrupted:
            out.error = "stream_interrupted"
        except SarvanError as error:
            out.error = type(error).__name__
        out.seconds = time.monotonic() - started
        return out


class GatewayAsker(Asker):
    """The official ``openai`` client against the gateway. A streamed answer's text is
    what the client joined from the deltas, cut at a restart comment (read from the raw
    body beside it: the official client skips comments)."""

    def __init__(self, url: str) -> None:
        import openai

        self.url = url
        self.client = openai.OpenAI(
            base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60.0
        )

    def ask(self, stream: bool) -> Outcome:
        import openai

        started = time.monotonic()
        out = Outcome()
        try:
            raw = self.client.chat.completions.with_raw_response.create(
                model="sarvanom/auto", messages=[{"role": "user", "content": PROMPT}],
                stream=stream,
            )
            out.provider = raw.headers.get("x-sarvanom-provider")
            if stream:
                kept: list[str] = []
                for chunk in raw.parse():
                    out.provider = chunk.model.split("/")[1]
                    kept.extend(c.delta.content or "" for c in chunk.choices)
                out.text = "".join(kept)
            else:
                out.text = raw.parse().choices[0].message.content or ""
        except openai.APIError as error:
            out.error = str(getattr(error, "code", None) or type(error).__name__)
        out.seconds = time.monotonic() - started
        return out


@contextmanager
def asker(kind: str, emu: ProviderEmulator, scenario: Scenario) -> Iterator[Asker]:
    """A fresh client of ``kind`` (new breakers) for ``scenario``, its faults armed."""
    from parity.drivers import open_driver

    fresh(emu)
    settings = settings_for(emu, scenario)
    if kind == "gateway":
        from gateway_helpers import ThreadedGateway

        from sarvanom_sdk.gateway import create_app

        client = AsyncSarvanClient(**settings, env_file=None)
        if scenario.prefill:
            declare_prefill(client)
        with ThreadedGateway(create_app(client)) as gateway:
            scenario.arm(emu)
            yield GatewayAsker(gateway.url)
        return
    with open_driver(kind, **settings) as driver:
        if scenario.prefill:
            declare_prefill(driver.client)
        scenario.arm(emu)
        yield DriverAsker(driver)


def first_attempts(emu: ProviderEmulator, scenario: Scenario) -> int:
    return emu.request_count(scenario.primary, endpoint="generate")


def run_flapping(ask: Asker, stream: bool, every: float = 0.4, after: int = 6) -> tuple[
    list[Outcome], int | None
]:
    """Ask every ``every`` seconds while the primary is down (:data:`FLAP_DOWN` s) and
    ``after`` more times once it is up: every outcome, and how many requests after its
    recovery the primary answered again (None: it did not)."""
    outcomes: list[Outcome] = []
    started = time.monotonic()
    back: int | None = None
    up_count = 0
    while True:
        outcome = ask.ask(stream)
        outcomes.append(outcome)
        if time.monotonic() - started >= FLAP_DOWN:
            up_count += 1
            if back is None and outcome.provider == "openai":
                back = up_count
            if up_count >= after:
                return outcomes, back
        time.sleep(every)


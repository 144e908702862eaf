"""The fault matrix: every fault the emulator injects x every wire provider x both clients
x ``complete()`` and ``stream()``, generated from the tables below.

Each case puts the faulty provider first and a healthy emulated provider second (for a
fault that never answers, the local stub: see below), then sends three requests at once (a
hung provider costs one attempt timeout for all three, not three), and checks what the SDK
promises:

* every request ends with the second provider's answer, within the total deadline plus a
  small margin, its trail showing the faulty provider failed (with a reason that names the
  fault, and the HTTP status where there is one) and the next one ok; a stream shows the
  caller nothing from the faulty provider;
* except a stream cut after its first content arrived: that ends with
  :class:`StreamInterrupted` holding exactly the text delivered, never a clean finish and
  never a second provider spliced on;
* the provider's health counts the three failures and keeps the last reason;
* three failures open its breaker: the fourth request skips it without a network call;
* a 429 with Retry-After holds its provider out from the first one, without a call.

Timing holds on a busy machine (issue 12): a fault that fails at once never waits for a
timer, so its case runs with patient timeouts that a loaded machine cannot reach. A fault
that never answers (hang, delay, trickle) costs one attempt timeout (:data:`SLOW_TIMEOUT`),
and the case proves that this timer ended the faulty attempt (not before it, and long
before the total deadline) and that the three hung calls overlapped. Its backup is the
local stub, which does no I/O: beside two CPU hogs the test process was once frozen for
3.3 s, so any network answer bounded by a short attempt timeout can miss it; falling over
to a network provider is what the fast cases prove, for every fault. Nothing here depends
on how fast an idle machine is.

Faults that only change a streamed reply (``no_terminator``) are generated only for
streamed requests to protocols that stream; the seed's remote GPU and Hugging Face's task
API cannot stream, so the SDK asks them for a whole reply even for ``stream()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

import pytest
from parity.drivers import KINDS, Driver, Streamed, open_driver

from reliability.helpers import (
    MARGIN,
    TIMED_OUT,
    WIRES,
    Wire,
    backup_for,
    chain,
    fresh,
    stopwatch,
    trail,
)
from sarvanom_sdk import HealthStatus, StreamInterrupted
from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.testing.faults import GENERATE_ONLY, FaultKind

HTTP_STATUSES = (500, 502, 503, 529, 401, 403)


@dataclass(frozen=True)
class FaultSpec:
    """A fault and what the faulty provider's failed attempt must say about it."""

    name: str
    fault: Fault
    reason: str  # a regex the attempt's reason matches
    status: int | None = None  # the HTTP status the attempt records
    slow: bool = False  # costs an attempt timeout (marked ``load``)
    streamed_only: bool = False  # changes nothing but a streamed reply
    cuts_stream: bool = False  # a streamed reply fails after content was delivered


FAULTS: tuple[FaultSpec, ...] = (
    FaultSpec("refuse", Fault.refuse(), r"(?i)closed|disconnect|reset|refused"),
    FaultSpec("hang", Fault.hang(), TIMED_OUT, slow=True),
    FaultSpec("delay", Fault.delay(30), TIMED_OUT, slow=True),
    FaultSpec("trickle", Fault.trickle(20, chunk_bytes=4), TIMED_OUT, slow=True),
    *(FaultSpec(f"http_{s}", Fault.http(s), rf"^HTTP {s}\b", status=s) for s in HTTP_STATUSES),
    FaultSpec("malformed_json", Fault.malformed_json(), r"(?i)malformed"),
    FaultSpec("html", Fault.html(), r"(?i)html|malformed|terminator"),
    FaultSpec("empty", Fault.empty(), r"(?i)empty|terminator|before any content"),
    FaultSpec("cut_stream", Fault.cut_stream(), r"(?i)connection|closed|lost", cuts_stream=True),
    FaultSpec(
        "no_terminator",
        Fault.no_terminator(),
        r"(?i)terminator|finish",
        streamed_only=True,
        cuts_stream=True,
    ),
    FaultSpec("stream_error", Fault.stream_error(), r"(?i)^HTTP 5\d\d\b|reported an error"),
    FaultSpec("oversized", Fault.oversized(64 * 1024), r"(?i)limit"),
)
#: A 429 with Retry-After keeps its provider out from the first one: no breaker needed.
RATE_LIMITED = FaultSpec(
    "http_429_retry_after", Fault.http(429, retry_after=120), r"^HTTP 429\b", status=429
)
OPS = ("complete", "stream")
AT_ONCE = 3  # = the breaker's fail_max
MATRIX = {
    "cache_ttl_seconds": 0,
    "max_response_bytes": 4096,
    "circuit_fail_max": AT_ONCE,
    "connect_timeout": 5.0,
}
#: For faults that fail at once: no timer is meant to fire, so none can on a loaded box.
PATIENT = {"attempt_timeout": 20.0, "first_token_timeout": 20.0, "total_timeout": 30.0}
#: What a hung provider costs each slow case (84 cases: about two minutes). Only lower
#: bounds and the total deadline below are checked against it, so a loaded machine can
#: make it late, never wrong.
SLOW_TIMEOUT = 1.5
SLOW = {
    "attempt_timeout": SLOW_TIMEOUT,
    "first_token_timeout": SLOW_TIMEOUT,
    "total_timeout": SLOW_TIMEOUT + 30.0,
}
STUB = "local_stub"


def timeouts(spec: FaultSpec) -> dict[str, float]:
    return SLOW if spec.slow else PATIENT


#: Issue 13 items 1 and 5: an SSE stream complete but for its terminator, and one
#: malformed event in it, are answers, not provider failures.
_SSE_SURVIVES = ("no_terminator", "malformed_json")


def _cases() -> Iterator[object]:
    for spec in FAULTS:
        for wire in WIRES.values():
            for op in OPS:
                streamed = op == "stream" and wire.streams
                if spec.streamed_only and not streamed:
                    continue
                if streamed and wire.name != "ollama" and spec.name in _SSE_SURVIVES:
                    continue  # not a fault on an SSE stream: tests/parity/test_failover.py
                marks = [pytest.mark.load] if spec.slow else []
                yield pytest.param(spec, wire, op, id=f"{spec.name}-{wire.name}-{op}", marks=marks)


CASES = list(_cases())


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def _send(driver: Driver, op: str, count: int) -> list[Streamed]:
    """``count`` requests at once; complete() answers wrapped like streams."""
    prompts = [f"fault matrix request {i}" for i in range(count)]
    if op == "stream":
        return driver.stream_many(prompts)
    return [Streamed(response=r) for r in driver.complete_many(prompts)]


def _interrupted(spec: FaultSpec, wire: Wire, op: str) -> bool:
    return spec.cuts_stream and op == "stream" and wire.streams


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("spec", "wire", "op"), CASES)
def test_a_faulty_provider_is_survived_counted_and_then_skipped(
    emu: ProviderEmulator, kind: str, spec: FaultSpec, wire: Wire, op: str
) -> None:
    fresh(emu)
    backup = WIRES[backup_for(wire.name)]
    names = (wire.name,) if spec.slow else (wire.name, backup.name)  # slow: then the stub
    faulty, healthy = wire.provider.value, STUB if spec.slow else backup.provider.value
    emu.inject(wire.name, spec.fault)
    settings = chain(emu, *names, **MATRIX, **timeouts(spec))
    deadline = settings["total_timeout"] + MARGIN
    with open_driver(kind, **settings) as driver:
        with stopwatch() as took:
            results = _send(driver, op, AT_ONCE)
        assert took[0] < deadline, f"{AT_ONCE} requests at once took {took[0]:.2f}s"
        if spec.slow:
            _check_ended_by_the_attempt_timer(emu, wire, results, settings["total_timeout"])

        reasons = []
        for result in results:
            if _interrupted(spec, wire, op):
                reasons.append(_check_interrupted(result, spec, faulty))
            else:
                reasons.append(_check_fell_over(result, spec, faulty, healthy))
        assert emu.request_count(wire.name, endpoint="generate") == AT_ONCE

        health = driver.health()[faulty]
        assert health.error_count == AT_ONCE
        assert health.last_error in reasons
        if _interrupted(spec, wire, op):
            assert emu.request_count(backup.name) == 0  # never spliced onto another provider
        assert health.success_count == 0
        assert (health.status, health.circuit_state) == (HealthStatus.CIRCUIT_OPEN, "open")

        fourth = driver.complete("the fourth request")
        assert emu.request_count(wire.name, endpoint="generate") == AT_ONCE, "a call got through"
        assert trail(fourth) == [(faulty, "skipped"), (healthy, "ok")]
        assert fourth.attempts[0].reason.startswith("circuit open until")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES)
def test_a_429_with_retry_after_holds_its_provider_out_from_the_first_one(
    emu: ProviderEmulator, kind: str, wire: Wire, op: str
) -> None:
    fresh(emu)
    backup = WIRES[backup_for(wire.name)]
    faulty, healthy = wire.provider.value, backup.provider.value
    emu.inject(wire.name, RATE_LIMITED.fault)
    settings = chain(emu, wire.name, backup.name, **MATRIX, **PATIENT)
    with open_driver(kind, **settings) as driver:
        (first,) = _send(driver, op, 1)
        reason = _check_fell_over(first, RATE_LIMITED, faulty, healthy)

        for later in _send(driver, op, AT_ONCE):
            assert later.response is not None
            assert trail(later.response) == [(faulty, "skipped"), (healthy, "ok")]
            assert later.response.attempts[0].reason.startswith("rate limited until")
        assert emu.request_count(wire.name, endpoint="generate") == 1
        health = driver.health()[faulty]
        assert (health.error_count, health.last_error) == (1, reason)


def _check_ended_by_the_attempt_timer(
    emu: ProviderEmulator, wire: Wire, results: list[Streamed], total: float
) -> None:
    """Each hung attempt ended by its own timer: not before it, and long before the total
    deadline (a late timer on a loaded machine is still that timer); and the three calls
    overlapped: all reached the provider before the first timer could fire."""
    for result in results:
        waited = _failed_attempt(result).latency_ms / 1000
        assert SLOW_TIMEOUT * 0.95 <= waited < total / 2, waited
    arrivals = [r.received_at for r in emu.requests(wire.name) if r.endpoint == "generate"]
    assert len(arrivals) == AT_ONCE
    assert max(arrivals) - min(arrivals) < SLOW_TIMEOUT, "the hung calls did not overlap"


def _failed_attempt(result: Streamed) -> Any:
    """The faulty provider's attempt, from the response or the error that ended the call."""
    attempts = result.response.attempts if result.response is not None else result.error.attempts
    return attempts[0]


def _check_fell_over(result: Streamed, spec: FaultSpec, faulty: str, healthy: str) -> str:
    """The request ended with the healthy provider's answer; returns the failure reason."""
    assert result.error is None, f"the request failed: {result.error!r}"
    response = result.response
    assert response is not None and response.success is (healthy != STUB)
    assert response.provider.value == healthy
    assert trail(response) == [(faulty, "failed"), (healthy, "ok")]
    failed = response.attempts[0]
    assert re.search(spec.reason, failed.reason), failed.reason
    if spec.status is not None:
        assert failed.status == spec.status
    if result.chunks:  # a stream: the faulty provider's failure was not seen
        assert result.providers == {healthy}
        assert result.text == response.content
    return failed.reason


def _check_interrupted(result: Streamed, spec: FaultSpec, faulty: str) -> str:
    """The committed stream ended with StreamInterrupted and what it had delivered."""
    error = result.error
    assert isinstance(error, StreamInterrupted), f"not interrupted: {result!r}"
    assert result.response is None
    assert error.partial_text == result.text != ""
    assert result.providers == {faulty}
    last = error.attempts[-1]
    assert (last.provider.value, last.outcome.value) == (faulty, "failed")
    assert re.match(rf"stream cut after {len(result.text)} chars: ", last.reason), last.reason
    assert re.search(spec.reason, last.reason), last.reason
    return last.reason


def test_the_matrix_covers_every_fault_wire_and_operation() -> None:
    """Guards the generator: every fault kind the emulator has, on every provider, but
    issue 13's: what the SDK does with those is not "fall over" (a complete stream without
    its terminator is an answer, a content filter is raised to the caller...), and they
    exist only on the providers that really show them; tests/emulator/test_issue13_faults.py
    pins their shapes and the SDK's own tests their handling."""
    covered = {spec.fault.kind for spec in (*FAULTS, RATE_LIMITED)}
    assert covered | GENERATE_ONLY == set(get_args(FaultKind))
    assert not covered & GENERATE_ONLY
    streamed_only = sum(1 for s in FAULTS if s.streamed_only)
    non_streaming = sum(1 for w in WIRES.values() if not w.streams)
    expected = len(FAULTS) * len(WIRES) * len(OPS) - streamed_only * (len(WIRES) + non_streaming)
    sse_streams = sum(1 for w in WIRES.values() if w.streams and w.name != "ollama")
    expected -= len(_SSE_SURVIVES) * sse_streams  # survived on SSE streams (items 1, 5)
    assert len(CASES) == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wire", ["remote_gpu_openai", "huggingface", "openai", "anthropic"])
def test_an_html_page_answered_to_a_stream_is_reported_as_html(
    emu: ProviderEmulator, kind: str, wire: str
) -> None:
    fresh(emu)
    emu.inject(wire, Fault.html())
    settings = chain(emu, wire, backup_for(wire), **MATRIX, **PATIENT)
    with open_driver(kind, **settings) as driver:
        streamed = driver.stream("hello")
    assert streamed.response is not None
    failed = streamed.response.attempts[0]
    assert (failed.outcome.value, failed.status) == ("failed", 200)
    assert "HTML" in failed.reason

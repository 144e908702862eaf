"""The circuit breaker as a state machine, on both clients against the emulator:

closed --3 consecutive failures--> open --reset timeout--> one trial --ok--> closed
                                     ^                          |
                                     +---------failed-----------+

Time past the reset timeout is a FakeClock's ``advance``, never a sleep; the breaker's
``fail_max`` (3) and ``reset_seconds`` (300) are the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity.drivers import KINDS, Driver, open_driver

from reliability.helpers import chain, fresh, trail
from sarvanom_sdk import HealthStatus, LLMResponse, StreamInterrupted
from sarvanom_sdk.clock import FakeClock
from sarvanom_sdk.testing import Fault, ProviderEmulator

RESET = 300.0
BURST = 100
#: How long the trial call of a burst takes (a delay) or costs (a hang: its attempt timeout).
TRIAL = 4.0


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=KINDS)
def driver(
    request: pytest.FixtureRequest, emu: ProviderEmulator, clock: FakeClock
) -> Iterator[Driver]:
    """Ollama, then OpenAI; no cache; bulkheads wide enough for a burst of 100."""
    fresh(emu)
    settings = chain(
        emu,
        "ollama",
        "openai",
        cache_ttl_seconds=0,
        # > the slow trial. Every admission of the burst must happen before the trial
        # ends: 1.5 s was not always enough for 100 async admissions beside two CPU hogs.
        attempt_timeout=TRIAL + 2.0,
        total_timeout=TRIAL + 10.0,
        max_concurrency=f"ollama_local={BURST},openai={BURST}",
        breaker_probe_interval=0,  # the state machine alone: no background probes
    )
    with open_driver(request.param, clock=clock, **settings) as made:
        yield made


def ollama_calls(emu: ProviderEmulator) -> int:
    return emu.request_count("ollama", endpoint="generate")


def breaker(driver: Driver) -> tuple[str, int]:
    health = driver.health()["ollama_local"]
    return health.circuit_state, health.consecutive_failures


def fail(driver: Driver, emu: ProviderEmulator, times: int) -> list[LLMResponse]:
    """``times`` requests, one after another, each failing at Ollama with a 500."""
    emu.inject("ollama", Fault.http(500), times=times)
    return [driver.complete(f"failing {n}") for n in range(times)]


def open_the_breaker(driver: Driver, emu: ProviderEmulator, clock: FakeClock) -> None:
    fail(driver, emu, 3)
    assert breaker(driver)[0] == "open"
    clock.advance(RESET + 1)
    emu.reset()


def test_two_consecutive_failures_leave_the_breaker_closed(
    driver: Driver, emu: ProviderEmulator
) -> None:
    fail(driver, emu, 2)
    assert breaker(driver) == ("closed", 2)
    assert driver.complete("third").attempts[0].outcome.value == "ok"
    assert ollama_calls(emu) == 3


def test_the_third_consecutive_failure_opens_the_breaker(
    driver: Driver, emu: ProviderEmulator
) -> None:
    fail(driver, emu, 3)
    assert breaker(driver) == ("open", 3)
    health = driver.health()["ollama_local"]
    assert health.status is HealthStatus.CIRCUIT_OPEN
    assert health.circuit_open_until is not None


def test_a_success_between_failures_starts_the_count_again(
    driver: Driver, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(500), on_requests=[1, 2, 4, 5])
    outcomes = [driver.complete(f"request {n}").attempts[0].outcome.value for n in range(5)]
    assert outcomes == ["failed", "failed", "ok", "failed", "failed"]
    assert breaker(driver) == ("closed", 2)


def test_our_own_bad_requests_do_not_count_against_the_breaker(
    driver: Driver, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(400), times=5)
    for n in range(5):
        driver.complete(f"bad request {n}")
    assert breaker(driver) == ("closed", 0)


def test_an_open_breaker_skips_the_provider_without_a_network_call(
    driver: Driver, emu: ProviderEmulator, clock: FakeClock
) -> None:
    fail(driver, emu, 3)
    clock.advance(RESET - 1)
    response = driver.complete("while open")
    assert trail(response) == [("ollama_local", "skipped"), ("openai", "ok")]
    assert response.attempts[0].reason.startswith("circuit open until")
    assert ollama_calls(emu) == 3


@pytest.mark.parametrize(
    ("trial", "after"),
    [
        pytest.param(Fault.delay(TRIAL), "closed", id="slow-trial-succeeds"),
        pytest.param(Fault.hang(), "open", id="hung-trial-fails"),
    ],
)
def test_after_the_reset_timeout_one_of_100_simultaneous_requests_is_the_trial(
    driver: Driver, emu: ProviderEmulator, clock: FakeClock, trial: Fault, after: str
) -> None:
    open_the_breaker(driver, emu, clock)
    emu.inject("ollama", trial, times=1)

    responses = driver.complete_many([f"burst {n}" for n in range(BURST)])

    assert ollama_calls(emu) == 1, "more than one trial call went through"
    tried = [r for r in responses if r.attempts[0].outcome.value != "skipped"]
    assert len(tried) == 1
    skipped = [r.attempts[0].reason for r in responses if r not in tried]
    assert skipped == ["circuit half-open, trial call in progress"] * (BURST - 1)
    assert all(r.success for r in responses)
    assert breaker(driver)[0] == after


def test_a_successful_trial_closes_the_breaker(
    driver: Driver, emu: ProviderEmulator, clock: FakeClock
) -> None:
    open_the_breaker(driver, emu, clock)
    assert trail(driver.complete("the trial")) == [("ollama_local", "ok")]
    assert breaker(driver) == ("closed", 0)
    assert trail(driver.complete("after the trial")) == [("ollama_local", "ok")]
    assert driver.health()["ollama_local"].status is HealthStatus.HEALTHY


def test_a_failed_trial_reopens_the_breaker_for_another_full_period(
    driver: Driver, emu: ProviderEmulator, clock: FakeClock
) -> None:
    open_the_breaker(driver, emu, clock)
    fail(driver, emu, 1)
    assert breaker(driver)[0] == "open"
    clock.advance(RESET - 1)
    assert driver.complete("still open").attempts[0].outcome.value == "skipped"
    clock.advance(2)
    assert driver.complete("the next trial").attempts[0].outcome.value == "ok"
    assert ollama_calls(emu) == 2


def test_three_streams_cut_after_their_first_chunk_open_the_breaker(
    driver: Driver, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.cut_stream())
    for n in range(3):
        assert isinstance(driver.stream(f"cut {n}").error, StreamInterrupted)
    assert breaker(driver)[0] == "open"
    streamed = driver.stream("the fourth")
    assert streamed.providers == {"openai"}
    assert ollama_calls(emu) == 3

"""Routing, the same on both clients: who answers, what the trail says, and which providers
the emulator actually heard from."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability.helpers import CANARY_ENV, FAST, MARGIN, WIRES, stopwatch, trail

from parity.drivers import Connect, open_driver
from sarvanom_sdk import AllProvidersFailed, ProviderName
from sarvanom_sdk.testing import Fault, ProviderEmulator


def test_the_first_provider_in_the_chain_answers(connect: Connect, emu: ProviderEmulator) -> None:
    driver = connect("ollama", "openai")
    response = driver.complete("What is the capital of France?")
    assert response.success
    assert response.provider is ProviderName.OLLAMA_LOCAL
    assert response.content.startswith("Emulated ollama answer to: What is the capital")
    assert trail(response) == [("ollama_local", "ok")]
    assert (emu.request_count("ollama"), emu.request_count("openai")) == (1, 0)


def test_a_failing_provider_hands_the_request_to_the_next(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(503))
    driver = connect("ollama", "openai")
    response = driver.complete("hello")
    assert response.provider is ProviderName.OPENAI
    assert trail(response) == [("ollama_local", "failed"), ("openai", "ok")]
    assert response.attempts[0].status == 503
    assert (emu.request_count("ollama"), emu.request_count("openai")) == (1, 1)


@pytest.fixture
def own_ollama() -> Iterator[ProviderEmulator]:
    """An emulator serving only as the test's Ollama, which the test may stop."""
    emulator = ProviderEmulator().start()
    yield emulator
    emulator.stop()


def test_done_means_ollama_answers_then_its_death_is_survived_then_it_is_skipped(
    client_kind: str,
    emu: ProviderEmulator,
    own_ollama: ProviderEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's "Done means": with OLLAMA_BASE_URL pointing at a server that speaks
    Ollama's protocol the answer comes from it; stop that server and the next provider
    answers; after three failures the dead provider is skipped without a network call."""
    monkeypatch.setenv("OLLAMA_BASE_URL", own_ollama.url_for("ollama"))
    settings = {
        **FAST,
        **WIRES["openai"].settings(emu),
        "providers": (ProviderName.OLLAMA_LOCAL, ProviderName.OPENAI),
    }
    with open_driver(client_kind, **settings) as driver:
        assert driver.complete("first").provider is ProviderName.OLLAMA_LOCAL
        assert own_ollama.request_count("ollama") == 1

        port = own_ollama.port
        own_ollama.stop()
        for n in range(3):
            response = driver.complete(f"while it is down {n}")
            assert response.provider is ProviderName.OPENAI
            assert trail(response) == [("ollama_local", "failed"), ("openai", "ok")]

        with ProviderEmulator(port=port) as back_on_the_same_port:
            response = driver.complete("after three failures")
            assert response.provider is ProviderName.OPENAI
            assert trail(response) == [("ollama_local", "skipped"), ("openai", "ok")]
            assert response.attempts[0].reason.startswith("circuit open until")
            generated = back_on_the_same_port.request_count(endpoint="generate")
            assert generated == 0, "the open breaker made a call"
            # (issue 13 item 8: at most one background health probe may go out)
            assert back_on_the_same_port.request_count(endpoint="probe") <= 1
    assert emu.request_count("openai") == 4


def test_a_pinned_provider_is_the_only_one_called(connect: Connect, emu: ProviderEmulator) -> None:
    driver = connect("ollama", "openai")
    response = driver.complete("hello", provider="openai")
    assert response.provider is ProviderName.OPENAI
    assert trail(response) == [("openai", "ok")]
    assert (emu.request_count("ollama"), emu.request_count("openai")) == (0, 1)


def test_a_failing_pinned_provider_falls_to_the_stub_not_to_another_provider(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("openai", Fault.http(500))
    driver = connect("ollama", "openai")
    response = driver.complete("hello", provider="openai")
    assert response.provider is ProviderName.LOCAL_STUB
    assert not response.success
    assert trail(response) == [("openai", "failed"), ("local_stub", "ok")]
    assert emu.request_count("ollama") == 0


def test_pinning_a_provider_outside_the_chain_says_why_without_a_call(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama")
    response = driver.complete("hello", provider="anthropic")
    assert trail(response) == [("anthropic", "skipped"), ("local_stub", "ok")]
    assert "SARVANOM_PROVIDERS" in response.attempts[0].reason
    assert emu.request_count() == 0


def test_strict_mode_raises_all_providers_failed_with_the_trail(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(500))
    emu.inject("openai", Fault.http(401))
    driver = connect("ollama", "openai", fallback_to_stub=False)
    with pytest.raises(AllProvidersFailed) as caught:
        driver.complete("hello")
    assert trail(caught.value) == [("ollama_local", "failed"), ("openai", "failed")]
    assert [a.status for a in caught.value.attempts] == [500, 401]
    assert "ollama_local" in str(caught.value) and "openai" in str(caught.value)


def test_strict_mode_raises_for_a_stream_too(connect: Connect, emu: ProviderEmulator) -> None:
    emu.inject("ollama", Fault.http(500))
    driver = connect("ollama", fallback_to_stub=False)
    streamed = driver.stream("hello")
    assert isinstance(streamed.error, AllProvidersFailed)
    assert streamed.chunks == []
    assert trail(streamed.error) == [("ollama_local", "failed")]


def test_a_short_retry_after_is_waited_for_then_the_same_provider_is_retried(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(429, retry_after=0.3), times=1)
    driver = connect("ollama", "openai", max_retries=1)
    response = driver.complete("hello")
    assert response.provider is ProviderName.OLLAMA_LOCAL
    assert trail(response) == [("ollama_local", "failed"), ("ollama_local", "ok")]
    first, second = emu.requests("ollama")
    assert second.received_at - first.received_at >= 0.3 - 0.01  # server-side clock
    assert emu.request_count("openai") == 0


def test_a_retry_after_longer_than_the_deadline_falls_over_at_once(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(429, retry_after=120))
    driver = connect("ollama", "openai", max_retries=1)
    with stopwatch() as took:
        response = driver.complete("hello")
    assert took[0] < MARGIN
    assert trail(response) == [("ollama_local", "failed"), ("openai", "ok")]
    assert emu.request_count("ollama") == 1


def test_a_retry_after_keeps_the_provider_out_of_later_requests(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(429, retry_after=120))
    driver = connect("ollama", "openai")
    driver.complete("the one that is told to wait")
    response = driver.complete("a later request")
    assert trail(response) == [("ollama_local", "skipped"), ("openai", "ok")]
    assert response.attempts[0].reason.startswith("rate limited until")
    assert emu.request_count("ollama") == 1


def test_every_request_stays_within_its_deadline_when_every_provider_hangs(
    connect: Connect, emu: ProviderEmulator
) -> None:
    for name in ("ollama", "openai", "anthropic"):
        emu.inject(name, Fault.hang())
    driver = connect("ollama", "openai", "anthropic", attempt_timeout=0.5, total_timeout=1.2)
    with stopwatch() as took:
        response = driver.complete("hello")
    assert took[0] < 1.2 + MARGIN
    assert response.provider is ProviderName.LOCAL_STUB
    outcomes = dict(trail(response))
    assert outcomes["ollama_local"] == outcomes["openai"] == "failed"
    assert outcomes.get("anthropic") in ("failed", "skipped")  # the deadline may run out


def test_the_canary_key_reaches_the_provider_it_belongs_to(
    connect: Connect, emu: ProviderEmulator
) -> None:
    connect("openai").complete("hello")
    (request,) = emu.requests("openai")
    assert request.headers["Authorization"] == f"Bearer {CANARY_ENV['OPENAI_API_KEY']}"

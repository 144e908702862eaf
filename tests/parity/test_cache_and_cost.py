"""The response cache (hits, misses, stale answers) and the cost gate, the same on both
clients. Time-to-live is driven by a FakeClock, never by sleeping."""

from __future__ import annotations

from reliability.helpers import trail

from parity.drivers import Connect
from sarvanom_sdk import ProviderName
from sarvanom_sdk.clock import FakeClock
from sarvanom_sdk.testing import Fault, ProviderEmulator


def test_a_repeated_request_is_a_cache_hit_without_a_call(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama")
    first = driver.complete("cache me")
    again = driver.complete("cache me")
    assert not first.cached
    assert again.cached and not again.stale
    assert again.content == first.content
    assert again.trace_id != first.trace_id
    assert emu.request_count("ollama") == 1


def test_a_different_request_is_a_cache_miss(connect: Connect, emu: ProviderEmulator) -> None:
    driver = connect("ollama")
    driver.complete("cache me")
    other = driver.complete("cache me", max_tokens=7)
    assert not other.cached
    assert emu.request_count("ollama") == 2


def test_cache_false_bypasses_the_cache(connect: Connect, emu: ProviderEmulator) -> None:
    driver = connect("ollama")
    driver.complete("cache me")
    assert not driver.complete("cache me", cache=False).cached
    assert emu.request_count("ollama") == 2


def test_an_entry_expires_after_its_ttl(connect: Connect, emu: ProviderEmulator) -> None:
    clock = FakeClock()
    driver = connect("ollama", cache_ttl_seconds=10, clock=clock)
    driver.complete("cache me")
    clock.advance(9)
    assert driver.complete("cache me").cached
    clock.advance(2)
    assert not driver.complete("cache me").cached
    assert emu.request_count("ollama") == 2


def test_a_stale_answer_is_served_when_every_provider_fails(
    connect: Connect, emu: ProviderEmulator
) -> None:
    clock = FakeClock()
    driver = connect("ollama", "openai", cache_ttl_seconds=10, clock=clock)
    fresh_answer = driver.complete("remember me")
    clock.advance(11)
    emu.inject("ollama", Fault.http(500))
    emu.inject("openai", Fault.http(503))
    stale = driver.complete("remember me")
    assert stale.stale and stale.cached and stale.success
    assert stale.content == fresh_answer.content
    assert trail(stale) == [("ollama_local", "failed"), ("openai", "failed")]


def test_a_stale_answer_is_streamed_when_every_provider_fails(
    connect: Connect, emu: ProviderEmulator
) -> None:
    clock = FakeClock()
    driver = connect("ollama", cache_ttl_seconds=10, clock=clock)
    fresh_answer = driver.complete("remember me")
    clock.advance(11)
    emu.inject("ollama", Fault.http(500))
    streamed = driver.stream("remember me")
    assert streamed.error is None and streamed.response is not None
    assert streamed.response.stale
    assert streamed.text == fresh_answer.content


def test_without_a_cached_answer_the_stub_answers_and_is_not_cached(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(500), times=1)
    driver = connect("ollama")
    assert driver.complete("never answered").provider is ProviderName.LOCAL_STUB
    answered = driver.complete("never answered")
    assert answered.provider is ProviderName.OLLAMA_LOCAL and not answered.cached


def test_paid_providers_are_not_called_while_paid_use_is_disabled(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama", "openai", enable_paid_api=False)
    response = driver.complete("hello", provider="openai")
    assert trail(response) == [("openai", "skipped"), ("local_stub", "ok")]
    assert "ENABLE_PAID_API" in response.attempts[0].reason
    assert emu.request_count("openai") == 0


def test_a_paid_provider_over_budget_is_skipped_without_a_call(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("openai", "ollama", budget_usd=0.000001)
    response = driver.complete("hello")
    assert trail(response) == [("openai", "skipped"), ("ollama_local", "ok")]
    assert response.attempts[0].reason.startswith("budget: estimated")
    assert emu.request_count("openai") == 0


def test_a_paid_answer_books_its_cost_and_a_free_one_costs_nothing(connect: Connect) -> None:
    driver = connect("openai", "ollama", budget_usd=1.0)
    paid = driver.complete("hello")
    free = driver.complete("hello", provider="ollama_local")
    assert paid.provider is ProviderName.OPENAI and paid.usage is not None
    assert paid.cost_usd > 0
    assert free.cost_usd == 0

"""Issue 12 (hardening), the same on both clients against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from parity.drivers import Connect
from sarvanom_sdk import InvalidRequestError, ProviderName
from sarvanom_sdk.testing import Fault, ProviderEmulator


def test_F12_a_lone_surrogate_is_refused_before_any_call(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama")
    with pytest.raises(InvalidRequestError, match="surrogate") as info:
        driver.complete("half an emoji \ud83d")
    assert info.value.field == "prompt"
    with pytest.raises(InvalidRequestError) as info:
        driver.stream("x", system="\udc00")
    assert info.value.field == "system"
    assert emu.request_count() == 0


def test_F5_a_callers_short_timeouts_do_not_take_the_provider_away_from_others(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.delay(1.0), times=4)
    driver = connect("ollama", attempt_timeout=3.0, total_timeout=6.0, cache_ttl_seconds=0)
    for i in range(4):
        poisoned = driver.complete(f"poison {i}", timeout=0.3)
        assert poisoned.provider is ProviderName.LOCAL_STUB
    victim = driver.complete("victim")
    assert victim.provider is ProviderName.OLLAMA_LOCAL, victim.attempts
    assert emu.request_count("ollama") == 5


def test_F5_errors_answering_a_model_override_do_not_open_the_breaker(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("huggingface", Fault.http(403), times=4)
    driver = connect("huggingface", cache_ttl_seconds=0)
    for i in range(4):
        gated = driver.complete(f"gated {i}", provider="huggingface", model="org/gated-model")
        assert gated.attempts[0].status == 403
    victim = driver.complete("victim")
    assert victim.provider is ProviderName.HUGGINGFACE, victim.attempts


def _spent(driver: Any) -> float:
    return float(driver.client.router.gate.ledger.spent_usd)


@pytest.mark.parametrize("ending", ["full", "abandoned", "cut", "cancelled"])
def test_F8_a_budget_for_about_three_calls_stops_spending_after_about_three(
    connect: Connect, emu: ProviderEmulator, client_kind: str, ending: str
) -> None:
    """However the paid streams end, the provider serves about as many as the budget
    pays for (before F8 an abandoned or cut stream booked nothing)."""
    from sarvanom_sdk.layers.cost import estimate_usd
    from sarvanom_sdk.types import LLMRequest

    estimate = estimate_usd("gpt-4o-mini", LLMRequest(prompt="paid 00", max_tokens=64))
    budget = 3.5 * estimate  # an unclean end books its reservation: about 3 calls
    if ending == "full":  # a clean end books its real cost: size the budget by it
        probe = connect("openai", cache_ttl_seconds=0, openai_model="gpt-4o-mini")
        real = probe.stream("paid 00", max_tokens=64).response.cost_usd
        budget = estimate + 2.5 * real
        emu.reset()
    driver = connect("openai", budget_usd=budget, cache_ttl_seconds=0, openai_model="gpt-4o-mini")
    if ending == "cut":
        emu.inject("openai", Fault.cut_stream())
    for i in range(10):
        _stream_ending(driver, client_kind, f"paid {i:02d}", ending)
    served = emu.request_count("openai", endpoint="generate")
    assert 2 <= served <= 4, (served, _spent(driver))
    assert _spent(driver) > 0


def _stream_ending(driver: Any, kind: str, prompt: str, ending: str) -> None:
    """One paid stream, ended the way ``ending`` says."""
    options = {"max_tokens": 64}
    if ending in ("full", "cut"):
        driver.stream(prompt, **options)
        return
    if kind == "sync":
        stream = driver.client.stream(prompt, **options)
        with stream:
            for _chunk in stream:
                break  # abandoned (sync has no cancellation: closing is the same)
        return

    async def leave() -> None:
        stream = driver.client.stream(prompt, **options)
        async with stream:
            async for _chunk in stream:
                break

    async def cancel() -> None:
        started = asyncio.Event()

        async def read() -> None:
            async with driver.client.stream(prompt, **options) as stream:
                async for _chunk in stream:
                    started.set()
                    await asyncio.sleep(10)

        task = asyncio.ensure_future(read())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    driver.loop.run_until_complete(leave() if ending == "abandoned" else cancel())

"""Routing policies: ``priority`` (the chain's order), ``latency`` (free providers by recent
latency, paid last) and a request's ``tier`` (simple / complex / critical)."""

from __future__ import annotations

import pytest

from sarvanom_sdk import ConfigurationError, InvalidRequestError, LLMRequest, SarvanClient
from sarvanom_sdk.routing import TIER_ORDER, order_providers
from sarvanom_sdk.testing import Fault, ProviderEmulator

from .helpers import ANTHROPIC, GPU, HF, OLLAMA, OPENAI, both, client, routed, served_by, tried

FREE = (OLLAMA, GPU, HF)
EVERYONE = (OLLAMA, GPU, HF, OPENAI, ANTHROPIC)
ASK = LLMRequest(prompt="hi")


def latencies(**ms: float):
    """A ``latency_of`` for :func:`order_providers`: provider value -> ms (else unknown)."""
    return lambda provider: ms.get(provider.value)


# -- unit: order_providers -----------------------------------------------------------------
def test_priority_keeps_the_chain_order_whatever_the_latencies():
    slow_first = latencies(ollama_local=900, remote_gpu=5, huggingface=1)
    assert order_providers(EVERYONE, ASK, "priority", slow_first) == EVERYONE


def test_latency_orders_free_providers_fastest_first_and_paid_last_in_chain_order():
    measured = latencies(ollama_local=300, remote_gpu=40, huggingface=90, openai=1, anthropic=2)
    assert order_providers(EVERYONE, ASK, "latency", measured) == (
        GPU,
        HF,
        OLLAMA,
        OPENAI,
        ANTHROPIC,
    )
    # paid providers keep the chain's order, however fast they are
    reordered = (OLLAMA, ANTHROPIC, GPU, OPENAI)
    assert order_providers(reordered, ASK, "latency", measured) == (
        GPU,
        OLLAMA,
        ANTHROPIC,
        OPENAI,
    )


def test_latency_tries_unmeasured_providers_first_in_chain_order():
    measured = latencies(ollama_local=30)
    assert order_providers(FREE, ASK, "latency", measured) == (GPU, HF, OLLAMA)
    assert order_providers(FREE, ASK, "latency", latencies()) == FREE


@pytest.mark.parametrize("tier", sorted(TIER_ORDER))
def test_a_tier_orders_the_chain_by_its_preference_and_overrides_the_policy(tier):
    request = LLMRequest(prompt="hi", tier=tier)
    measured = latencies(ollama_local=1, remote_gpu=500, huggingface=900)
    for policy in ("priority", "latency"):
        assert order_providers(EVERYONE, request, policy, measured) == TIER_ORDER[tier]
    # only the chain's providers, in the tier's order
    assert order_providers((HF, OLLAMA), request, "priority", measured) == tuple(
        p for p in TIER_ORDER[tier] if p in (HF, OLLAMA)
    )


def test_the_tier_orders_are_the_seeds_preferences():
    assert TIER_ORDER["simple"][0] is OLLAMA  # simple queries: local
    assert TIER_ORDER["complex"][0] is GPU  # complex: the remote GPU
    assert TIER_ORDER["critical"][:2] == (OPENAI, ANTHROPIC)  # critical: paid (if enabled)
    assert all(sorted(order) == sorted(EVERYONE) for order in TIER_ORDER.values())


def test_an_unknown_policy_or_tier_is_refused_before_any_call():
    with pytest.raises(ConfigurationError, match="SARVANOM_ROUTING_POLICY"):
        SarvanClient(env_file=None, routing_policy="cheapest")
    with pytest.raises(InvalidRequestError, match="tier"):
        LLMRequest(prompt="hi", tier="urgent")


# -- end to end: the trail shows the order ----------------------------------------------------
def fail_everyone(emu: ProviderEmulator, *names: str) -> None:
    """Every provider answers 500, so a response's trail lists the whole order tried."""
    for name in names:
        emu.inject(name, Fault.http(500))


WIRE_NAMES = ("ollama", "remote_gpu", "huggingface", "openai")


@both
@pytest.mark.parametrize(
    ("tier", "paid", "expected"),
    [
        (None, True, (OLLAMA, GPU, HF, OPENAI)),
        ("simple", True, (OLLAMA, GPU, HF, OPENAI)),
        ("complex", True, (GPU, HF, OLLAMA, OPENAI)),
        ("critical", True, (OPENAI, GPU, HF, OLLAMA)),
        ("critical", False, (GPU, HF, OLLAMA)),
    ],
)
def test_the_trail_follows_the_tiers_order(kind, tier, paid, expected):
    with ProviderEmulator() as emu:
        fail_everyone(emu, *WIRE_NAMES)
        settings = routed(emu, *WIRE_NAMES, enable_paid_api=paid, circuit_fail_max=50)
        with client(kind, **settings) as driver:
            answer = driver.complete("order?", tier=tier)
            assert tried(answer) == list(expected)
            # answering: the first in the tier's order answers, nobody else is called
            emu.clear()
            emu.reset()
            answer = driver.complete("answer", tier=tier)
            assert answer.provider is expected[0] and tried(answer) == [expected[0]]
            assert emu.request_count() == 1


@both
def test_latency_policy_moves_traffic_to_the_faster_free_provider(kind):
    with ProviderEmulator() as emu:
        # 0.5 s: far above what a loaded machine adds to the fast provider's calls
        emu.inject("ollama", Fault.delay(0.5))
        settings = routed(emu, "ollama", "remote_gpu", routing_policy="latency")
        with client(kind, **settings) as driver:
            first = driver.complete("q0")
            answers = [driver.complete(f"q{n}") for n in range(1, 11)]
    # nothing measured yet: the chain's order; then the untried one; then the faster one
    assert tried(first) == [OLLAMA]
    assert served_by(answers) == {GPU: 10}
    assert all(tried(a) == [GPU] for a in answers)
    assert emu.request_count("ollama") == 1


@both
def test_priority_policy_keeps_the_slow_first_provider(kind):
    with ProviderEmulator() as emu:
        emu.inject("ollama", Fault.delay(0.05))
        with client(kind, **routed(emu, "ollama", "remote_gpu")) as driver:
            answers = [driver.complete(f"q{n}") for n in range(5)]
    assert served_by(answers) == {OLLAMA: 5}
    assert emu.request_count("remote_gpu") == 0


@both
def test_latency_policy_keeps_a_faster_paid_provider_last(kind):
    with ProviderEmulator() as emu:
        emu.inject("ollama", Fault.delay(0.05))
        emu.inject("remote_gpu", Fault.delay(0.02))
        settings = routed(
            emu, "openai", "ollama", "remote_gpu", routing_policy="latency", circuit_fail_max=50
        )
        with client(kind, **settings) as driver:
            for provider in (OPENAI, OLLAMA, GPU):  # measure everyone once
                assert driver.complete("warm", provider=provider).provider is provider
            emu.clear()
            fail_everyone(emu, "openai", "ollama", "remote_gpu")
            answer = driver.complete("order?")
    assert tried(answer) == [GPU, OLLAMA, OPENAI]

"""F5 (gateway side): the operator forbids or clamps what callers choose per request."""

from __future__ import annotations

import pytest
from gateway_helpers import ollama_client

from sarvanom_sdk import ConfigurationError
from sarvanom_sdk.gateway import CallerPolicy

HARDENED = CallerPolicy.parse("cache,tier", min_timeout=5)


# fmt: off
@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": "hi", "timeout": 0.05}, "timeout"),
    ({"prompt": "hi", "provider": "ollama_local"}, "provider"),
    ({"prompt": "hi", "provider": "ollama_local", "model": "huge:405b"}, "model"),
    ({"prompt": "hi", "hedge": True}, "hedge"),
])
# fmt: on
async def test_f5_a_forbidden_override_is_400_naming_it(open_gateway, emulator, body, param):
    client = await open_gateway(ollama_client(emulator), callers=HARDENED)
    reply = await client.post("/api/query", json=body)
    assert reply.status == 400
    error = (await reply.json())["error"]
    assert (error["code"], error["param"]) == ("override_not_allowed", param)
    assert error["message"].startswith(f"{param}: ")
    assert "cache, tier" in error["message"]
    assert emulator.request_count() == 0


async def test_f5_allowed_overrides_still_work(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator), callers=HARDENED)
    reply = await client.post("/api/query", json={"prompt": "hi", "cache": False, "tier": "simple"})
    assert reply.status == 200


@pytest.mark.parametrize("model", ["sarvanom/ollama_local", "sarvanom/ollama_local/huge:405b"])
async def test_f5_v1_pins_are_refused_as_the_model_field(open_gateway, emulator, model) -> None:
    client = await open_gateway(ollama_client(emulator), callers=CallerPolicy.parse("none"))
    chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    reply = await client.post("/v1/chat/completions", json=chat)
    assert reply.status == 400
    error = (await reply.json())["error"]
    assert (error["code"], error["param"]) == ("override_not_allowed", "model")
    auto = await client.post("/v1/chat/completions", json={**chat, "model": "sarvanom/auto"})
    assert auto.status == 200


async def test_f5_a_tiny_timeout_is_raised_to_the_minimum(open_gateway, emulator) -> None:
    """The review's poisoning: 3 requests with timeout=0.05 against a provider that needs
    longer. With the clamp (here 5 s) they are answered, and the breaker stays closed."""
    emulator_client = ollama_client(emulator, circuit_fail_max=3, max_retries=0)
    client = await open_gateway(emulator_client, callers=CallerPolicy(min_timeout=5))
    from sarvanom_sdk.testing import Fault

    emulator.inject("ollama", Fault.delay(0.3))
    for _ in range(3):
        reply = await client.post(
            "/api/query", json={"prompt": "hi", "timeout": 0.05, "cache": False}
        )
        assert (await reply.json())["provider"] == "ollama_local"
    health = await emulator_client.get_provider_health()
    assert health["ollama_local"].circuit_state == "closed"


def test_f5_defaults_allow_every_override_with_a_one_second_floor() -> None:
    policy = CallerPolicy()
    assert policy.allowed == {
        "timeout", "model", "provider", "hedge", "cache", "tier", "stream_recovery"
    }
    assert policy.apply({"timeout": 0.01})["timeout"] == 1.0
    assert policy.apply({"timeout": 7})["timeout"] == 7
    assert CallerPolicy.parse("all") == policy
    assert CallerPolicy.parse(" none ").allowed == frozenset()


@pytest.mark.parametrize(
    ("names", "min_timeout"), [("cache,speed", 1.0), ("cache", -1), ("cache", True)]
)
def test_f5_caller_policy_is_validated(names, min_timeout) -> None:
    with pytest.raises(ConfigurationError):
        CallerPolicy.parse(names, min_timeout)

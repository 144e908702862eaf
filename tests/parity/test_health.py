"""Provider health, the same on both clients: what calls leave behind, and what a probe of
each provider's health endpoint finds (without a generate call)."""

from __future__ import annotations

from parity.drivers import Connect
from sarvanom_sdk import HealthStatus
from sarvanom_sdk.testing import Fault, ProviderEmulator


def test_health_is_unknown_before_any_call(connect: Connect) -> None:
    health = connect("ollama", "openai").health()
    assert set(health) == {"ollama_local", "openai"}
    assert all(h.status is HealthStatus.UNKNOWN for h in health.values())
    assert all(h.last_check is None for h in health.values())


def test_health_counts_calls_and_shows_an_open_circuit(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama", "openai", "anthropic", cache_ttl_seconds=0)
    driver.complete("answered by ollama")
    emu.inject("ollama", Fault.http(500))
    for n in range(3):
        driver.complete(f"ollama fails {n}")

    health = driver.health()
    ollama, openai = health["ollama_local"], health["openai"]
    assert (ollama.success_count, ollama.error_count) == (1, 3)
    assert ollama.status is HealthStatus.CIRCUIT_OPEN
    assert ollama.circuit_state == "open" and ollama.circuit_open_until is not None
    assert ollama.last_error is not None and ollama.last_error.startswith("HTTP 500")
    assert (openai.success_count, openai.error_count) == (3, 0)
    assert openai.status is HealthStatus.HEALTHY and openai.latency_ms > 0
    assert health["anthropic"].status is HealthStatus.UNKNOWN


def test_a_probe_calls_each_health_endpoint_once_and_no_generate_endpoint(
    connect: Connect, emu: ProviderEmulator
) -> None:
    health = connect("ollama", "remote_gpu", "huggingface", "openai", "anthropic").health(
        probe=True
    )
    assert all(h.status is HealthStatus.HEALTHY for h in health.values()), health
    assert all(h.last_check is not None for h in health.values())
    for name in ("ollama", "remote_gpu", "huggingface", "openai", "anthropic"):
        assert emu.request_count(name, endpoint="probe") == 1, name
    assert emu.request_count(endpoint="generate") == 0
    assert all(h.success_count == h.error_count == 0 for h in health.values())


def test_a_failing_probe_marks_the_provider_unhealthy_with_the_reason(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(503), endpoint="probe")
    health = connect("ollama", "openai").health(probe=True)
    assert health["ollama_local"].status is HealthStatus.UNHEALTHY
    assert "503" in (health["ollama_local"].last_error or "")
    assert health["openai"].status is HealthStatus.HEALTHY


def test_a_refused_probe_marks_the_provider_unhealthy(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama", ollama_base_url=emu.refused_url("ollama"))
    health = driver.health(probe=True)["ollama_local"]
    assert health.status is HealthStatus.UNHEALTHY
    assert health.last_error

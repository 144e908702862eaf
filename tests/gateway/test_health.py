"""``/health`` (liveness) and ``/health/gpu-providers`` (the seed's health JSON)."""

from __future__ import annotations

import re

from gateway_helpers import TOKEN, failing_gpu_then_ollama, stub_client

from sarvanom_sdk import AsyncSarvanClient, Settings

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
PROVIDER_FIELDS = {
    "status",
    "last_check",
    "latency_ms",
    "error_count",
    "success_count",
    "circuit_open_until",
    "last_error",
}


async def test_liveness_needs_no_token(open_gateway) -> None:
    client = await open_gateway(stub_client(), token=TOKEN)
    reply = await client.get("/health")
    assert reply.status == 200
    assert await reply.json() == {"status": "ok"}


async def test_seed_health_shape_field_by_field(open_gateway, emulator) -> None:
    client = await open_gateway(failing_gpu_then_ollama(emulator))
    answered = await client.post(
        "/api/query", json={"prompt": "What is the capital of France?", "max_tokens": 100}
    )
    assert (await answered.json())["provider"] == "ollama_local"

    reply = await client.get("/health/gpu-providers")
    assert reply.status == 200
    body = await reply.json()
    assert set(body) == {"status", "timestamp", "gpu_providers"}
    assert body["status"] == "healthy"
    assert ISO_UTC.match(body["timestamp"])
    assert set(body["gpu_providers"]) == {"providers", "available_providers"}
    providers = body["gpu_providers"]["providers"]
    assert list(providers) == ["remote_gpu", "ollama_local"]

    ollama = providers["ollama_local"]
    assert set(ollama) == PROVIDER_FIELDS
    assert ollama["status"] == "healthy"
    assert ISO_UTC.match(ollama["last_check"])
    assert isinstance(ollama["latency_ms"], float) and ollama["latency_ms"] >= 0
    assert (ollama["error_count"], ollama["success_count"]) == (0, 1)
    assert ollama["circuit_open_until"] is None
    assert ollama["last_error"] is None

    gpu = providers["remote_gpu"]
    assert set(gpu) == PROVIDER_FIELDS
    assert gpu["status"] == "circuit_open"
    assert ISO_UTC.match(gpu["last_check"])
    assert (gpu["error_count"], gpu["success_count"]) == (1, 0)
    assert ISO_UTC.match(gpu["circuit_open_until"])
    assert gpu["circuit_open_until"] > gpu["last_check"]
    assert isinstance(gpu["last_error"], str) and gpu["last_error"]

    assert body["gpu_providers"]["available_providers"] == ["ollama_local", "local_stub"]


async def test_only_the_stub_is_degraded(open_gateway) -> None:
    client = await open_gateway(stub_client())
    body = await (await client.get("/health/gpu-providers")).json()
    assert body["status"] == "degraded"
    assert body["gpu_providers"] == {"providers": {}, "available_providers": ["local_stub"]}


async def test_probe_calls_each_provider_health_endpoint(open_gateway, emulator) -> None:
    client = await open_gateway(
        AsyncSarvanClient(Settings(ollama_base_url=emulator.url_for("ollama")))
    )
    before = await (await client.get("/health/gpu-providers")).json()
    assert before["gpu_providers"]["providers"]["ollama_local"]["status"] == "unknown"
    body = await (await client.get("/health/gpu-providers?probe=true")).json()
    ollama = body["gpu_providers"]["providers"]["ollama_local"]
    assert ollama["status"] == "healthy"
    assert ISO_UTC.match(ollama["last_check"])
    assert emulator.request_count("ollama", endpoint="probe") == 1
    assert emulator.request_count("ollama", endpoint="generate") == 0

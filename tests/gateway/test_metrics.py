"""``/metrics``: Prometheus text from the gateway's own registry."""

from __future__ import annotations

import sys

import pytest
from gateway_helpers import failing_gpu_then_ollama, stub_client
from prometheus_client.parser import text_string_to_metric_families

from sarvanom_sdk import AsyncSarvanClient, Settings


async def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = await client.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await reply.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_metrics_after_a_few_requests(open_gateway, emulator) -> None:
    client = await open_gateway(failing_gpu_then_ollama(emulator))
    before = await scrape(client)
    assert value(before, "sarvanom_provider_requests_total", provider="remote_gpu") == 0
    for body in (
        {"prompt": "a", "temperature": 0},  # remote_gpu fails, ollama answers
        {"prompt": "a", "temperature": 0},  # cache hit (deterministic answers only: D1)
        {"prompt": "b"},  # remote_gpu skipped: breaker open
        {"prompt": "c", "provider": "local_stub"},
    ):  # the stub
        assert (await client.post("/api/query", json=body)).status == 200
    chat = {
        "model": "sarvanom/ollama_local",
        "messages": [{"role": "user", "content": "d"}],
        "stream": True,
    }
    assert (await client.post("/v1/chat/completions", json=chat)).status == 200

    s = await scrape(client)
    assert value(s, "sarvanom_provider_requests_total", provider="remote_gpu") == 1
    assert value(s, "sarvanom_provider_failures_total", provider="remote_gpu") == 1
    assert value(s, "sarvanom_provider_skipped_total", provider="remote_gpu") == 1
    assert value(s, "sarvanom_provider_requests_total", provider="ollama_local") == 3
    assert value(s, "sarvanom_provider_failures_total", provider="ollama_local") == 0
    assert value(s, "sarvanom_provider_requests_total", provider="local_stub") == 1
    assert (
        value(s, "sarvanom_provider_latency_seconds_count", provider="ollama_local", outcome="ok")
        == 3
    )
    assert (
        value(s, "sarvanom_provider_latency_seconds_count", provider="remote_gpu", outcome="failed")
        == 1
    )
    assert value(s, "sarvanom_circuit_state", provider="remote_gpu") == 2
    assert value(s, "sarvanom_circuit_state", provider="ollama_local") == 0
    assert value(s, "sarvanom_cache_hits_total") == 1
    assert value(s, "sarvanom_fallbacks_total", kind="stub") == 1
    assert value(s, "sarvanom_fallbacks_total", kind="stale") == 0
    assert value(s, "sarvanom_gateway_requests_total", endpoint="/api/query", status="200") == 4
    assert (
        value(s, "sarvanom_gateway_requests_total", endpoint="/v1/chat/completions", status="200")
        == 1
    )
    assert value(s, "sarvanom_gateway_request_duration_seconds_count", endpoint="/api/query") == 4
    assert value(s, "sarvanom_gateway_in_flight") == 0
    assert value(s, "sarvanom_gateway_waiting") == 0


async def test_cost_of_a_paid_provider(open_gateway, emulator) -> None:
    settings = Settings(
        enable_paid_api=True,
        openai_api_key="sk-test-gateway-metrics",
        openai_base_url=emulator.url_for("openai"),
    )
    client = await open_gateway(AsyncSarvanClient(settings))
    body = await (await client.post("/api/query", json={"prompt": "hi"})).json()
    assert body["provider"] == "openai" and body["cost_usd"] > 0
    samples = await scrape(client)
    assert value(samples, "sarvanom_cost_usd_total", provider="openai") == pytest.approx(
        body["cost_usd"]
    )


async def test_hedges_are_counted(open_gateway, emulator) -> None:
    from sarvanom_sdk.testing import Fault

    settings = Settings(
        ollama_base_url=emulator.url_for("ollama"),
        huggingface_api_key="hf_test_gateway_hedges",
        huggingface_base_url=emulator.url_for("huggingface"),
        hedge=True,
        hedge_delay=0.05,
        cache_ttl_seconds=0,
    )
    emulator.inject("ollama", Fault.delay(0.5), times=2)
    client = await open_gateway(AsyncSarvanClient(settings))
    assert value(await scrape(client), "sarvanom_hedges_total") == 0
    for prompt in ("a", "b"):
        body = await (await client.post("/api/query", json={"prompt": prompt})).json()
        assert body["provider"] == "huggingface"
    assert value(await scrape(client), "sarvanom_hedges_total") == 2


async def test_each_app_has_its_own_registry(open_gateway) -> None:
    one = await open_gateway(stub_client())
    two = await open_gateway(stub_client())
    await one.post("/api/query", json={"prompt": "hi"})
    assert value(await scrape(one), "sarvanom_fallbacks_total", kind="stub") == 1
    assert value(await scrape(two), "sarvanom_fallbacks_total", kind="stub") == 0


async def test_without_prometheus_client_metrics_is_501(open_gateway, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    client = await open_gateway(stub_client())
    reply = await client.get("/metrics")
    assert reply.status == 501
    error = (await reply.json())["error"]
    assert error["code"] == "metrics_unavailable"
    assert "pip install 'sarvanom-sdk[server]'" in error["message"]
    assert (await client.post("/api/query", json={"prompt": "hi"})).status == 200


async def test_cleanup_detaches_the_observer(open_gateway) -> None:
    sdk_client = stub_client()
    client = await open_gateway(sdk_client)
    # the metrics, the overhead meter and the dashboard's recorder
    assert len(sdk_client.router.observers) == 3
    await client.close()
    assert sdk_client.router.observers == []

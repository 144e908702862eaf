"""The gateway continues an incoming W3C ``traceparent`` (issue 17 item 3): the SDK's span
for the request is a child of the caller's span."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from gateway_helpers import OpenGateway  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from sarvanom_sdk import AsyncSarvanClient  # noqa: E402
from sarvanom_sdk.testing import ProviderEmulator  # noqa: E402

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _traced_client(emulator: ProviderEmulator, exporter: InMemorySpanExporter) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return AsyncSarvanClient(
        env_file=None,
        tracer_provider=provider,
        ollama_base_url=emulator.url_for("ollama"),
        providers=("ollama_local",),
    )


@pytest.mark.parametrize("path", ["/api/query", "/v1/chat/completions"])
async def test_a_request_with_a_traceparent_continues_the_callers_trace(
    open_gateway: OpenGateway, emulator: ProviderEmulator, path: str
) -> None:
    exporter = InMemorySpanExporter()
    client = await open_gateway(_traced_client(emulator, exporter))
    body: dict[str, Any] = (
        {"prompt": "hi"}
        if path == "/api/query"
        else {"model": "sarvanom/auto", "messages": [{"role": "user", "content": "hi"}]}
    )
    reply = await client.post(
        path, json=body, headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
    )
    assert reply.status == 200, await reply.text()
    calls = [s for s in exporter.get_finished_spans() if s.name.startswith("sarvanom ")]
    assert calls, [s.name for s in exporter.get_finished_spans()]
    for span in calls:
        assert format(span.context.trace_id, "032x") == CALLER_TRACE
        assert format(span.parent.span_id, "016x") == CALLER_SPAN


async def test_without_a_traceparent_each_request_starts_its_own_trace(
    open_gateway: OpenGateway, emulator: ProviderEmulator
) -> None:
    exporter = InMemorySpanExporter()
    client = await open_gateway(_traced_client(emulator, exporter))
    for _ in range(2):
        reply = await client.post("/api/query", json={"prompt": "hi", "cache": False})
        assert reply.status == 200
    calls = [s for s in exporter.get_finished_spans() if s.name.startswith("sarvanom ")]
    assert len(calls) == 2
    assert all(span.parent is None for span in calls)
    assert calls[0].context.trace_id != calls[1].context.trace_id

"""OpenTelemetry tracing (issue 17 item 3): a span per call and a child span per attempt,
attributed by the GenAI semantic conventions, on both clients; nothing at all when
OpenTelemetry is not in use; never a prompt or a key on a span."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402
from parity.drivers import KINDS, Driver, open_driver  # noqa: E402
from reliability.helpers import CANARY_ENV, chain, fresh  # noqa: E402

from sarvanom_sdk.testing import Fault, ProviderEmulator  # noqa: E402

PROMPT = "canary-prompt-7f3a: what is the capital of France?"


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: ProviderEmulator) -> None:
    fresh(emu)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(params=KINDS)
def traced(
    request: pytest.FixtureRequest, emu: ProviderEmulator, exporter: InMemorySpanExporter
) -> Iterator[Any]:
    """``traced("ollama", "openai", **overrides)``: a driver whose client traces into
    ``exporter``."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    opened: list[Driver] = []

    def make(*names: str, **overrides: Any) -> Driver:
        driver = open_driver(
            request.param, tracer_provider=provider, **chain(emu, *names, **overrides)
        )
        opened.append(driver)
        return driver

    yield make
    for driver in opened:
        driver.close()


def _by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def _all_attribute_text(spans: tuple[ReadableSpan, ...]) -> str:
    parts = []
    for span in spans:
        parts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            parts.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    return "\n".join(parts)


def test_a_fallback_gives_one_call_span_with_a_child_span_per_attempt(
    traced: Any, emu: ProviderEmulator, exporter: InMemorySpanExporter
) -> None:
    emu.inject("ollama", Fault.http(503))
    driver = traced("ollama", "openai")
    response = driver.complete(PROMPT)
    assert response.provider.value == "openai"

    spans = exporter.get_finished_spans()
    (call,) = _by_name(spans, "sarvanom complete")
    attempts = _by_name(spans, "chat ")
    assert [a.attributes["gen_ai.system"] for a in attempts] == ["ollama", "openai"]
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
        assert attempt.context.trace_id == call.context.trace_id
        assert attempt.kind is SpanKind.CLIENT
        assert attempt.start_time <= attempt.end_time
    failed, answered = attempts
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"]
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.attributes["sarvanom.attempt.outcome"] == "failed"
    assert answered.attributes["sarvanom.attempt.outcome"] == "ok"
    assert answered.attributes["gen_ai.response.model"] == response.model
    assert answered.attributes["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert call.attributes["gen_ai.system"] == "openai"
    assert call.attributes["sarvanom.fallback"] == "next_provider"
    assert call.attributes["sarvanom.cache"] == "miss"
    assert call.attributes["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert call.attributes["sarvanom.trace_id"] == response.trace_id
    assert call.status.status_code is not StatusCode.ERROR


def test_no_prompt_and_no_key_ever_reaches_a_span(
    traced: Any, emu: ProviderEmulator, exporter: InMemorySpanExporter
) -> None:
    emu.inject("ollama", Fault.http(401, body={"error": "bad key " + CANARY_ENV["OPENAI_API_KEY"]}))
    driver = traced("ollama", "huggingface", "openai")
    driver.complete(PROMPT)
    driver.stream(PROMPT, cache=False)
    text = _all_attribute_text(exporter.get_finished_spans())
    assert "canary-prompt" not in text
    for secret in CANARY_ENV.values():
        assert secret not in text
    assert "gen_ai.system" in text  # the spans were there to look at


def test_a_cache_hit_is_one_span_marked_hit_with_no_attempt(
    traced: Any, exporter: InMemorySpanExporter
) -> None:
    driver = traced("ollama")
    driver.complete(PROMPT)
    exporter.clear()
    assert driver.complete(PROMPT).cached
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["sarvanom complete"]
    assert spans[0].attributes["sarvanom.cache"] == "hit"


def test_the_stub_answer_is_an_error_span_saying_stub(
    traced: Any, emu: ProviderEmulator, exporter: InMemorySpanExporter
) -> None:
    emu.inject("ollama", Fault.refuse())
    driver = traced("ollama")
    assert driver.complete(PROMPT).provider.value == "local_stub"
    (call,) = _by_name(exporter.get_finished_spans(), "sarvanom complete")
    assert call.attributes["sarvanom.fallback"] == "stub"
    assert call.status.status_code is StatusCode.ERROR


def test_skipped_providers_are_events_not_spans(
    traced: Any, emu: ProviderEmulator, exporter: InMemorySpanExporter
) -> None:
    emu.inject("ollama", Fault.refuse())
    driver = traced("ollama", "openai", circuit_fail_max=1, cache_ttl_seconds=0)
    driver.complete(PROMPT)  # ollama fails once: its breaker opens
    exporter.clear()
    driver.complete(PROMPT)
    spans = exporter.get_finished_spans()
    (call,) = _by_name(spans, "sarvanom complete")
    assert [a.attributes["gen_ai.system"] for a in _by_name(spans, "chat ")] == ["openai"]
    skipped = [e for e in call.events if e.name == "sarvanom.provider.skipped"]
    assert [e.attributes["sarvanom.provider"] for e in skipped] == ["ollama_local"]
    assert "circuit open" in skipped[0].attributes["sarvanom.reason"]


def test_a_stream_is_one_span_ended_with_the_stream(
    traced: Any, emu: ProviderEmulator, exporter: InMemorySpanExporter
) -> None:
    emu.inject("ollama", Fault.http(500))
    driver = traced("ollama", "openai")
    streamed = driver.stream(PROMPT)
    assert streamed.response is not None and streamed.response.provider.value == "openai"
    spans = exporter.get_finished_spans()
    (call,) = _by_name(spans, "sarvanom stream")
    assert [a.attributes["gen_ai.system"] for a in _by_name(spans, "chat ")] == [
        "ollama",
        "openai",
    ]
    assert call.attributes["sarvanom.fallback"] == "next_provider"
    usage = streamed.response.usage
    assert call.attributes["gen_ai.usage.output_tokens"] == usage.completion_tokens


def test_an_abandoned_stream_ends_its_span_marked_abandoned(
    emu: ProviderEmulator, exporter: InMemorySpanExporter
) -> None:
    from sarvanom_sdk import SarvanClient

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = SarvanClient(env_file=None, tracer_provider=provider, **chain(emu, "ollama"))
    with client, client.stream(PROMPT, cache=False) as stream:
        next(iter(stream))
    (call,) = _by_name(exporter.get_finished_spans(), "sarvanom stream")
    assert call.attributes["sarvanom.stream.abandoned"] is True
    assert call.status.status_code is not StatusCode.ERROR


def test_otel_sdk_disabled_turns_tracing_off(
    emu: ProviderEmulator, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sarvanom_sdk import SarvanClient

    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with SarvanClient(env_file=None, tracer_provider=provider, **chain(emu, "ollama")) as client:
        assert client._core.tracing is None
        client.complete(PROMPT)
    assert exporter.get_finished_spans() == ()


def test_an_incoming_traceparent_is_continued() -> None:
    from opentelemetry import context

    from sarvanom_sdk.telemetry import incoming_context

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    carrier = {"traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01"}
    token = context.attach(incoming_context(carrier))
    try:
        provider.get_tracer("t").start_span("child").end()
    finally:
        context.detach(token)
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == parent_trace
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"


def test_without_a_configured_tracer_nothing_is_installed_or_imported() -> None:
    """No tracer provider given and none set globally: no layer, no observer (no cost);
    ``import sarvanom_sdk`` imports no OpenTelemetry code."""
    code = textwrap.dedent(
        """
        import sys
        import sarvanom_sdk
        imported = any(m.startswith("opentelemetry") for m in sys.modules)
        client = sarvanom_sdk.SarvanClient(env_file=None)
        client.complete("hi")
        print(imported, client._core.tracing, len(client.router.observers),
              len(client._core.layers))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == ["False", "None", "0", "1"]  # the one layer: the response cache

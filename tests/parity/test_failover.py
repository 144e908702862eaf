"""Issue 13 (failover semantics) on both clients against the emulator: complete streams
without a terminator, a malformed event, content-filter and context-length refusals, and
the stream recovery policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from reliability.helpers import trail

from parity.drivers import Connect
from sarvanom_sdk import ContentFiltered, ProviderName, StreamInterrupted
from sarvanom_sdk.testing import Fault, ProviderEmulator

GOLDEN = Path(__file__).parents[1] / "real_model" / "golden"
FILTERED = {
    "error": {
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error",
        "param": None,
        "code": "content_policy_violation",
    }
}


def test_item1_a_stream_complete_but_for_its_terminator_is_a_clean_answer(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("openai", Fault.complete_without_terminator())
    driver = connect("openai", cache_ttl_seconds=0)
    for _ in range(4):  # before: a StreamInterrupted each, and the breaker open after 3
        streamed = driver.stream("hello")
        assert streamed.error is None, streamed.error
        assert streamed.response.provider is ProviderName.OPENAI
        assert streamed.response.usage is not None
        assert streamed.text == streamed.response.content != ""
    assert driver.client.router.endpoints[ProviderName.OPENAI][0].circuit.view().state == "closed"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_item1_a_stream_ending_before_its_finish_marker_is_still_a_cut(
    connect: Connect, emu: ProviderEmulator, provider: str
) -> None:
    emu.inject(provider, Fault.no_terminator())  # clean end, but before the finish event
    streamed = connect(provider).stream("hello")
    assert isinstance(streamed.error, StreamInterrupted)


def test_item1_an_ollama_stream_without_its_done_line_is_still_a_cut(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.no_terminator())
    streamed = connect("ollama").stream("hello")
    assert isinstance(streamed.error, StreamInterrupted)


def test_item5_one_malformed_event_mid_stream_is_skipped_and_noted(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("anthropic", Fault.malformed_json())
    streamed = connect("anthropic").stream("Tell me a story")
    assert streamed.error is None, streamed.error
    assert streamed.response.provider is ProviderName.ANTHROPIC
    assert "skipped 1 malformed event" in streamed.response.attempts[0].reason


def test_item6_a_content_filter_refusal_is_raised_once_and_not_counted(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("openai", Fault.http(400, body=FILTERED))
    driver = connect("openai", "anthropic", max_retries=1, cache_ttl_seconds=0)
    for _ in range(4):
        try:
            driver.complete("something filtered")
        except ContentFiltered as error:
            assert "safety system" in str(error)
            assert error.attempts[0].error_type == "content_filter"
        else:
            raise AssertionError("ContentFiltered was not raised")
    assert emu.request_count("openai", endpoint="generate") == 4  # never retried
    assert emu.request_count("anthropic", endpoint="generate") == 0
    assert driver.client.router.endpoints[ProviderName.OPENAI][0].circuit.view().state == "closed"
    streamed = driver.stream("again", on_content_filter="fallback")
    assert streamed.response.provider is ProviderName.ANTHROPIC


def test_item7_a_context_length_error_falls_over_uncounted_with_its_reason(
    connect: Connect, emu: ProviderEmulator
) -> None:
    body = json.loads((GOLDEN / "error_exceed_context.json").read_text())
    emu.inject("remote_gpu_openai", Fault.http(400, body=body))
    driver = connect("remote_gpu_openai", "openai", max_retries=1, cache_ttl_seconds=0)
    for _ in range(4):
        response = driver.complete("a very long prompt")
        assert response.provider is ProviderName.OPENAI
        assert response.attempts[0].error_type == "context_length"
        assert "exceeds the available context size" in response.attempts[0].reason
    assert emu.request_count("remote_gpu_openai", endpoint="generate") == 4
    gpu = driver.client.router.endpoints[ProviderName.REMOTE_GPU][0].circuit.view()
    assert gpu.state == "closed" and gpu.consecutive_failures == 0


def test_item3_restart_streams_the_next_providers_whole_answer_after_a_restart_chunk(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.cut_stream())
    streamed = connect("ollama", "openai", stream_recovery="restart").stream("Tell me a story")
    assert streamed.error is None, streamed.error
    restarts = [i for i, c in enumerate(streamed.chunks) if c.restart]
    assert len(restarts) == 1 and restarts[0] > 0
    after = "".join(c.text for c in streamed.chunks[restarts[0] + 1 :])
    assert after == streamed.response.content
    assert streamed.response.content.startswith("Emulated openai answer to: Tell me a story")
    assert trail(streamed.response) == [
        ("ollama_local", "ok"), ("ollama_local", "failed"), ("openai", "ok")
    ]
    assert "restarted" in streamed.response.attempts[-1].reason


def test_item3_continue_sends_anthropic_the_partial_answer_as_a_prefill(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.cut_stream())
    driver = connect("ollama", "anthropic")
    streamed = driver.stream("Tell me a story", stream_recovery="continue")
    assert streamed.error is None, streamed.error
    assert not any(c.restart for c in streamed.chunks)
    sent = emu.requests("anthropic")[-1].json["messages"]
    partial = sent[-1]["content"]
    assert sent[-1]["role"] == "assistant" and partial
    assert streamed.response.content.startswith(partial)
    assert streamed.text == streamed.response.content


def _wait_until(driver: Any, condition: Any, timeout: float = 5.0) -> bool:
    """Poll ``condition``; on the async driver, run its loop meanwhile (background probes
    are tasks of that loop)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        if hasattr(driver, "loop"):
            driver.loop.run_until_complete(asyncio.sleep(0.05))
        else:
            time.sleep(0.05)
    return True


def test_item8_a_healthy_probe_lets_a_recovered_providers_trial_through_at_once(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(503), times=3, endpoint="generate")
    driver = connect("ollama", cache_ttl_seconds=0, circuit_reset_seconds=300)
    circuit = driver.client.router.endpoints[ProviderName.OLLAMA_LOCAL][0].circuit
    for i in range(3):
        assert driver.complete(f"down {i}").provider is ProviderName.LOCAL_STUB
    assert circuit.view().state == "open"
    skipped = driver.complete("while open")  # skipped, and starts one background probe
    assert skipped.provider is ProviderName.LOCAL_STUB
    assert _wait_until(driver, lambda: circuit.view().state != "open"), "no probe came"
    assert emu.request_count("ollama", endpoint="probe") == 1
    back = driver.complete("recovered")
    assert back.provider is ProviderName.OLLAMA_LOCAL, back.attempts
    assert circuit.view().state == "closed"


def test_item8_probes_are_rate_limited_and_a_sick_probe_keeps_the_breaker_open(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(503))  # generate and probe alike
    driver = connect("ollama", cache_ttl_seconds=0)
    circuit = driver.client.router.endpoints[ProviderName.OLLAMA_LOCAL][0].circuit
    for i in range(8):
        driver.complete(f"down {i}")
    _wait_until(driver, lambda: emu.request_count("ollama", endpoint="probe") >= 1, 2.0)
    for i in range(5):
        driver.complete(f"still down {i}")
    assert emu.request_count("ollama", endpoint="probe") == 1  # one per 10 s at most
    assert circuit.view().state == "open"


def test_item4_a_stream_that_stalls_after_its_first_chunk_ends_at_the_idle_limit(
    connect: Connect, emu: ProviderEmulator
) -> None:
    import time

    emu.inject("ollama", Fault.trickle(interval=1.5))  # a pause before every event
    driver = connect(
        "ollama",
        attempt_timeout=5.0,
        first_token_timeout=5.0,
        stream_idle_timeout=0.8,
        total_timeout=20.0,
    )
    started = time.monotonic()
    streamed = driver.stream("Tell me a story")
    took = time.monotonic() - started
    assert isinstance(streamed.error, StreamInterrupted)
    assert streamed.error.attempts[-1].error_type == "stalled"
    assert len(streamed.chunks) == 1
    assert took < 1.5 + 0.8 + 1.0 + 1.5  # first chunk, the idle limit, slack

"""Issue 17 item 2: the dashboard's recorder on a fake clock — time buckets, percentiles,
bounded memory, scrubbed reasons."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sarvanom_sdk.clock import FakeClock
from sarvanom_sdk.gateway.activity import (
    BIN_COUNT,
    MAX_PENDING,
    MAX_TRAIL,
    ActivityRecorder,
    latency_bin,
    quantile,
)
from sarvanom_sdk.types import Attempt, AttemptOutcome, LLMRequest, LLMResponse, ProviderName

OLLAMA = ProviderName.OLLAMA_LOCAL
GPU = ProviderName.REMOTE_GPU
OK, FAILED, SKIPPED = AttemptOutcome.OK, AttemptOutcome.FAILED, AttemptOutcome.SKIPPED


def attempt(outcome: AttemptOutcome, ms: float = 10.0, provider=OLLAMA, reason="") -> Attempt:
    return Attempt(provider, outcome, reason, ms, 503 if outcome is FAILED else None)


def answer(request: LLMRequest, **fields) -> LLMResponse:
    values = {"success": True, "provider": OLLAMA, "content": "secret answer text"}
    return LLMResponse(**{**values, **fields, "trace_id": request.trace_id})


def recorder(clock: FakeClock, **options) -> ActivityRecorder:
    return ActivityRecorder(clock, bucket_seconds=10, buckets=6, recent=5, **options)


def test_percentiles_are_within_ten_percent() -> None:
    clock = FakeClock()
    rec = recorder(clock)
    request = LLMRequest(prompt="hi")
    for _ in range(90):
        rec.observe_attempt(attempt(OK, 20.0), request)
    for _ in range(10):
        rec.observe_attempt(attempt(OK, 800.0), request)
    window = rec.snapshot()["providers"]["ollama_local"]["window"]
    assert window["p50_ms"] == pytest.approx(20.0, rel=0.1)
    assert window["p95_ms"] == pytest.approx(800.0, rel=0.1)
    assert (window["attempts"], window["ok"], window["success_rate"]) == (100, 100, 1.0)


def test_latency_bins_cover_every_value() -> None:
    assert latency_bin(0.0) == 0 and latency_bin(float("nan")) == 0
    assert latency_bin(-5) == 0
    assert latency_bin(1e12) == BIN_COUNT - 1
    assert quantile([0] * BIN_COUNT, 0.5) is None
    for ms in (1.0, 3.7, 55.0, 1234.0, 60_000.0):
        counts = [0] * BIN_COUNT
        counts[latency_bin(ms)] = 1
        assert quantile(counts, 0.5) == pytest.approx(ms, rel=0.1)


def test_series_are_per_bucket_and_old_buckets_leave_the_window() -> None:
    clock = FakeClock()
    rec = recorder(clock)
    request = LLMRequest(prompt="hi")
    rec.observe_attempt(attempt(FAILED, 5.0, GPU, "HTTP 503"), request)
    rec.observe_attempt(attempt(OK, 5.0), request)
    rec.observe_response(answer(request))
    clock.advance(10)
    rec.observe_attempt(attempt(OK, 50.0), request)
    snap = rec.snapshot(["remote_gpu", "ollama_local", "huggingface"])
    assert list(snap["providers"]) == ["remote_gpu", "ollama_local", "huggingface"]
    series = snap["providers"]["ollama_local"]["series"]
    assert len(series) == 6 and series[-1]["t"] - series[-2]["t"] == pytest.approx(10)
    assert [b["ok"] for b in series[-2:]] == [1, 1]
    assert series[-2]["p50_ms"] == pytest.approx(5, rel=0.1)
    assert series[-1]["p50_ms"] == pytest.approx(50, rel=0.1)
    assert snap["providers"]["remote_gpu"]["window"]["success_rate"] == 0.0
    assert snap["providers"]["huggingface"]["window"]["attempts"] == 0
    assert snap["totals"]["requests"] == 1
    clock.advance(60)  # the window is 6 x 10 s: everything above has left it
    later = rec.snapshot(["ollama_local"])
    assert later["totals"]["requests"] == 0
    assert later["providers"]["ollama_local"]["window"]["attempts"] == 0
    assert len(later["series"]) == 6


def test_memory_is_bounded_whatever_the_traffic() -> None:
    """Hours of traffic with distinct request ids, answered or not: the ring, the recent
    list, the pending trails and each trail stay within their bounds."""
    clock = FakeClock()
    rec = recorder(clock)
    for n in range(5000):
        request = LLMRequest(prompt=f"p{n}")
        for _ in range(3):
            rec.observe_attempt(attempt(FAILED, 3.0, GPU, "boom"), request)
        if n % 2:
            rec.observe_response(answer(request))
        clock.advance(1.7)
    long_one = LLMRequest(prompt="retried a lot")
    for _ in range(MAX_TRAIL * 3):
        rec.observe_attempt(attempt(FAILED), long_one)
    rec.observe_response(answer(long_one))
    assert len(rec._ring) <= 6
    assert len(rec._pending) <= MAX_PENDING
    assert len(rec._recent) == 5
    assert len(rec.snapshot()["recent"][0]["trail"]) == MAX_TRAIL


def test_outcomes_cost_and_hedges_are_counted() -> None:
    clock = FakeClock()
    hedges = [0]
    rec = recorder(clock, hedge_count=lambda: hedges[0])
    request = LLMRequest(prompt="hi")
    rec.observe_response(answer(request, cost_usd=0.25))
    rec.observe_response(answer(request, cached=True))
    rec.observe_response(answer(request, cached=True, stale=True))
    hedges[0] = 2
    rec.observe_response(answer(request, success=False, provider=ProviderName.LOCAL_STUB))
    snap = rec.snapshot()
    assert snap["totals"] == {
        "requests": 4,
        "cache_hits": 1,
        "stale": 1,
        "stub": 1,
        "hedges": 2,
        "cost_usd": 0.25,
    }
    assert [r["outcome"] for r in snap["recent"]] == ["stub", "stale", "cached", "ok"]
    assert "secret answer text" not in repr(snap)


def test_reasons_lose_quoted_request_text_and_secrets() -> None:
    clock = FakeClock()
    rec = recorder(clock, secrets=["tok-abc-123456"])
    prompt = "Please summarise the quarterly numbers for ACME " + "z" * 200
    request = LLMRequest(prompt=prompt, system="You are a careful accountant")
    quoted = (
        f"HTTP 400: invalid input '{prompt[10:60]}' (system 'You are a careful accountant') "
        "for tok-abc-123456 and sk-live-abcdefgh"
    )
    rec.observe_attempt(attempt(FAILED, reason=quoted), request)
    rec.observe_response(answer(request))
    reason = rec.snapshot()["recent"][0]["trail"][0]["reason"]
    assert reason.startswith("HTTP 400: invalid input '")
    assert "[prompt]" in reason
    for leaked in ("quarterly", "summarise", "accountant", "tok-abc", "sk-live"):
        assert leaked not in reason, reason
    assert rec.snapshot()["providers"]["ollama_local"]["last_failure_reason"] == reason
    assert len(rec.scrub("x" * 1000, ())) <= 160


def test_a_cache_hit_has_an_empty_trail_and_unseen_trails_come_from_the_response() -> None:
    clock = FakeClock()
    rec = recorder(clock, secrets=["tok-abc-123456"])
    request = LLMRequest(prompt="hi")
    response = answer(request, attempts=(attempt(FAILED, reason="bad tok-abc-123456"),))
    rec.observe_response(response)
    trail = rec.snapshot()["recent"][0]["trail"]
    assert trail[0]["reason"] == "bad [REDACTED]" and trail[0]["status"] == 503


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="bucket_seconds"):
        ActivityRecorder(FakeClock(), bucket_seconds=0)
    with pytest.raises(ValueError, match="buckets"):
        ActivityRecorder(FakeClock(), buckets=0)


def test_attempts_that_name_their_endpoint_are_counted_per_endpoint() -> None:
    """With several endpoints a provider's attempts name their base URL (the SDK's Attempt
    gains ``endpoint`` and ``error_type``); each endpoint then has its own window."""

    @dataclass(frozen=True)
    class NamedAttempt:
        provider: ProviderName
        outcome: AttemptOutcome
        reason: str
        latency_ms: float
        status: int | None
        endpoint: str
        error_type: str | None = None

    clock = FakeClock()
    rec = recorder(clock)
    request = LLMRequest(prompt="hi")
    a, b = "http://gpu-a:8001", "http://gpu-b:8001"
    for _ in range(3):
        rec.observe_attempt(NamedAttempt(GPU, OK, "answered", 10.0, None, a), request)
    rec.observe_attempt(NamedAttempt(GPU, FAILED, "timeout", 900.0, None, b, "timeout"), request)
    rec.observe_response(answer(request))
    snap = rec.snapshot()
    assert snap["endpoints"][a]["ok"] == 3 and snap["endpoints"][a]["success_rate"] == 1.0
    assert snap["endpoints"][b]["failed"] == 1
    assert snap["endpoints"][b]["p95_ms"] == pytest.approx(900, rel=0.1)
    assert snap["providers"]["remote_gpu"]["window"]["attempts"] == 4
    failed = snap["recent"][0]["trail"][-1]
    assert (failed["endpoint"], failed["error_type"]) == (b, "timeout")

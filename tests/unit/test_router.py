"""The routing flow on a fake clock: fallback, breaker, deadline, retry, cost gate, cache."""

from __future__ import annotations

import pytest
from fakes import HANG, Harness, reply

from sarvanom_sdk.errors import ProviderConnectionError, RateLimited, ServerError
from sarvanom_sdk.layers.breaker import TRIAL
from sarvanom_sdk.types import AttemptOutcome, ProviderName

OLLAMA = ProviderName.OLLAMA_LOCAL
GPU = ProviderName.REMOTE_GPU
HF = ProviderName.HUGGINGFACE
OPENAI = ProviderName.OPENAI
STUB = ProviderName.LOCAL_STUB


def outcomes(response):
    return [(a.provider, a.outcome) for a in response.attempts]


def test_first_provider_answers_with_a_one_entry_trail():
    h = Harness((OLLAMA, GPU))
    response = h.complete()
    assert response.success and response.provider is OLLAMA
    assert response.content == "ok from ollama_local"
    assert outcomes(response) == [(OLLAMA, AttemptOutcome.OK)]
    assert h.transport.count(GPU) == 0


def test_failure_is_retried_once_then_falls_over_to_the_next_provider():
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, reply(503, "busy"), reply(503, "still busy"))
    response = h.complete()
    assert response.provider is GPU
    assert h.transport.count(OLLAMA) == 2
    assert outcomes(response) == [
        (OLLAMA, AttemptOutcome.FAILED),
        (OLLAMA, AttemptOutcome.FAILED),
        (GPU, AttemptOutcome.OK),
    ]
    assert response.attempts[0].status == 503
    assert response.attempts[0].reason.startswith("HTTP 503")


def test_no_retry_for_errors_that_retrying_cannot_fix():
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, reply(401, "bad key"))
    assert h.complete().provider is GPU
    assert h.transport.count(OLLAMA) == 1


def test_every_provider_failing_gives_the_stub_with_the_reasons():
    h = Harness((OLLAMA,), max_retries=0)
    h.transport.script(OLLAMA, ProviderConnectionError("connection refused"))
    response = h.complete()
    assert response.provider is STUB and not response.success
    assert "ollama_local failed (connection refused)" in response.content
    assert "not a model's answer" in response.content
    assert outcomes(response)[-1] == (STUB, AttemptOutcome.OK)


def test_breaker_opens_after_three_consecutive_failures_and_skips_without_a_call():
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, *[ProviderConnectionError("refused")] * 3)
    for _ in range(3):
        assert h.complete(cache=False).provider is GPU
    calls_before = h.transport.count(OLLAMA)
    response = h.complete(cache=False)
    assert h.transport.count(OLLAMA) == calls_before == 3
    assert response.attempts[0].outcome is AttemptOutcome.SKIPPED
    assert response.attempts[0].reason.startswith("circuit open until")
    health = h.router.health.snapshot({p: c.view() for p, c in h.circuits.items()})
    assert health["ollama_local"].status.value == "circuit_open"
    assert health["ollama_local"].error_count == 3


def test_two_failures_then_a_success_do_not_open_the_breaker():
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, ServerError("x"), ServerError("x"), b"fine", ServerError("x"))
    for _ in range(4):
        h.complete(cache=False)
    assert h.circuits[OLLAMA].view().state == "closed"
    assert h.circuits[OLLAMA].view().consecutive_failures == 1


def test_after_the_reset_timeout_exactly_one_trial_call_is_admitted():
    h = Harness((OLLAMA,), max_retries=0)
    circuit = h.circuits[OLLAMA]
    for _ in range(3):
        circuit.record_failure(circuit.admit(), ServerError("x"))
    assert isinstance(circuit.admit(), str)
    h.clock.advance(299)
    assert circuit.admit().startswith("circuit open")
    h.clock.advance(1)
    tickets = [circuit.admit() for _ in range(100)]
    assert tickets.count(TRIAL) == 1
    assert all(t == "circuit half-open, trial call in progress" for t in tickets[1:])


def test_a_successful_trial_closes_the_breaker():
    h = Harness((OLLAMA,), max_retries=0)
    h.transport.script(OLLAMA, *[ServerError("x")] * 3)
    for _ in range(3):
        h.complete(cache=False)
    h.clock.advance(300)
    assert h.complete(cache=False).provider is OLLAMA
    assert h.circuits[OLLAMA].view().state == "closed"


def test_a_failed_trial_reopens_the_breaker_for_another_full_period():
    h = Harness((OLLAMA,), max_retries=0)
    h.transport.script(OLLAMA, *[ServerError("x")] * 4)
    for _ in range(3):
        h.complete(cache=False)
    h.clock.advance(300)
    h.complete(cache=False)  # the trial, fails
    assert h.transport.count(OLLAMA) == 4
    h.clock.advance(299)
    response = h.complete(cache=False)
    assert h.transport.count(OLLAMA) == 4
    assert response.attempts[0].reason.startswith("circuit open until")


def test_our_own_bad_request_does_not_trip_the_breaker():
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, *[reply(404, "model not found")] * 5)
    for _ in range(5):
        assert h.complete(cache=False).provider is GPU
    assert h.circuits[OLLAMA].view().state == "closed"


def test_a_429_with_retry_after_keeps_the_provider_out_that_long():
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, reply(429, "slow down", retry_after="120"))
    assert h.complete(cache=False).provider is GPU
    h.clock.advance(100)
    response = h.complete(cache=False)
    assert response.attempts[0].reason.startswith("rate limited until")
    assert h.transport.count(OLLAMA) == 1
    h.clock.advance(21)
    assert h.complete(cache=False).provider is OLLAMA


def test_a_short_retry_after_is_waited_for_exactly_then_retried():
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, RateLimited("429", status=429, retry_after=1.5))
    before = h.clock.monotonic()
    response = h.complete()
    assert response.provider is OLLAMA
    assert h.transport.count(OLLAMA) == 2
    assert h.clock.monotonic() - before == pytest.approx(1.5 + 2 * 0.01)


def test_a_retry_after_longer_than_the_deadline_left_falls_over_at_once():
    h = Harness((OLLAMA, GPU), total_timeout=10)
    h.transport.script(OLLAMA, RateLimited("429", status=429, retry_after=4.0))
    h.router.retry.max_wait = 60
    h.transport.latency = 7.0  # the 429 itself took 7 s: 3 s left < 4 s
    response = h.complete()
    assert response.provider is GPU
    assert h.transport.count(OLLAMA) == 1


def test_hanging_providers_cost_one_attempt_timeout_each_within_the_total_deadline():
    h = Harness((OLLAMA, GPU, HF), attempt_timeout=15, total_timeout=30)
    h.transport.script(OLLAMA, HANG)
    h.transport.script(GPU, HANG)
    h.transport.script(HF, HANG)
    before = h.clock.monotonic()
    response = h.complete()
    elapsed = h.clock.monotonic() - before
    assert response.provider is STUB
    assert elapsed <= 30.0
    assert [t for _, t in h.transport.calls] == [15.0, 15.0]
    assert response.attempts[2].reason == "total deadline reached"


def test_attempt_timeout_is_cut_to_what_is_left_of_the_deadline():
    h = Harness((OLLAMA, GPU), attempt_timeout=15, total_timeout=20)
    h.transport.script(OLLAMA, HANG)
    h.complete()
    assert [t for _, t in h.transport.calls] == [15.0, pytest.approx(5.0)]


def test_paid_providers_are_skipped_when_paid_use_is_disabled():
    h = Harness((OLLAMA, OPENAI), enable_paid_api=False, max_retries=0)
    h.transport.script(OLLAMA, ServerError("x"))
    response = h.complete()
    assert response.provider is STUB
    assert response.attempts[1].provider is OPENAI
    assert response.attempts[1].outcome is AttemptOutcome.SKIPPED
    assert "paid API disabled" in response.attempts[1].reason
    assert h.transport.count(OPENAI) == 0


def test_budget_skips_a_paid_provider_whose_estimate_exceeds_what_is_left():
    h = Harness((OPENAI,), budget_usd=0.000001)
    response = h.complete(max_tokens=1000)
    assert response.provider is STUB
    assert response.attempts[0].reason.startswith("budget: estimated")
    assert h.transport.count(OPENAI) == 0


def test_paid_call_books_its_real_cost_from_usage():
    h = Harness((OPENAI,), budget_usd=1.0)
    response = h.complete()
    # FakeAdapter reports 10 prompt + 5 completion tokens; openai-model is not in the
    # price table, so it is priced at the (high) unknown-model price.
    assert response.cost_usd == pytest.approx((10 * 15 + 5 * 75) / 1e6)
    assert h.ledger.spent_usd == pytest.approx(response.cost_usd)


def test_cache_hit_skips_the_providers_and_is_marked():
    h = Harness((OLLAMA,))
    first = h.complete("same")
    second = h.complete("same")
    assert not first.cached and second.cached
    assert second.content == first.content
    assert second.trace_id != first.trace_id
    assert h.transport.count(OLLAMA) == 1


def test_cache_entries_expire_after_their_ttl():
    h = Harness((OLLAMA,), cache_ttl_seconds=60)
    h.complete("same")
    h.clock.advance(61)
    assert not h.complete("same").cached
    assert h.transport.count(OLLAMA) == 2


def test_stale_answer_is_served_before_the_stub_when_every_provider_fails():
    h = Harness((OLLAMA,), cache_ttl_seconds=60, max_retries=0)
    h.complete("same")
    h.clock.advance(61)
    h.transport.script(OLLAMA, ServerError("down"))
    response = h.complete("same")
    assert response.stale and response.cached and response.success
    assert response.content == "ok from ollama_local"
    assert response.attempts[0].outcome is AttemptOutcome.FAILED


def test_stub_answers_are_never_cached():
    h = Harness((OLLAMA,), max_retries=0)
    h.transport.script(OLLAMA, ServerError("down"))
    assert h.complete("q").provider is STUB
    assert h.complete("q").provider is OLLAMA


def test_pinned_provider_is_the_only_one_tried():
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(GPU, ServerError("x"))
    response = h.complete(provider="remote_gpu")
    assert response.provider is STUB
    assert h.transport.count(OLLAMA) == 0


def test_pinning_a_provider_outside_the_chain_says_why():
    h = Harness((OLLAMA,))
    response = h.complete(provider="huggingface", cache=False)
    assert response.attempts[0].reason == "HUGGINGFACE_API_KEY not set"


def test_closing_a_flow_mid_trial_gives_the_admission_back_without_an_outcome():
    h = Harness((OLLAMA,), max_retries=0)
    circuit = h.circuits[OLLAMA]
    for _ in range(3):
        circuit.record_failure(circuit.admit(), ServerError("x"))
    h.clock.advance(300)
    flow = h.router.complete_flow(__import__("sarvanom_sdk").LLMRequest(prompt="x"))
    next(flow)  # the trial call is in flight
    flow.close()  # cancelled
    assert circuit.view().consecutive_failures == 3
    assert circuit.admit() == TRIAL  # the trial slot is free again

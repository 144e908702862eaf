"""Issue 12 (F5, F6 S2, F8) and issue 13 (items 3, 4, 6, 7, 9) on the routing flows, with
fakes on a fake clock: whose fault a failure is, stalls, booking, recovery, typed causes."""

from __future__ import annotations

import logging

import pytest
from fakes import HANG, Harness, reply

from sarvanom_sdk.errors import (
    ClientRequestError,
    ContentFiltered,
    ContextLengthExceeded,
    ProviderConnectionError,
    StreamInterrupted,
)
from sarvanom_sdk.runners import drive
from sarvanom_sdk.types import AttemptOutcome, LLMRequest, LLMResponse, ProviderName

OLLAMA = ProviderName.OLLAMA_LOCAL
GPU = ProviderName.REMOTE_GPU
OPENAI = ProviderName.OPENAI
ANTHROPIC = ProviderName.ANTHROPIC


def stream(h: Harness, prompt: str = "tell me", **options):
    chunks, final = [], None
    for item in drive(
        h.router.stream_flow(LLMRequest(prompt=prompt, **options)), h.transport, h.clock.advance
    ):
        if isinstance(item, LLMResponse):
            final = item
        else:
            chunks.append(item)
    return chunks, final


# -- F5: the caller's own failures do not count against the breaker ------------------------
def test_F5_timeouts_under_a_callers_short_timeout_do_not_open_the_breaker():
    h = Harness((OLLAMA,), attempt_timeout=10, total_timeout=30, max_retries=0)
    for _ in range(4):
        h.transport.script(OLLAMA, HANG)
        assert h.complete(f"x{_}", timeout=0.5).provider is ProviderName.LOCAL_STUB
    assert h.circuits[OLLAMA].view().state == "closed"
    assert h.complete("normal").provider is OLLAMA


def test_F5_a_timeout_under_the_configured_limits_still_counts():
    h = Harness((OLLAMA,), attempt_timeout=1, total_timeout=30, max_retries=0)
    for i in range(3):
        h.transport.script(OLLAMA, HANG)
        h.complete(f"x{i}", timeout=20)  # the attempt timeout (1 s) is what fired
    assert h.circuits[OLLAMA].view().state == "open"


@pytest.mark.parametrize("status", [401, 403, 404, 400])
def test_F5_errors_answering_a_model_override_do_not_count(status):
    h = Harness((OLLAMA,), max_retries=0)
    for i in range(4):
        h.transport.script(OLLAMA, reply(status, "no such model for you"))
        h.complete(f"x{i}", provider="ollama_local", model="gated/model")
    assert h.circuits[OLLAMA].view().consecutive_failures == 0
    assert h.circuits[OLLAMA].view().state == "closed"
    assert h.complete("normal").provider is OLLAMA


def test_F5_a_timeout_while_a_model_override_loads_does_not_count():
    h = Harness((OLLAMA,), max_retries=0)
    for i in range(4):
        h.transport.script(OLLAMA, HANG)
        h.complete(f"x{i}", provider="ollama_local", model="huge:70b")
    assert h.circuits[OLLAMA].view().state == "closed"


def test_F5_a_callers_short_timeout_on_a_stream_does_not_count():
    h = Harness((OLLAMA,), first_token_timeout=10, total_timeout=30, max_retries=0)
    for i in range(4):
        h.transport.script(OLLAMA, [HANG])
        stream(h, f"x{i}", timeout=0.5)
    assert h.circuits[OLLAMA].view().state == "closed"


# -- issue 13 item 4 / F6 S2: stalls --------------------------------------------------------
def test_item4_keep_alive_comments_do_not_reset_the_idle_limit_after_the_commit():
    h = Harness((OLLAMA,), total_timeout=100, stream_idle_timeout=3, max_retries=0)
    keepalives = [x for _ in range(20) for x in (1.0, b":keep-alive\n")]
    h.transport.script(OLLAMA, [b"first\n", *keepalives, b"never\n", b"DONE\n"])
    before = h.clock.monotonic()
    with pytest.raises(StreamInterrupted) as info:
        stream(h)
    took = h.clock.monotonic() - before
    assert 3.0 <= took <= 4.1, took
    assert info.value.partial_text == "first"
    assert info.value.attempts[-1].error_type == "stalled"
    assert "no content for 3.0s" in info.value.attempts[-1].reason


def test_item4_content_resets_the_idle_limit_and_the_total_deadline_still_bounds_it():
    h = Harness((OLLAMA,), total_timeout=10, stream_idle_timeout=3, max_retries=0)
    h.transport.script(OLLAMA, [b"a\n", *[x for _ in range(30) for x in (2.0, b"b\n")], b"DONE\n"])
    before = h.clock.monotonic()
    with pytest.raises(StreamInterrupted) as info:
        stream(h)
    assert h.clock.monotonic() - before <= 10.0 + 0.1
    assert info.value.partial_text.startswith("abb")  # content kept it alive past 3 s
    assert info.value.attempts[-1].error_type == "timeout"


def test_item4_a_stall_before_the_first_chunk_moves_to_the_next_provider():
    h = Harness((OLLAMA, GPU), first_token_timeout=2, max_retries=0)
    h.transport.script(OLLAMA, [x for _ in range(10) for x in (0.5, b":ping\n")])
    h.transport.script(GPU, [b"gpu\n", b"DONE\n"])
    chunks, final = stream(h)
    assert final.provider is GPU and [c.text for c in chunks] == ["gpu"]
    assert final.attempts[0].error_type == "timeout"


# -- F8: paid streams that do not end cleanly are booked ------------------------------------
def _budget_harness() -> Harness:
    h = Harness((OPENAI,), budget_usd=1.0, max_retries=0, cache_ttl_seconds=0)
    return h


def test_F8_an_abandoned_paid_stream_books_its_reservation():
    h = _budget_harness()
    h.transport.script(OPENAI, [b"a\n", b"b\n", b"DONE\n"])
    items = drive(h.router.stream_flow(LLMRequest(prompt="x", max_tokens=100)), h.transport)
    next(items)
    items.close()
    assert h.ledger.spent_usd > 0 and h.ledger.remaining() == 1.0 - h.ledger.spent_usd


def test_F8_a_cut_paid_stream_books_at_least_its_reservation():
    h = _budget_harness()
    h.transport.script(OPENAI, [b"partial\n", ProviderConnectionError("reset")])
    with pytest.raises(StreamInterrupted):
        stream(h, "x", max_tokens=100)
    assert h.ledger.spent_usd > 0
    assert h.ledger.remaining() == pytest.approx(1.0 - h.ledger.spent_usd)


def test_F8_a_timed_out_paid_attempt_books_its_reservation_and_a_refused_one_does_not():
    h = _budget_harness()
    h.transport.script(OPENAI, HANG)
    h.complete("x", max_tokens=100)
    booked = h.ledger.spent_usd
    assert booked > 0
    h.transport.script(OPENAI, reply(503))
    h.complete("y", max_tokens=100)
    assert h.ledger.spent_usd == booked


# -- item 9: typed causes --------------------------------------------------------------------
def test_item9_every_failed_attempt_has_a_typed_cause_in_to_dict_and_the_log(caplog):
    h = Harness((OLLAMA, GPU, OPENAI), max_retries=0)
    h.transport.script(OLLAMA, reply(429))
    h.transport.script(GPU, HANG)
    h.transport.script(OPENAI, reply(401))
    with caplog.at_level(logging.INFO, logger="sarvanom_sdk"):
        response = h.complete("x")
    types = [a.error_type for a in response.attempts]
    assert types == ["rate_limited", "timeout", "auth", None]
    assert response.to_dict()["attempts"][0]["error_type"] == "rate_limited"
    logged = [r.error_type for r in caplog.records if hasattr(r, "error_type")]
    assert logged[:3] == ["rate_limited", "timeout", "auth"]


def test_item9_a_cut_stream_is_typed_stream_cut():
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, [b"x\n", ProviderConnectionError("reset")])
    with pytest.raises(StreamInterrupted) as info:
        stream(h)
    assert info.value.attempts[-1].error_type == "stream_cut"


# -- items 6 and 7: content filter and context length ---------------------------------------
def test_item6_a_content_filter_refusal_is_raised_not_retried_not_counted():
    h = Harness((OLLAMA, GPU), max_retries=1)
    h.transport.script(OLLAMA, ContentFiltered("content_policy_violation: no", status=400))
    with pytest.raises(ContentFiltered) as info:
        h.complete("x")
    assert h.transport.count(OLLAMA) == 1 and h.transport.count(GPU) == 0
    assert info.value.attempts[0].error_type == "content_filter"
    assert "content_policy_violation" in str(info.value)
    assert h.circuits[OLLAMA].view().consecutive_failures == 0


def test_item6_on_content_filter_fallback_moves_to_the_next_provider():
    h = Harness((OLLAMA, GPU), max_retries=1)
    h.transport.script(OLLAMA, ContentFiltered("content_filter"))
    response = h.complete("x", on_content_filter="fallback")
    assert response.provider is GPU and h.transport.count(OLLAMA) == 1
    h2 = Harness((OLLAMA, GPU), on_content_filter="fallback")
    h2.transport.script(OLLAMA, ContentFiltered("content_filter"))
    assert h2.complete("x").provider is GPU


def test_item6_a_refusal_finish_reason_on_a_stream_raises_content_filtered():
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, [b"I can\n", b"FINISH:content_filter\n"])
    with pytest.raises(ContentFiltered) as info:
        stream(h)
    assert info.value.partial_text == "I can"
    assert h.transport.count(GPU) == 0
    assert h.circuits[OLLAMA].view().consecutive_failures == 0


def test_item7_context_length_is_not_retried_not_counted_and_falls_over():
    h = Harness((OLLAMA, GPU), max_retries=1)
    h.transport.script(OLLAMA, ContextLengthExceeded("context_length_exceeded", status=400))
    response = h.complete("x")
    assert response.provider is GPU
    assert h.transport.count(OLLAMA) == 1
    assert response.attempts[0].error_type == "context_length"
    assert "context_length_exceeded" in response.attempts[0].reason
    assert h.circuits[OLLAMA].view().consecutive_failures == 0


# -- item 3: recovery policies -------------------------------------------------------------
def test_item3_raise_is_the_default():
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, [b"part\n", ProviderConnectionError("reset")])
    with pytest.raises(StreamInterrupted):
        stream(h)
    assert h.transport.count(GPU) == 0


def test_item3_restart_tells_the_caller_to_discard_and_streams_a_whole_answer():
    h = Harness((OLLAMA, GPU), stream_recovery="restart")
    h.transport.script(OLLAMA, [b"part\n", ProviderConnectionError("reset")])
    h.transport.script(GPU, [b"whole \n", b"answer\n", b"DONE\n"])
    chunks, final = stream(h)
    assert [c.restart for c in chunks] == [False, True, False, False]
    assert final.content == "whole answer" and final.provider is GPU
    outcomes = [(a.provider, a.outcome) for a in final.attempts]
    assert outcomes == [
        (OLLAMA, AttemptOutcome.OK),
        (OLLAMA, AttemptOutcome.FAILED),
        (GPU, AttemptOutcome.OK),
    ]
    assert "restarted" in final.attempts[-1].reason


def test_item3_restart_per_request_and_with_no_provider_left_raises():
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, [b"part\n", ProviderConnectionError("reset")])
    with pytest.raises(StreamInterrupted) as info:
        stream(h, stream_recovery="restart")
    assert info.value.partial_text == "part"


def test_item3_continue_sends_the_partial_answer_as_a_prefill_and_appends():
    h = Harness((OLLAMA, ANTHROPIC), stream_recovery="continue")
    h.endpoints[ANTHROPIC][0].adapter.accepts_prefill = True
    h.transport.script(OLLAMA, [b"The cap\n", ProviderConnectionError("reset")])
    h.transport.script(ANTHROPIC, [b"ital is Paris\n", b"DONE\n"])
    chunks, final = stream(h, "capital of France?")
    assert not any(c.restart for c in chunks)
    assert final.content == "The capital is Paris"
    sent = h.endpoints[ANTHROPIC][0].adapter.requests[-1]
    assert sent.chat_messages()[-1] == {"role": "assistant", "content": "The cap"}
    assert "continuing after 7 chars" in final.attempts[-1].reason


def test_item3_a_refused_prefill_is_retried_as_a_restart_never_the_final_error():
    h = Harness((OLLAMA, ANTHROPIC), stream_recovery="continue")
    h.endpoints[ANTHROPIC][0].adapter.accepts_prefill = True
    h.transport.script(OLLAMA, [b"The cap\n", ProviderConnectionError("reset")])
    h.transport.script(
        ANTHROPIC,
        ClientRequestError("HTTP 400: assistant prefill not supported", status=400),
        [b"Paris.\n", b"DONE\n"],
    )
    chunks, final = stream(h)
    assert [c.restart for c in chunks] == [False, True, False]
    assert final.content == "Paris." and final.provider is ANTHROPIC
    assert any("prefill refused" in a.reason for a in final.attempts)


def test_item3_continue_without_a_prefill_capable_provider_restarts():
    h = Harness((OLLAMA, GPU), stream_recovery="continue")
    h.transport.script(OLLAMA, [b"The cap\n", ProviderConnectionError("reset")])
    h.transport.script(GPU, [b"Paris\n", b"DONE\n"])
    chunks, final = stream(h)
    assert chunks[1].restart and final.content == "Paris"
    assert h.endpoints[GPU][0].adapter.requests[-1].prompt == "tell me"


def test_item3_every_attempts_delivered_tokens_are_booked():
    h = Harness((OPENAI, ANTHROPIC), stream_recovery="restart", budget_usd=1.0)
    h.transport.script(OPENAI, [b"part\n", ProviderConnectionError("reset")])
    h.transport.script(ANTHROPIC, [b"whole\n", b"DONE\n"])
    _, final = stream(h, max_tokens=50)
    assert final.provider is ANTHROPIC
    assert h.ledger.spent_usd > final.cost_usd > 0


def test_item6_a_stream_refused_before_any_content_falls_over_when_asked():
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, [b"FINISH:content_filter\n"])
    h.transport.script(GPU, [b"gpu\n", b"DONE\n"])
    chunks, final = stream(h, on_content_filter="fallback")
    assert [c.text for c in chunks] == ["gpu"] and final.provider is GPU
    assert final.attempts[0].error_type == "content_filter"
    h.transport.script(OLLAMA, [b"FINISH:refusal\n"])
    with pytest.raises(ContentFiltered):
        stream(h, "again")

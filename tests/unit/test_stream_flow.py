"""The stream flow on a fake clock: commit on first content, fallback before it, an
explicit error after it, first-token timeout, cache."""

from __future__ import annotations

import pytest
from fakes import HANG, Harness, reply

from sarvanom_sdk.errors import AllProvidersFailed, ProviderConnectionError, StreamInterrupted
from sarvanom_sdk.runners import drive
from sarvanom_sdk.types import AttemptOutcome, LLMRequest, LLMResponse, ProviderName

OLLAMA = ProviderName.OLLAMA_LOCAL
GPU = ProviderName.REMOTE_GPU
STUB = ProviderName.LOCAL_STUB


def stream(h: Harness, prompt: str = "tell me", **options):
    chunks, final = [], None
    for item in drive(h.router.stream_flow(LLMRequest(prompt=prompt, **options)),
                      h.transport, h.clock.advance):
        if isinstance(item, LLMResponse):
            final = item
        else:
            chunks.append(item)
    return chunks, final


def test_chunks_arrive_one_by_one_and_the_final_response_joins_them():
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, [b"Hel\n", b"lo\n", b"DONE\n"])
    chunks, final = stream(h)
    assert [c.text for c in chunks] == ["Hel", "lo"]
    assert final.content == "Hello" and final.provider is OLLAMA
    assert final.usage.completion_tokens == 2
    assert h.transport.streams[0].closed


def test_a_provider_silent_before_its_first_token_is_abandoned_unseen():
    h = Harness((OLLAMA, GPU), first_token_timeout=2.0, max_retries=0)
    h.transport.script(OLLAMA, [HANG])
    h.transport.script(GPU, [b"from gpu\n", b"DONE\n"])
    chunks, final = stream(h)
    assert [c.text for c in chunks] == ["from gpu"]
    assert final.provider is GPU
    assert final.attempts[0].outcome is AttemptOutcome.FAILED
    assert "2.0s" in final.attempts[0].reason
    assert h.transport.streams[0].closed


def test_an_error_status_before_the_stream_falls_over():
    h = Harness((OLLAMA, GPU), max_retries=0)
    h.transport.script(OLLAMA, reply(503, "loading"))
    chunks, final = stream(h)
    assert final.provider is GPU
    assert final.attempts[0].status == 503


def test_a_cut_after_the_first_chunk_raises_with_the_partial_text():
    h = Harness((OLLAMA, GPU))
    h.transport.script(OLLAMA, [b"partial\n", ProviderConnectionError("reset")])
    got = []
    with pytest.raises(StreamInterrupted) as info:
        for item in drive(h.router.stream_flow(LLMRequest(prompt="x")), h.transport):
            got.append(item)
    assert info.value.partial_text == "partial"
    assert [a.outcome for a in info.value.attempts] == [AttemptOutcome.OK, AttemptOutcome.FAILED]
    assert h.transport.count(GPU) == 0
    assert h.transport.streams[0].closed


def test_a_stream_ending_without_its_terminator_is_not_a_clean_finish():
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, [b"some text\n"])
    with pytest.raises(StreamInterrupted, match="terminator"):
        stream(h)


def test_a_stall_after_the_commit_ends_at_the_idle_timeout():
    h = Harness((OLLAMA,), total_timeout=5)
    h.transport.script(OLLAMA, [b"a\n", HANG])
    before = h.clock.monotonic()
    with pytest.raises(StreamInterrupted):
        stream(h)
    assert h.clock.monotonic() - before <= 5.0 + 0.1


def test_all_failing_streams_the_stub_as_one_chunk():
    h = Harness((OLLAMA,), max_retries=0)
    h.transport.script(OLLAMA, reply(500))
    chunks, final = stream(h)
    assert len(chunks) == 1 and final.provider is STUB
    assert chunks[0].text == final.content


def test_strict_mode_raises_instead_of_streaming_the_stub():
    h = Harness((OLLAMA,), max_retries=0, fallback_to_stub=False)
    h.transport.script(OLLAMA, reply(500))
    with pytest.raises(AllProvidersFailed) as info:
        stream(h)
    assert info.value.attempts[0].provider is OLLAMA


def test_a_completed_stream_is_cached_and_a_hit_streams_as_one_chunk():
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, [b"one\n", b"two\n", b"DONE\n"])
    stream(h, "same")
    chunks, final = stream(h, "same")
    assert [c.text for c in chunks] == ["onetwo"]
    assert final.cached
    assert h.transport.count(OLLAMA) == 1
    # and the cache is the one complete() uses
    assert h.complete("same").cached


def test_leaving_a_stream_early_closes_the_provider_connection():
    h = Harness((OLLAMA,))
    h.transport.script(OLLAMA, [b"a\n", b"b\n", b"DONE\n"])
    items = drive(h.router.stream_flow(LLMRequest(prompt="x")), h.transport)
    next(items)
    items.close()
    assert h.transport.streams[0].closed
    assert h.circuits[OLLAMA].view().consecutive_failures == 0

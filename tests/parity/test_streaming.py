"""Streaming, the same on both clients: chunks arrive as the provider sends them; before the
first token a failing or silent provider is abandoned unseen; after it, a failure ends the
stream with StreamInterrupted and the text so far."""

from __future__ import annotations

import re

from reliability.helpers import MARGIN, TIMED_OUT, stopwatch, trail

from parity.drivers import Connect
from sarvanom_sdk import ProviderName, StreamInterrupted
from sarvanom_sdk.testing import Fault, ProviderEmulator


def test_chunks_arrive_incrementally_and_join_into_the_final_response(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.trickle(interval=0.1))  # a pause before every event
    streamed = connect("ollama").stream("Tell me a story")
    assert streamed.error is None and streamed.response is not None
    assert len(streamed.chunks) >= 3
    assert streamed.arrivals[-1] - streamed.arrivals[0] >= 0.15, "chunks came all at once"
    assert streamed.providers == {"ollama_local"}
    assert streamed.text == streamed.response.content
    assert streamed.response.content.startswith("Emulated ollama answer to: Tell me a story")
    assert trail(streamed.response) == [("ollama_local", "ok")]


def test_a_provider_silent_before_its_first_token_is_abandoned_unseen(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.trickle(interval=30))  # headers, then silence
    driver = connect("ollama", "openai", first_token_timeout=0.5)
    with stopwatch() as took:
        streamed = driver.stream("hello")
    assert took[0] < 0.5 + MARGIN
    assert streamed.error is None and streamed.response is not None
    assert streamed.providers == {"openai"}
    assert streamed.response.provider is ProviderName.OPENAI
    assert trail(streamed.response) == [("ollama_local", "failed"), ("openai", "ok")]
    assert re.search(TIMED_OUT, streamed.response.attempts[0].reason)


def test_an_error_status_before_the_stream_falls_over_unseen(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(503))
    streamed = connect("ollama", "openai").stream("hello")
    assert streamed.providers == {"openai"}
    assert streamed.response is not None
    assert streamed.response.attempts[0].status == 503


def test_a_stream_cut_after_its_first_chunk_raises_with_the_partial_text(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.cut_stream())
    streamed = connect("ollama", "openai").stream("Tell me a story")
    error = streamed.error
    assert isinstance(error, StreamInterrupted)
    assert streamed.response is None
    assert error.partial_text == streamed.text
    assert "Emulated ollama answer to: Tell me a story".startswith(error.partial_text)
    assert 0 < len(error.partial_text) < len("Emulated ollama answer to: Tell me a story")
    assert trail(error)[-1] == ("ollama_local", "failed")
    assert error.attempts[-1].reason.startswith(f"stream cut after {len(streamed.text)} chars")
    assert emu.request_count("openai") == 0, "a second provider was spliced on"


def test_a_stream_without_its_terminator_is_not_a_clean_finish(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.no_terminator())
    streamed = connect("ollama").stream("hello")
    assert isinstance(streamed.error, StreamInterrupted)
    assert streamed.error.partial_text == streamed.text != ""


def test_a_completed_stream_is_cached_and_replayed_as_one_chunk(
    connect: Connect, emu: ProviderEmulator
) -> None:
    driver = connect("ollama")
    first = driver.stream("cache me")
    again = driver.stream("cache me")
    assert again.response is not None and again.response.cached
    assert [c.text for c in again.chunks] == [first.text]
    assert emu.request_count("ollama") == 1


def test_when_every_provider_fails_the_stub_is_streamed_as_one_chunk(
    connect: Connect, emu: ProviderEmulator
) -> None:
    emu.inject("ollama", Fault.http(500))
    streamed = connect("ollama").stream("hello")
    assert streamed.response is not None
    assert streamed.response.provider is ProviderName.LOCAL_STUB
    assert [c.text for c in streamed.chunks] == [streamed.response.content]

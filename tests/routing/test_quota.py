"""Quota awareness: a provider whose rate-limit headers say its quota is spent (remaining 0
with a reset, or a 429 with ``x-ratelimit-reset``) is kept out, without a call, until the
reset; then it is called again."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest

from sarvanom_sdk.routing import parse_reset, quota_exhausted_for
from sarvanom_sdk.testing import ProviderEmulator

from .helpers import HF, OLLAMA, ScriptedServer, both, client, routed, steps

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


# -- unit: parse_reset ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("20", 20.0),  # plain seconds
        ("1.5", 1.5),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("6m0s", 360.0),  # OpenAI's Go-style durations
        ("1m30s", 90.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        ("1h2m3s", 3723.0),
        ("30s", 30.0),
    ],
)
def test_parse_reset_reads_durations_and_plain_seconds(raw, seconds):
    assert parse_reset(raw, NOW) == pytest.approx(seconds)


def test_parse_reset_reads_a_unix_time_as_the_moment_of_the_reset():
    assert parse_reset(str(int(NOW.timestamp()) + 42), NOW) == pytest.approx(42.0)
    assert parse_reset(f"{NOW.timestamp() + 0.5:.3f}", NOW) == pytest.approx(0.5)
    assert parse_reset(str(int(NOW.timestamp()) - 100), NOW) == 0.0  # already past


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("2025-06-01T12:00:30Z", 30.0),  # Anthropic's RFC 3339
        ("2025-06-01T12:01:00+00:00", 60.0),
        ("2025-06-01T14:00:05+02:00", 5.0),  # another offset
        ("2025-06-01T12:00:02.500Z", 2.5),
        ("2025-06-01T12:00:10", 10.0),  # no offset: UTC
        ("2025-06-01T11:59:00Z", 0.0),  # already past
    ],
)
def test_parse_reset_reads_rfc3339_times(raw, seconds):
    assert parse_reset(raw, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", [None, "", "soon", "6 minutes", "5x", "m", "12:00"])
def test_parse_reset_gives_none_for_what_it_cannot_read(raw):
    assert parse_reset(raw, NOW) is None


def test_parse_reset_defaults_to_the_current_time():
    soon = (datetime.now(timezone.utc) + timedelta(seconds=60)).isoformat()
    assert 55.0 < parse_reset(soon) <= 60.0


# -- unit: quota_exhausted_for --------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "status", "seconds"),
    [
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}, 200, 360),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "250ms"}, 200, 0.25),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "20"}, 200, 20),
        ({"x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "20"}, 200, 20),
        ({"x-ratelimit-reset": "1.5"}, 429, 1.5),  # a 429 names its reset without remaining
        ({"x-ratelimit-reset-requests": "2s"}, 429, 2),
        (
            {
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": "2025-06-01T12:00:30Z",
            },
            200,
            30,
        ),
        (  # both spent: the later reset counts
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            200,
            360,
        ),
    ],
)
def test_a_spent_quota_names_how_long_it_lasts(headers, status, seconds):
    assert quota_exhausted_for(headers, status, lambda: NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({}, 429),  # a 429 without a reset: Retry-After's business, not a quota
        ({"x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "1s"}, 200),
        ({"x-ratelimit-reset-requests": "1s"}, 200),  # a reset alone is not exhaustion
        ({"x-ratelimit-remaining-requests": "0"}, 200),  # exhausted, but no reset given
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "whenever"}, 200),
        (  # the tokens are spent but requests remain: only remaining 0 counts
            {"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "10s"},
            429,
        ),
    ],
)
def test_no_word_of_a_spent_quota_gives_none(headers, status):
    assert quota_exhausted_for(headers, status, lambda: NOW) is None


# -- end to end -----------------------------------------------------------------------------
RESET = 1.0


@contextmanager
def quota_chain(kind: str, **overrides):
    """A client whose chain is Hugging Face (a :class:`ScriptedServer`), then Ollama (the
    emulator): yields (server, emulator, driver)."""
    with ScriptedServer() as server, ProviderEmulator() as emu:
        settings = {**routed(emu, "huggingface", "ollama", **overrides), **server.settings()}
        with client(kind, **settings) as driver:
            yield server, emu, driver


def held_out(answer) -> bool:
    first = steps(answer)[0]
    return first[:2] == (HF, "skipped") and first[2].startswith("rate limited until ")


def wait_past_reset(started: float) -> None:
    time.sleep(max(0.0, started + RESET + 0.3 - time.monotonic()))


@both
def test_a_429_with_a_reset_keeps_the_provider_out_until_then(kind):
    # retries on: even the retry of the 429 must not call the provider again
    with quota_chain(kind, max_retries=1) as (server, emu, driver):
        server.then(429, {"X-RateLimit-Reset": f"{RESET:g}"})
        started = time.monotonic()
        refused = driver.complete("first")
        assert refused.provider is OLLAMA
        assert steps(refused)[0][:2] == (HF, "failed")
        assert refused.attempts[0].status == 429
        during = []
        while time.monotonic() - started < RESET * 0.6:
            during.append(driver.complete(f"during {len(during)}"))
        assert during and all(a.provider is OLLAMA and held_out(a) for a in during)
        assert server.calls == 1  # no call while the quota is spent
        wait_past_reset(started)
        back = driver.complete("after the reset")
        assert back.provider is HF and steps(back) == [(HF, "ok", "answered")]
        assert server.calls == 2
        assert emu.request_count("ollama") == len(during) + 1


@both
def test_remaining_zero_on_a_good_answer_keeps_the_provider_out_until_the_reset(kind):
    spent = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}
    with quota_chain(kind) as (server, emu, driver):
        server.then(200, spent)
        started = time.monotonic()
        last = driver.complete("spends the quota")
        assert last.provider is HF  # this answer itself is good
        held = driver.complete("held out")
        assert held.provider is OLLAMA and held_out(held)
        assert server.calls == 1
        wait_past_reset(started)
        back = driver.complete("after the reset")
        assert back.provider is HF and server.calls == 2
        assert emu.request_count("ollama") == 1


@both
def test_remaining_quota_keeps_the_provider_in(kind):
    plenty = {"x-ratelimit-remaining-requests": "99", "x-ratelimit-reset-requests": "1m0s"}
    with quota_chain(kind) as (server, emu, driver):
        for _ in range(3):
            server.then(200, plenty)
        answers = [driver.complete(f"q{n}") for n in range(3)]
        assert all(a.provider is HF for a in answers) and server.calls == 3
        assert emu.request_count("ollama") == 0


@both
@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-reset": "1717243200000"},  # a Unix time in milliseconds
        {"x-ratelimit-reset": "inf"},
        {"retry-after": "1e12"},
    ],
    ids=["reset-ms-epoch", "reset-inf", "retry-after-huge"],
)
def test_an_absurd_reset_keeps_the_provider_out_but_never_breaks_the_call(kind, headers):
    with quota_chain(kind) as (server, _, driver):
        server.then(429, headers)
        answer = driver.complete("q")
    assert answer.provider is OLLAMA
    assert steps(answer)[0][:2] == (HF, "failed")

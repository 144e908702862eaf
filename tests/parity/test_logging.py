"""Logging, the same on both clients: one record per attempt on logger ``sarvanom_sdk``
with provider, outcome, latency and trace id in ``extra``; nothing at WARNING or above on
the normal path (an answer, a fallback, the stub); never the prompt."""

from __future__ import annotations

import logging

import pytest

from parity.drivers import Connect
from sarvanom_sdk.testing import Fault, ProviderEmulator

PROMPT = "a prompt that must never be logged 7f3a"


def records_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "sarvanom_sdk"]


def test_one_record_per_attempt_with_its_fields(
    connect: Connect, emu: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    driver = connect("ollama", "openai", cache_ttl_seconds=0, max_retries=0)
    emu.inject("ollama", Fault.http(503), times=1)
    with caplog.at_level(logging.DEBUG, logger="sarvanom_sdk"):
        response = driver.complete(PROMPT)
    records = records_of(caplog)
    assert [(r.provider, r.outcome) for r in records] == [  # type: ignore[attr-defined]
        ("ollama_local", "failed"),
        ("openai", "ok"),
    ]
    for record in records:
        assert record.trace_id == response.trace_id  # type: ignore[attr-defined]
        assert isinstance(record.latency_ms, float)  # type: ignore[attr-defined]
        assert record.levelno == logging.INFO
    assert records[0].status == 503  # type: ignore[attr-defined]


def test_failures_and_the_stub_log_nothing_at_warning_or_above_and_never_the_prompt(
    connect: Connect, emu: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    driver = connect("ollama", cache_ttl_seconds=0, max_retries=0)
    emu.inject("ollama", Fault.html())
    with caplog.at_level(logging.DEBUG, logger="sarvanom_sdk"):
        assert driver.complete(PROMPT).provider.value == "local_stub"
        driver.stream(PROMPT)
    records = records_of(caplog)
    assert records, "the attempts were logged"
    assert max(r.levelno for r in records) < logging.WARNING
    assert not any(PROMPT in r.getMessage() or PROMPT in str(r.__dict__) for r in records)

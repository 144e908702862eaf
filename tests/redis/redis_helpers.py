"""Small helpers shared by the Redis tests."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sarvanom_sdk.testing import ProviderEmulator

#: The emulator's answer to everything: it never repeats the prompt, so a prompt found in
#: Redis can only have been written there by the SDK.
ANSWER = "The emulated provider answers without repeating the question."


def free_chain(emu: ProviderEmulator, redis_url: str, **extra: Any) -> dict[str, Any]:
    """Client overrides: ollama_local on the emulator (then the stub), state in Redis.
    Background breaker probes are off: the emulator's health endpoint answers even while a
    test's fault fails its calls, so a probe would let the trial through at once."""
    return {
        "ollama_base_url": emu.url_for("ollama"),
        "providers": ("ollama_local",),
        "redis_url": redis_url,
        "max_retries": 0,
        "breaker_probe_interval": 0,
        **extra,
    }


def outcomes(answer: dict[str, Any], provider: str = "ollama_local") -> list[tuple[str, str]]:
    """(outcome, reason) of ``provider``'s attempts in a worker's answer."""
    return [(outcome, reason) for name, outcome, reason in answer["attempts"] if name == provider]


def outage_records(caplog: pytest.LogCaptureFixture, state: str) -> list[logging.LogRecord]:
    """The link's records: ``state`` "down" (the WARNING) or "up" (back again)."""
    return [
        r
        for r in caplog.records
        if r.name == "sarvanom_sdk" and getattr(r, "shared_state", None) == state
    ]

"""Suite-wide safety and fixtures.

* Canary secrets: for the whole session every provider's key variable holds a unique fake
  secret, and every provider's base URL points at a closed loopback port, so a client
  built from the environment anywhere in the suite carries the canaries and can reach
  nothing but loopback. Every log record the SDK emits is kept; at the end of the session
  none may contain a canary (tests/unit/test_secrets.py checks the other outputs).
* aioresponses on aiohttp 3.14: ``ClientResponse`` gained a required ``stream_writer``
  argument that aioresponses 0.7.9 does not pass (aioresponses issue #289); the shim
  below supplies it.
"""

from __future__ import annotations

import inspect
import logging
import os
import uuid
from collections.abc import Iterator

import pytest

CANARY = f"sk-canary-{uuid.uuid4().hex}"
CANARY_ENV = {
    "HUGGINGFACE_API_KEY": f"hf_{CANARY}",
    "OPENAI_API_KEY": f"{CANARY}-openai",
    "ANTHROPIC_API_KEY": f"{CANARY}-anthropic",
    "GPU_REMOTE_TOKEN": f"{CANARY}-gpu",
}
#: A loopback port with nothing listening (the discard port): connection refused.
DEAD_LOOPBACK = "http://127.0.0.1:9"
LOOPBACK_ENV = {
    "HUGGINGFACE_BASE_URL": f"{DEAD_LOOPBACK}/v1",
    "OPENAI_BASE_URL": f"{DEAD_LOOPBACK}/v1",
    "ANTHROPIC_BASE_URL": DEAD_LOOPBACK,
}
_PROVIDER_VARS = (
    "OLLAMA_BASE_URL", "GPU_REMOTE_URL", "ENABLE_PAID_API", "SARVANOM_PROVIDERS",
    "SARVANOM_REDIS_URL", "SARVANOM_REDIS_NAMESPACE", "SARVANOM_BUDGET_USD",
)


def canary_values() -> tuple[str, ...]:
    return (CANARY, *CANARY_ENV.values())


for _name in _PROVIDER_VARS:
    os.environ.pop(_name, None)
os.environ.update(CANARY_ENV)
os.environ.update(LOOPBACK_ENV)


class _KeepRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


KEPT = _KeepRecords()


@pytest.fixture(scope="session", autouse=True)
def _no_canary_in_logs() -> Iterator[None]:
    sdk_logger = logging.getLogger("sarvanom_sdk")
    previous = sdk_logger.level
    sdk_logger.setLevel(logging.DEBUG)
    sdk_logger.addHandler(KEPT)
    yield
    sdk_logger.removeHandler(KEPT)
    sdk_logger.setLevel(previous)
    leaks = [
        record.getMessage()
        for record in KEPT.records
        if any(c in f"{record.getMessage()} {record.__dict__}" for c in canary_values())
    ]
    assert not leaks, f"a canary secret reached {len(leaks)} log records: {leaks[:3]}"


def _shim_aioresponses() -> None:
    try:
        import aiohttp
        import aioresponses.core as core
    except ImportError:  # pragma: no cover
        return
    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        return

    class _ClientResponse(aiohttp.ClientResponse):
        def __init__(self, *args, stream_writer=None, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, stream_writer=stream_writer, **kwargs)

    core.ClientResponse = _ClientResponse  # type: ignore[misc]


_shim_aioresponses()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No provider configured at all (not even the canaries)."""
    for name in (*CANARY_ENV, *LOOPBACK_ENV, *_PROVIDER_VARS):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch

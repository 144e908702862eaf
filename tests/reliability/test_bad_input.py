"""Bad input is refused clearly and before any network call.

A bad request raises :class:`InvalidRequestError` naming the field (from ``complete()`` and
``stream()``, on both clients); a bad setting or environment variable raises
:class:`ConfigurationError` naming the variable (or the unknown keyword) when the client
is built. Never a TypeError, AttributeError or KeyError from inside the SDK, and the
emulator behind the client hears nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from parity.drivers import KINDS, Driver, open_driver

from reliability.helpers import chain, fresh
from sarvanom_sdk import ConfigurationError, InvalidRequestError
from sarvanom_sdk.testing import ProviderEmulator

USER = {"role": "user", "content": "hi"}

#: (id, complete()/stream() arguments, the field the error must name)
BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("empty-prompt", {"prompt": ""}, "prompt"),
    ("whitespace-prompt", {"prompt": " \n\t "}, "prompt"),
    ("non-string-prompt", {"prompt": 42}, "prompt"),
    ("both-prompt-and-messages", {"prompt": "hi", "messages": [USER]}, "prompt"),
    ("neither-prompt-nor-messages", {}, "prompt"),
    ("messages-as-a-string", {"messages": "hi"}, "messages"),
    ("empty-messages", {"messages": []}, "messages"),
    ("message-not-a-mapping", {"messages": ["hi"]}, "messages[0]"),
    ("unknown-role", {"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ("non-string-content", {"messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
    ("empty-content", {"messages": [USER, {"role": "user", "content": ""}]}, "messages[1].content"),
    ("non-string-system", {"prompt": "hi", "system": ["be brief"]}, "system"),
    ("max-tokens-zero", {"prompt": "hi", "max_tokens": 0}, "max_tokens"),
    ("max-tokens-negative", {"prompt": "hi", "max_tokens": -1}, "max_tokens"),
    ("max-tokens-too-large", {"prompt": "hi", "max_tokens": 10**9}, "max_tokens"),
    ("max-tokens-bool", {"prompt": "hi", "max_tokens": True}, "max_tokens"),
    ("max-tokens-float", {"prompt": "hi", "max_tokens": 1.5}, "max_tokens"),
    ("temperature-below-0", {"prompt": "hi", "temperature": -0.1}, "temperature"),
    ("temperature-above-2", {"prompt": "hi", "temperature": 2.5}, "temperature"),
    ("temperature-nan", {"prompt": "hi", "temperature": math.nan}, "temperature"),
    ("temperature-string", {"prompt": "hi", "temperature": "hot"}, "temperature"),
    ("unknown-provider", {"prompt": "hi", "provider": "gpt5"}, "provider"),
    ("model-without-provider-pin", {"prompt": "hi", "model": "gpt-4o"}, "model"),
    ("timeout-negative", {"prompt": "hi", "timeout": -1}, "timeout"),
    ("timeout-zero", {"prompt": "hi", "timeout": 0}, "timeout"),
    ("timeout-string", {"prompt": "hi", "timeout": "soon"}, "timeout"),
    ("timeout-infinite", {"prompt": "hi", "timeout": math.inf}, "timeout"),
    ("trace-id-too-long", {"prompt": "hi", "trace_id": "t" * 200}, "trace_id"),
    ("trace-id-empty", {"prompt": "hi", "trace_id": ""}, "trace_id"),
    ("unknown-tier", {"prompt": "hi", "tier": "urgent"}, "tier"),
    ("cache-not-a-bool", {"prompt": "hi", "cache": "no"}, "cache"),
    ("hedge-not-a-bool", {"prompt": "hi", "hedge": "yes"}, "hedge"),
    ("unknown-option", {"prompt": "hi", "temprature": 0.5}, "temprature"),
    ("prompt-too-long", {"prompt": "x" * 1_000_001}, "prompt"),
    ("messages-too-long", {"messages": [{"role": "user", "content": "x" * 1_000_001}]}, "messages"),
]

#: (id, environment variables set, client keyword overrides, the name the error must give)
BAD_SETTINGS: list[tuple[str, dict[str, str], dict[str, Any], str]] = [
    ("timeout-not-a-number", {"LLM_TIMEOUT_SECONDS": "fast"}, {}, "LLM_TIMEOUT_SECONDS"),
    (
        "total-timeout-zero",
        {"SARVANOM_TOTAL_TIMEOUT_SECONDS": "0"},
        {},
        "SARVANOM_TOTAL_TIMEOUT_SECONDS",
    ),
    ("retries-not-an-integer", {"SARVANOM_MAX_RETRIES": "1.5"}, {}, "SARVANOM_MAX_RETRIES"),
    ("url-without-scheme", {"OLLAMA_BASE_URL": "localhost:11434"}, {}, "OLLAMA_BASE_URL"),
    ("url-not-http", {"OPENAI_BASE_URL": "ftp://127.0.0.1/v1"}, {}, "OPENAI_BASE_URL"),
    ("paid-api-maybe", {"ENABLE_PAID_API": "maybe"}, {}, "ENABLE_PAID_API"),
    (
        "providers-unknown-name",
        {"SARVANOM_PROVIDERS": "ollama_local,gpt5"},
        {},
        "SARVANOM_PROVIDERS",
    ),
    (
        "providers-duplicate",
        {"SARVANOM_PROVIDERS": "ollama_local,openai,ollama_local"},
        {},
        "SARVANOM_PROVIDERS",
    ),
    ("cache-ttl-negative", {"SARVANOM_CACHE_TTL_SECONDS": "-1"}, {}, "SARVANOM_CACHE_TTL_SECONDS"),
    (
        "remote-gpu-plain-http-off-loopback",
        {"GPU_REMOTE_URL": "http://gpu.example.com:8000"},
        {},
        "GPU_REMOTE_URL",
    ),
    (
        "redis-url-bad-scheme",
        {"SARVANOM_REDIS_URL": "http://127.0.0.1:6379/0"},
        {},
        "SARVANOM_REDIS_URL",
    ),
    ("huggingface-api-unknown", {"HUGGINGFACE_API": "legacy"}, {}, "HUGGINGFACE_API"),
    (
        "concurrency-malformed",
        {"SARVANOM_MAX_CONCURRENCY": "ollama_local=0"},
        {},
        "SARVANOM_MAX_CONCURRENCY",
    ),
    ("url-without-host", {"OLLAMA_BASE_URL": "http://"}, {}, "OLLAMA_BASE_URL"),
    ("circuit-fail-max-zero", {"SARVANOM_CIRCUIT_FAIL_MAX": "0"}, {}, "SARVANOM_CIRCUIT_FAIL_MAX"),
    (
        "response-limit-tiny",
        {"SARVANOM_MAX_RESPONSE_BYTES": "10"},
        {},
        "SARVANOM_MAX_RESPONSE_BYTES",
    ),
    ("override-unknown-keyword", {}, {"totl_timeout": 5}, "totl_timeout"),
    ("override-wrong-type", {}, {"total_timeout": "soon"}, "SARVANOM_TOTAL_TIMEOUT_SECONDS"),
    ("override-negative-budget", {}, {"budget_usd": -1.0}, "SARVANOM_BUDGET_USD"),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def drivers(emu: ProviderEmulator) -> Iterator[dict[str, Driver]]:
    """One client of each kind, reused: bad input must leave them untouched."""
    made = {kind: open_driver(kind, **chain(emu, "ollama", "openai")) for kind in KINDS}
    yield made
    for driver in made.values():
        driver.close()


@pytest.mark.parametrize("op", ["complete", "stream"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("arguments", "field"), [pytest.param(a, f, id=i) for i, a, f in BAD_REQUESTS]
)
def test_a_bad_request_names_its_field_before_any_network_call(
    emu: ProviderEmulator,
    drivers: dict[str, Driver],
    kind: str,
    op: str,
    arguments: dict[str, Any],
    field: str,
) -> None:
    fresh(emu)
    call = getattr(drivers[kind], op)
    with pytest.raises(InvalidRequestError) as caught:
        call(**arguments)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert emu.request_count() == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("environ", "overrides", "name"),
    [pytest.param(e, o, n, id=i) for i, e, o, n in BAD_SETTINGS],
)
def test_a_bad_setting_names_its_variable_when_the_client_is_built(
    emu: ProviderEmulator,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    environ: dict[str, str],
    overrides: dict[str, Any],
    name: str,
) -> None:
    fresh(emu)
    monkeypatch.setenv("OLLAMA_BASE_URL", emu.url_for("ollama"))
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        open_driver(kind, **overrides)
    assert caught.value.variable == name
    assert name in str(caught.value)
    assert emu.request_count() == 0


def test_the_lists_hold_at_least_twenty_kinds_each() -> None:
    assert len(BAD_REQUESTS) >= 20
    assert len(BAD_REQUESTS) + len(BAD_SETTINGS) >= 40


@pytest.mark.parametrize("kind", KINDS)
def test_a_client_that_refused_bad_input_still_answers(
    emu: ProviderEmulator, drivers: dict[str, Driver], kind: str
) -> None:
    fresh(emu)
    assert drivers[kind].complete("a good request").success
    assert emu.request_count("ollama") == 1

"""Keys stay secret: no key in any exception, repr, health output or CLI output, even when a
provider echoes it back; each key is sent only to its own provider; an oversized reply is
cut at ``max_response_bytes`` and counts as that provider's failure.

Two key sets: the suite's canaries (tests/conftest.py; they look like real keys, sk-...)
and "opaque" keys that look like no known key format, so redaction by shape alone would
miss them: the SDK must redact the values it knows.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from parity.drivers import KINDS, Driver, open_driver

from reliability.helpers import (
    CANARY_ENV,
    FIELD_OF,
    KEY_VAR,
    KEY_VARS,
    WIRES,
    backup_for,
    chain,
    fresh,
    trail,
)
from sarvanom_sdk import LLMRequest, Settings, StreamInterrupted
from sarvanom_sdk.testing import Fault, ProviderEmulator

OPAQUE_ENV = {name: f"opaque{uuid.uuid4().hex}{name[:3].lower()}" for name in KEY_VARS}
KEY_SETS = {"canary": CANARY_ENV, "opaque": OPAQUE_ENV}

#: The wire providers that carry a key, and the variable holding it.
KEYED = {name: KEY_VAR[w.provider] for name, w in WIRES.items() if w.provider in KEY_VAR}
#: Ways a provider (or a proxy in front of it) echoes the key it was sent.
ECHOES = {
    "json-401": lambda key: Fault.http(
        401, body={"error": {"message": f"Incorrect API key provided: {key}", "code": key}}
    ),
    "text-401": lambda key: Fault.http(401, body=f"invalid key {key}"),
    "headers-in-403": lambda key: Fault.http(
        403, body=f"Authorization: Bearer {key}\nx-api-key: {key}\n"
    ),
    "json-500-detail": lambda key: Fault.http(500, body={"detail": f"token {key} rejected"}),
    "malformed-json": lambda key: Fault.http(200, body=f'{{"echo": "{key}"'),
    "html": lambda key: Fault.http(200, body=f"<html><body>{key}</body></html>"),
    "error-in-a-200": lambda key: Fault.http(200, body={"error": f"key {key}", "detail": key}),
    "answer-missing": lambda key: Fault.http(200, body={"unexpected": key}),
}


def secrets_in(text: str, keys: dict[str, str]) -> list[str]:
    """The variables whose key shows in ``text``: whole, or any 16 characters of it."""
    return [
        name
        for name, value in keys.items()
        if any(value[i : i + 16] in text for i in range(len(value) - 15))
    ]


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture(params=list(KEY_SETS))
def keys(request: pytest.FixtureRequest) -> dict[str, str]:
    return KEY_SETS[request.param]


# -- errors, responses, health, logs: nothing shows a key --------------------------------
def everything_shown(driver: Driver) -> str:
    """All a caller can see after failed calls: responses (the stub's text and trail), a
    streamed answer, health and the health JSON."""
    response = driver.complete("tell me")
    streamed = driver.stream("tell me, streamed")
    report = driver.client.health_report()
    return "\n".join(
        [
            repr(response),
            json.dumps(response.to_dict()),
            response.content,
            str(response.error_message),
            repr(streamed),
            *(repr(a) for a in response.attempts),
            repr(driver.health()),
            json.dumps({k: v.to_dict() for k, v in driver.health().items()}),
            json.dumps(report),
        ]
    )


def errors_shown(driver: Driver) -> str:
    """What strict mode raises, for complete() and stream()."""
    shown = []
    try:
        driver.complete("tell me")
    except Exception as error:  # the test checks the type below
        shown += [type(error).__name__, str(error), repr(error), repr(error.args)]
    streamed = driver.stream("tell me, streamed")
    shown += [repr(streamed.error), str(streamed.error)]
    return "\n".join(shown)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("wire", list(KEYED))
def test_a_key_echoed_by_its_provider_appears_in_no_output(
    emu: ProviderEmulator,
    caplog: pytest.LogCaptureFixture,
    keys: dict[str, str],
    kind: str,
    wire: str,
    echo: str,
) -> None:
    fresh(emu)
    emu.inject(wire, ECHOES[echo](keys[KEYED[wire]]))
    settings = chain(emu, wire, keys=keys, cache_ttl_seconds=0)
    caplog.set_level(logging.DEBUG, logger="sarvanom_sdk")
    with open_driver(kind, **settings) as lenient:
        shown = everything_shown(lenient)
        assert trail(lenient.complete("again"))[0] == (WIRES[wire].provider.value, "failed")
    with open_driver(kind, **settings, fallback_to_stub=False) as strict:
        shown += errors_shown(strict)
    assert "AllProvidersFailed" in shown
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert emu.request_count(wire, endpoint="generate") >= 4, "the echoing provider was not called"
    assert secrets_in(shown, keys) == []
    assert secrets_in(logged, keys) == []


# -- reprs ---------------------------------------------------------------------------------
ALL = ("ollama", "remote_gpu", "huggingface", "openai", "anthropic")


@pytest.mark.parametrize("kind", KINDS)
def test_no_repr_shows_a_key(emu: ProviderEmulator, keys: dict[str, str], kind: str) -> None:
    fresh(emu)
    emu.inject("openai", Fault.http(401))
    settings = chain(emu, *ALL, keys=keys, cache_ttl_seconds=0)
    with open_driver(kind, **settings) as driver:
        client = driver.client
        response = driver.complete("hello", provider="openai")
        calls = [
            adapter.build(LLMRequest(prompt="hi")) for adapter in client.router.adapters.values()
        ]
        keyed = [c for c in calls if secrets_in(str(dict(c.headers)), keys)]
        assert len(keyed) == 4, "the calls do not carry the keys: the check would be vacuous"
        shown = [
            repr(client),
            str(client),
            repr(client.settings),
            str(client.settings),
            repr(Settings(**{FIELD_OF[name]: key for name, key in keys.items()})),
            *(repr(c) for c in calls),
            *(str(c) for c in calls),
            repr(response),
            *(repr(a) for a in response.attempts),
            repr(driver.health()),
        ]
    assert secrets_in("\n".join(shown), keys) == []




@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wire", [w for w in KEYED if w != "huggingface_task"])  # no probe
def test_a_key_echoed_by_a_health_probe_appears_in_no_health_output(
    emu: ProviderEmulator, kind: str, wire: str
) -> None:
    fresh(emu)
    key = OPAQUE_ENV[KEYED[wire]]
    emu.inject(wire, ECHOES["text-401"](key), endpoint="probe")
    with open_driver(kind, **chain(emu, wire, keys=OPAQUE_ENV)) as driver:
        health = driver.health(probe=True)
        report = json.dumps(driver.client.health_report())
    assert emu.request_count(wire, endpoint="probe") == 1
    assert secrets_in(repr(health) + report, OPAQUE_ENV) == []


# -- the CLI -------------------------------------------------------------------------------
def load_cli() -> Any:
    """``sarvanom_cli.main.cli``; without the installed package, the repo's ``cli/``."""
    try:
        return importlib.import_module("sarvanom_cli.main").cli
    except ModuleNotFoundError:
        root = str(Path(__file__).resolve().parents[2])
        if root not in sys.path:
            sys.path.insert(0, root)
        sys.modules.setdefault("sarvanom_cli", importlib.import_module("cli"))
        module = importlib.import_module("cli.main")
        sys.modules.setdefault("sarvanom_cli.main", module)
        return module.cli


CLI_RUNS = [
    ["providers"],
    ["health"],
    ["health", "--json"],
    ["health", "--probe", "--json"],
    ["complete", "hello"],
    ["complete", "hello", "--json"],
    ["complete", "hello", "--stream"],
    ["complete", "hello", "--strict"],
    ["complete", "hello", "--provider", "openai", "--json"],
]


@pytest.fixture
def cli_env(emu: ProviderEmulator, keys: dict[str, str]) -> dict[str, str]:
    """Every provider at the emulator with these keys, each keyed one echoing its key."""
    fresh(emu)
    for wire in ("remote_gpu", "huggingface", "openai", "anthropic"):
        emu.inject(wire, ECHOES["json-401"](keys[KEYED[wire]]))
    env = {
        **keys,
        "OLLAMA_BASE_URL": emu.refused_url("ollama"),
        "GPU_REMOTE_URL": emu.url_for("remote_gpu"),
        "HUGGINGFACE_BASE_URL": emu.url_for("huggingface"),
        "OPENAI_BASE_URL": emu.url_for("openai"),
        "ANTHROPIC_BASE_URL": emu.url_for("anthropic"),
        "ENABLE_PAID_API": "true",
        "SARVANOM_TOTAL_TIMEOUT_SECONDS": "3",
        "SARVANOM_MAX_RETRIES": "0",
    }
    return env


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("args", CLI_RUNS, ids=[" ".join(a) for a in CLI_RUNS])
def test_no_cli_output_shows_a_key(
    emu: ProviderEmulator,
    cli_env: dict[str, str],
    keys: dict[str, str],
    args: list[str],
    strict: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    env = {**cli_env, "SARVANOM_FALLBACK_TO_STUB": "false" if strict else "true"}
    monkeypatch.chdir(tmp_path)  # no .env file from the working directory
    result = CliRunner(env=env).invoke(load_cli(), args)
    assert result.exit_code in (0, 3, 4), result.output  # 4: health, statuses unknown (D23)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip()
    assert secrets_in(result.output + result.stderr, keys) == []
    if args[0] == "complete":
        assert emu.request_count("openai", endpoint="generate") >= 1


# -- keys go only to their own provider ----------------------------------------------------
#: Where each key may appear: the emulated providers that are its own, and the header.
OWN = {
    "OPENAI_API_KEY": ({"openai"}, "authorization"),
    "ANTHROPIC_API_KEY": ({"anthropic"}, "x-api-key"),
    "HUGGINGFACE_API_KEY": ({"huggingface", "huggingface_task"}, "authorization"),
    "GPU_REMOTE_TOKEN": ({"remote_gpu", "remote_gpu_openai"}, "authorization"),
}
CHAINS = [ALL, ("remote_gpu_openai", "huggingface_task", "ollama")]


@pytest.mark.parametrize("kind", KINDS)
def test_each_key_is_sent_only_to_its_own_provider(
    emu: ProviderEmulator, keys: dict[str, str], kind: str
) -> None:
    fresh(emu)
    for names in CHAINS:
        settings = chain(emu, *names, keys=keys, cache_ttl_seconds=0)
        with open_driver(kind, **settings) as driver:
            driver.health(probe=True)
            for name in names:
                pinned = WIRES[name].provider.value
                assert driver.complete("hi", provider=pinned).provider.value == pinned
                assert driver.stream("hi", provider=pinned).error is None
    records = emu.requests()
    assert {r.provider for r in records} == set(WIRES), "some provider was never called"
    for variable, (own, header) in OWN.items():
        key = keys[variable]
        for record in records:
            places = _where(record, key)
            if record.provider not in own:
                assert places == [], f"{variable} sent to {record.provider}: {places}"
            elif record.endpoint == "generate":
                assert places == [header], f"{variable} at {record.provider}: {places}"
    anthropic = [r for r in records if r.provider == "anthropic"]
    assert all("authorization" not in {h.lower() for h in r.headers} for r in anthropic)


def _where(record: Any, key: str) -> list[str]:
    """The places in a recorded request that hold ``key``."""
    places = [name.lower() for name, value in record.headers.items() if key in value]
    if key in record.path or key in str(dict(record.query)):
        places.append("url")
    if key.encode() in record.body:
        places.append("body")
    return places


# -- oversized replies ---------------------------------------------------------------------
OVERSIZED = Fault.oversized(2 * 1024 * 1024)
LIMIT = 32 * 1024


def _oversized(emu: ProviderEmulator, kind: str, wire: str) -> Driver:
    fresh(emu)
    emu.inject(wire, OVERSIZED)
    settings = chain(emu, wire, backup_for(wire), cache_ttl_seconds=0, max_response_bytes=LIMIT)
    return open_driver(kind, **settings)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wire", list(WIRES))
def test_an_oversized_reply_is_cut_at_the_limit_and_counts_as_a_provider_error(
    emu: ProviderEmulator, kind: str, wire: str
) -> None:
    faulty, healthy = WIRES[wire].provider.value, WIRES[backup_for(wire)].provider.value
    with _oversized(emu, kind, wire) as driver:
        response = driver.complete("a long story")
        health = driver.health()[faulty]
    assert trail(response) == [(faulty, "failed"), (healthy, "ok")]
    assert f"{LIMIT}-byte limit" in response.attempts[0].reason
    assert health.error_count == 1
    assert "limit" in (health.last_error or "")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wire", list(WIRES))
def test_an_oversized_stream_is_cut_at_the_limit(
    emu: ProviderEmulator, kind: str, wire: str
) -> None:
    """Before its first content it falls over like any failure; after it, the stream ends
    with StreamInterrupted (which happens depends on how the bytes are read in)."""
    faulty = WIRES[wire].provider.value
    with _oversized(emu, kind, wire) as driver:
        streamed = driver.stream("a long story")
        health = driver.health()[faulty]
    if streamed.error is not None:
        assert isinstance(streamed.error, StreamInterrupted)
        assert streamed.providers == {faulty}
        failed = streamed.error.attempts[-1]
    else:
        assert streamed.response is not None
        assert streamed.providers == {WIRES[backup_for(wire)].provider.value}
        failed = streamed.response.attempts[0]
    assert failed.provider.value == faulty
    assert "limit" in failed.reason
    assert len(streamed.text.encode()) <= LIMIT
    assert health.error_count == 1

"""Issue 17 item 4: ``sarvanom emulate --fault PROVIDER=KIND[:ARG]...`` and ``sarvanom demo``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sarvanom_cli import demo as demo_module
from sarvanom_cli.main import cli

from sarvanom_sdk.testing import Fault
from sarvanom_sdk.testing.fault_spec import kinds, parse_fault


# -- the spec syntax --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "provider", "fault", "schedule"),
    [
        ("ollama=hang", "ollama", Fault.hang(), {}),
        ("ollama_local=hang", "ollama", Fault.hang(), {}),
        ("huggingface=http:503:2", "huggingface", Fault.http(503, retry_after=2), {}),
        ("openai=http:429:times=3", "openai", Fault.http(429), {"times": 3}),
        ("ollama=trickle:interval=0.5", "ollama", Fault.trickle(interval=0.5), {}),
        ("remote_gpu=delay:5:probability=0.2:seed=1", "remote_gpu", Fault.delay(5),
         {"probability": 0.2, "seed": 1}),
        ("anthropic=context_length:200000:204658", "anthropic",
         Fault.context_length(200000, 204658), {}),
        ("openai=content_filter:output", "openai", Fault.content_filter("output"), {}),
        ("ollama=keepalive_stall:2:30:interval=2", "ollama",
         Fault.keepalive_stall(2, 30, interval=2), {}),
        ("ollama=refuse:endpoint=probe", "ollama", Fault.refuse(), {"endpoint": "probe"}),
    ],
)  # fmt: skip
def test_a_spec_maps_onto_the_fault_constructors(
    text: str, provider: str, fault: Fault, schedule: dict[str, Any]
) -> None:
    spec = parse_fault(text)
    assert (spec.provider, spec.fault, spec.schedule) == (provider, fault, schedule)


def test_every_fault_kind_has_a_spec_name() -> None:
    from typing import get_args

    from sarvanom_sdk.testing.faults import FaultKind

    assert set(kinds()) == set(get_args(FaultKind))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ollama", "is not PROVIDER=KIND"),
        ("=hang", "is not PROVIDER=KIND"),
        ("gemini=hang", "unknown provider 'gemini'"),
        ("ollama=boom", "unknown fault kind 'boom'"),
        ("ollama=http:abc", "status must be an integer, got 'abc'"),
        ("ollama=hang:3", "hang takes at most 0 value"),
        ("ollama=delay:x=1", "delay has no parameter 'x'"),
        ("ollama=http:503:times=x", "times must be an integer"),
        ("ollama=hang:probability=2", "probability must be between 0 and 1"),
        ("ollama=hang:endpoint=nope", "endpoint must be"),
        ("ollama=context_length", "truncates"),
        ("openai=http:42", "status must be an HTTP status code"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(text)


def test_a_bad_fault_flag_is_one_line_naming_the_flag_before_anything_listens() -> None:
    result = CliRunner().invoke(cli, ["emulate", "--fault", "ollama=boom"])
    assert result.exit_code == 2
    assert "Invalid value for '--fault'" in result.output
    assert "unknown fault kind 'boom'" in result.output and "listening" not in result.output


def _child_env() -> dict[str, Any]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


@pytest.fixture
def faulty_emulator() -> Iterator[tuple[dict[str, str], subprocess.Popen[str]]]:
    """``sarvanom emulate --fault ollama=hang --fault huggingface=http:503:2`` in a child."""
    child = subprocess.Popen(
        [sys.executable, "-m", "sarvanom_cli.main", "emulate", "--port", "0",
         "--fault", "ollama=hang", "--fault", "huggingface=http:503:2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env(),
    )  # fmt: skip
    urls: dict[str, str] = {}
    assert child.stdout is not None
    try:
        for line in child.stdout:
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith("http://"):
                urls[parts[0]] = parts[1]
            if line.strip() == "Ctrl-C to stop.":
                break
        yield urls, child
    finally:
        child.terminate()
        child.communicate(timeout=30)


def test_emulate_injects_the_faults_it_was_given(
    faulty_emulator: tuple[dict[str, str], subprocess.Popen[str]],
) -> None:
    urls, _ = faulty_emulator
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        urls["huggingface"] + "/chat/completions", body,
        {"Authorization": "Bearer k", "Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 503 and caught.value.headers["retry-after"] == "2"
    started = time.monotonic()
    with pytest.raises(OSError):  # the hang: a timeout (TimeoutError or URLError)
        urllib.request.urlopen(urls["ollama"] + "/api/tags", timeout=0.5)
    assert time.monotonic() - started >= 0.45
    remote = urllib.request.urlopen(urls["remote_gpu"] + "/health", timeout=30)
    assert json.load(remote)["status"] == "healthy"  # the others are untouched


# -- sarvanom demo ----------------------------------------------------------------------------
def test_demo_tours_fallback_breaker_stale_and_hedging_and_checks_each() -> None:
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["demo"])
    took = time.monotonic() - started
    assert result.exit_code == 0, result.output
    out = result.output
    for title in ("1. Fallback", "2. Circuit breaker", "3. Stale answer", "4. Hedging"):
        assert title in out
    assert "-> answered by huggingface" in out
    assert "ollama_local  skipped  circuit open until" in out
    assert "-> Ollama received 3 calls, not 4." in out
    assert "stale=True" in out
    assert "hedge lost: cancelled" in out
    assert "Done in" in out
    assert took < 60  # a few seconds idle; generous for a busy machine


def test_demo_says_so_and_fails_when_the_chain_misbehaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each step checks its claim: here the hedging step's slow provider is not slow, so
    Ollama answers first and the step must not pretend the hedge won."""
    monkeypatch.setattr(demo_module, "STEPS", (("Hedging", demo_module._hedging),))
    monkeypatch.setattr(demo_module, "SLOW_OLLAMA", 0.0)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 1
    assert "the demo did not go as described: the hedge should have won" in result.output

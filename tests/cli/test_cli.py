"""The ``sarvanom`` command line, end to end against the provider emulator (loopback).

The answer goes to stdout and only the answer; the trail and hints go to stderr; a user's
mistake is one line and a non-zero exit status, never a traceback; keys never appear.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sarvanom_cli.main import EXIT_NO_PROVIDER, cli

#: Variables the suite's conftest fills with canary secrets for the whole session.
KEY_VARS = ("HUGGINGFACE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GPU_REMOTE_TOKEN")


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """No provider configured, no .env file in the working directory."""
    clean_env.chdir(tmp_path)
    return clean_env


@pytest.fixture
def emu(provider_emulator: Any, env: pytest.MonkeyPatch) -> Any:
    """The emulator, with ollama_local and remote_gpu pointed at it."""
    env.setenv("OLLAMA_BASE_URL", provider_emulator.url_for("ollama"))
    env.setenv("GPU_REMOTE_URL", provider_emulator.url_for("remote_gpu"))
    return provider_emulator


def sarvanom(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


# -- complete -----------------------------------------------------------------------------
def test_complete_prints_only_the_answer_on_stdout(emu: Any) -> None:
    result = sarvanom("complete", "What is the capital of France?")
    assert result.exit_code == 0
    assert result.stdout == "Emulated ollama answer to: What is the capital of France?\n"
    assert "ollama_local" in result.stderr and "answered by ollama_local" in result.stderr


def test_complete_reads_the_prompt_from_stdin_with_dash(emu: Any) -> None:
    result = sarvanom("complete", "-", input="a prompt from stdin\n")
    assert result.exit_code == 0
    assert result.stdout.startswith("Emulated ollama answer to: a prompt from stdin")
    sent = emu.requests("ollama")[-1].json["messages"][-1]["content"]
    assert sent == "a prompt from stdin\n"


def test_complete_json_is_the_whole_response_with_its_attempts(emu: Any) -> None:
    result = sarvanom("complete", "hi", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["provider"] == "ollama_local" and body["success"] is True
    assert body["content"] == "Emulated ollama answer to: hi"
    assert body["attempts"][0]["provider"] == "ollama_local"
    assert body["attempts"][0]["outcome"] == "ok"
    assert {"latency_ms", "usage", "trace_id", "model", "cached"} <= set(body)


def test_strict_exits_non_zero_when_only_the_stub_answered(env: pytest.MonkeyPatch) -> None:
    lenient = sarvanom("complete", "hi")
    strict = sarvanom("complete", "hi", "--strict")
    assert lenient.exit_code == 0
    assert strict.exit_code == EXIT_NO_PROVIDER
    assert lenient.stdout != "" and strict.stdout == ""  # D12: never the stub's text
    assert "no provider answered" in strict.stderr and "sarvanom providers" in strict.stderr


def test_strict_mode_from_the_environment_exits_non_zero_with_the_trail(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    env.setenv("SARVANOM_FALLBACK_TO_STUB", "false")
    result = sarvanom("complete", "hi")
    assert result.exit_code == EXIT_NO_PROVIDER
    assert result.stdout == ""
    assert "ollama_local" in result.stderr and "no provider answered" in result.stderr
    assert "Traceback" not in result.stderr


def test_stream_prints_the_answer_as_it_arrives(emu: Any) -> None:
    result = sarvanom("complete", "stream me", "--stream")
    assert result.exit_code == 0
    assert result.stdout == "Emulated ollama answer to: stream me\n"
    assert emu.requests("ollama")[-1].json["stream"] is True


def test_stream_with_json_prints_only_the_json(emu: Any) -> None:
    result = sarvanom("complete", "stream me", "--stream", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["content"] == "Emulated ollama answer to: stream me"


def test_provider_pins_the_request_to_one_provider(emu: Any) -> None:
    result = sarvanom("complete", "hi", "--provider", "remote_gpu")
    assert result.exit_code == 0
    assert "answered by remote_gpu" in result.stderr
    assert emu.request_count("ollama") == 0 and emu.request_count("remote_gpu") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("complete", "hi", "--bogus"), "Error: No such option '--bogus'. (see 'cli complete"),
        (("complete", "hi", "--max-tokens", "many"), "'many' is not a valid integer"),
        (
            ("complete", "hi", "--max-tokens", "0"),
            "Invalid value for '--max-tokens': must be between 1",
        ),
        (("complete", "hi", "--provider", "nope"), "unknown provider 'nope'"),
        (
            ("complete", "hi", "--model", "m"),
            "'--model': a model override needs a provider pin (--provider NAME)",
        ),
        (("complete", " "), "'PROMPT': must be a non-empty string"),
    ],
)
def test_a_bad_option_is_one_line_and_a_non_zero_exit(
    env: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    result = sarvanom(*args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("command", [("complete", "hi"), ("health",), ("providers",)])
def test_a_malformed_environment_value_is_one_line(
    env: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    env.setenv("LLM_TIMEOUT_SECONDS", "abc")
    result = sarvanom(*command)
    assert result.exit_code == 1
    assert result.stderr == "Error: LLM_TIMEOUT_SECONDS: must be a number, got 'abc'\n"
    assert result.stdout == ""


# -- health -------------------------------------------------------------------------------
def test_health_prints_a_table_of_the_configured_providers(emu: Any) -> None:
    result = sarvanom("health", "--probe")
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["provider", "status", "latency"]
    assert rows[0].split()[:2] == ["ollama_local", "healthy"]
    assert rows[1].split()[:2] == ["remote_gpu", "healthy"]
    assert rows[-1] == "available: ollama_local, remote_gpu, local_stub"


def test_health_json_has_the_seed_shape(emu: Any) -> None:
    result = sarvanom("health", "--json", "--probe")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert {"status", "timestamp", "gpu_providers"} <= set(report)  # the seed's keys
    assert report["status"] == "healthy"
    assert report["timestamp"].endswith("Z")
    providers = report["gpu_providers"]["providers"]
    assert list(providers) == ["ollama_local", "remote_gpu"]
    assert set(providers["ollama_local"]) == {
        "status", "last_check", "latency_ms", "error_count", "success_count",
        "circuit_open_until", "last_error",
    }
    assert report["gpu_providers"]["available_providers"][-1] == "local_stub"


def test_health_without_providers_says_only_the_stub_answers(env: pytest.MonkeyPatch) -> None:
    result = sarvanom("health")
    assert result.exit_code == 3  # D23: no real provider is healthy
    assert "only the local stub would answer" in result.stdout


# -- providers ----------------------------------------------------------------------------
def test_providers_lists_the_chain_in_order_with_reasons_and_redacted_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # the suite's canary keys stay set
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ENABLE_PAID_API", "true")
    result = sarvanom("providers")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    order = [line.split()[1] for line in lines]
    assert order == ["ollama_local", "huggingface", "openai", "anthropic", "local_stub",
                     "remote_gpu"]
    assert [line.split()[0] for line in lines] == ["1.", "2.", "3.", "4.", "5.", "-"]
    assert "GPU_REMOTE_URL not set" in lines[-1]
    assert "always available" in lines[4]
    shown = result.stdout + result.stderr
    for canary in (os.environ[name] for name in KEY_VARS):
        assert canary not in shown
        assert canary[3:12] not in shown  # never more than a short prefix
    assert "key=hf_…" in shown


def test_providers_says_why_paid_providers_are_out(env: pytest.MonkeyPatch) -> None:
    env.setenv("OPENAI_API_KEY", "sk-not-a-real-key-0123456789")
    result = sarvanom("providers")
    assert result.exit_code == 0
    assert "openai        paid API disabled (ENABLE_PAID_API)" in result.stdout
    assert "not-a-real-key" not in result.stdout


# -- help and start-up --------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [(), ("complete",), ("health",), ("providers",), ("emulate",), ("serve",), ("chat",)],
)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    result = sarvanom(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert "sarvanom" in result.stdout.split("Example", 1)[1]


def _child_env() -> dict[str, str]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_help_does_not_import_the_http_libraries() -> None:
    code = (
        "import sys\nfrom sarvanom_cli.main import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', [m for m in ('aiohttp', 'requests') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_child_env(), check=True).stdout
    assert out.rstrip().endswith("LOADED []")


# -- emulate ------------------------------------------------------------------------------
@pytest.fixture
def emulate_process() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``sarvanom emulate`` in a child process, with the lines it printed until ready."""
    child = subprocess.Popen(
        [sys.executable, "-m", "sarvanom_cli.main", "emulate", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env(),
    )
    lines: list[str] = []
    assert child.stdout is not None
    for line in child.stdout:
        lines.append(line.rstrip("\n"))
        if line.strip() == "Ctrl-C to stop.":
            break
    try:
        yield child, lines
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()


def test_emulate_prints_urls_and_env_lines_serves_and_stops_on_ctrl_c(
    emulate_process: tuple[subprocess.Popen[str], list[str]],
) -> None:
    child, lines = emulate_process
    assert lines[0].startswith("listening on http://127.0.0.1:")
    exports = dict(line[len("export "):].split("=", 1) for line in lines
                   if line.startswith("export "))
    assert set(exports) == {"OLLAMA_BASE_URL", "GPU_REMOTE_URL", "HUGGINGFACE_BASE_URL",
                            "HUGGINGFACE_API_KEY"}
    assert "# export ENABLE_PAID_API=true" in lines  # paid: printed, but commented out
    tags = urllib.request.urlopen(exports["OLLAMA_BASE_URL"] + "/api/tags", timeout=5)
    assert json.load(tags)["models"]
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=10)
    assert child.returncode == 0
    assert "emulator stopped" in err and "Traceback" not in err


def test_emulate_on_a_taken_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = sarvanom("emulate", "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot listen on 127.0.0.1:")
    assert result.stderr.count("\n") == 1

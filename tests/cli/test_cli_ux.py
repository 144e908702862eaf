"""Issue 17, the command line: D8, D12, D18, D19, D23, D24, --env-file, --timeout.

Each test names its defect and fails on commit 44ee82a.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sarvanom_cli.main import EXIT_NO_PROVIDER, cli


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No provider configured, no .env file in the working directory."""
    clean_env.chdir(tmp_path)
    return clean_env


@pytest.fixture
def emu(provider_emulator: Any, env: pytest.MonkeyPatch) -> Any:
    env.setenv("OLLAMA_BASE_URL", provider_emulator.url_for("ollama"))
    return provider_emulator


def sarvanom(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


# -- D8: `providers` applies the clients' https rule ----------------------------------------
@pytest.mark.parametrize("command", [("providers",), ("complete", "hi"), ("health",)])
def test_d8_every_command_refuses_a_plain_http_remote_gpu_url(
    env: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    env.setenv("GPU_REMOTE_URL", "http://gpu.example.com")
    result = sarvanom(*command)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: GPU_REMOTE_URL: must be https://")
    assert result.stdout == ""


def test_d8_providers_accepts_what_the_clients_accept(env: pytest.MonkeyPatch) -> None:
    env.setenv("GPU_REMOTE_URL", "http://gpu.example.com")
    env.setenv("SARVANOM_ALLOW_HTTP_KEYED_URLS", "true")
    result = sarvanom("providers")
    assert result.exit_code == 0
    assert "1. remote_gpu    configured  http://gpu.example.com" in result.stdout


# -- D12: --strict never prints the stub's text ----------------------------------------------
@pytest.mark.parametrize("stream", [(), ("--stream",)])
def test_d12_strict_prints_nothing_on_stdout_when_no_provider_answered(
    env: pytest.MonkeyPatch, stream: tuple[str, ...]
) -> None:
    env.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    result = sarvanom("complete", "hi", "--strict", *stream)
    assert result.exit_code == EXIT_NO_PROVIDER
    assert result.stdout == ""
    assert "no provider answered" in result.stderr and "ollama_local" in result.stderr


@pytest.mark.parametrize("strict_by", ["option", "environment"])
def test_d12_strict_json_is_an_error_json_either_way(
    env: pytest.MonkeyPatch, strict_by: str
) -> None:
    env.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    args = ["complete", "hi", "--json"]
    if strict_by == "option":
        args.append("--strict")
    else:
        env.setenv("SARVANOM_FALLBACK_TO_STUB", "false")
    result = sarvanom(*args)
    assert result.exit_code == EXIT_NO_PROVIDER
    body = json.loads(result.stdout)
    assert body["success"] is False
    assert body["error"]["type"] == "no_provider_answered"
    assert body["attempts"][0]["provider"] == "ollama_local"
    assert "content" not in body


def test_d12_strict_with_an_answer_prints_it(emu: Any) -> None:
    result = sarvanom("complete", "hi", "--strict")
    assert result.exit_code == 0
    assert result.stdout == "Emulated ollama answer to: hi\n"


# -- D18: errors name the options the user typed ----------------------------------------------
@pytest.mark.parametrize(
    ("args", "named", "python_name"),
    [
        (("--max-tokens", "0"), "'--max-tokens'", "max_tokens"),
        (("--model", "m"), "'--model'", "provider=..."),
        (("--temperature", "5"), "'--temperature'", "temperature:"),
        (("--provider", "nope"), "'--provider'", "provider:"),
    ],
)
def test_d18_errors_name_cli_options(
    env: pytest.MonkeyPatch, args: tuple[str, ...], named: str, python_name: str
) -> None:
    result = sarvanom("complete", "hi", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: Invalid value for {named}")
    assert python_name not in result.stderr
    assert result.stderr.count("\n") == 1


# -- D19: Ctrl-C exits 130 without "Aborted!" -------------------------------------------------
def test_d19_ctrl_c_in_process_exits_130_quietly(
    env: pytest.MonkeyPatch,
) -> None:
    from sarvanom_sdk import SarvanClient

    def interrupted(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    env.setattr(SarvanClient, "complete", interrupted)
    result = sarvanom("complete", "hi")
    assert result.exit_code == 130
    assert "Aborted" not in result.output and "Traceback" not in result.output


def test_d19_sigint_during_a_hanging_call_exits_130(env: pytest.MonkeyPatch) -> None:
    """A real ``sarvanom complete`` blocked on a provider that never answers, then SIGINT."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(60)
        root = Path(__file__).resolve().parents[2]
        child_env = {**os.environ, "OLLAMA_BASE_URL": f"http://127.0.0.1:{server.getsockname()[1]}",
                     "PYTHONPATH": os.pathsep.join(filter(None, [str(root),
                                                                 os.environ.get("PYTHONPATH")]))}
        child = subprocess.Popen(
            [sys.executable, "-m", "sarvanom_cli.main", "complete", "hi"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env,
        )
        try:
            connection, _ = server.accept()  # the request is in flight
            with connection:
                child.send_signal(signal.SIGINT)
                out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert child.returncode == 130
    assert out == "" and "Aborted" not in err and "Traceback" not in err


# -- D23: health exit codes usable by monitoring ----------------------------------------------
def test_d23_health_without_probe_says_unknown_not_healthy(emu: Any) -> None:
    result = sarvanom("health", "--json")
    assert result.exit_code == 4
    assert json.loads(result.stdout)["status"] == "unknown"
    table = sarvanom("health")
    assert table.exit_code == 4
    assert "unknown" in table.stderr and "--probe" in table.stderr


def test_d23_health_probe_exits_0_when_a_real_provider_is_healthy(emu: Any) -> None:
    result = sarvanom("health", "--probe")
    assert result.exit_code == 0
    assert "healthy: 1 of 1 real providers healthy" in result.stderr


def test_d23_health_probe_exits_non_zero_when_every_provider_is_down(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    result = sarvanom("health", "--probe")
    assert result.exit_code == 3
    assert result.stdout.splitlines()[1].split()[:2] == ["ollama_local", "unhealthy"]
    assert "no real provider is healthy" in result.stderr
    as_json = sarvanom("health", "--probe", "--json")
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["status"] == "degraded"


# -- --env-file ------------------------------------------------------------------------------
REAL_KEY = "sk-REAL-user-key-0123456789abcdef"


def test_env_file_is_read_and_trusted(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    chosen = tmp_path / "team.env"
    chosen.write_text("OPENAI_BASE_URL=https://team-proxy.example/v1\nENABLE_PAID_API=true\n")
    env.setenv("OPENAI_API_KEY", REAL_KEY)
    (tmp_path / ".env").write_text(chosen.read_text())  # the same, found implicitly: refused
    refused = sarvanom("providers")
    assert refused.exit_code == 1 and "OPENAI_BASE_URL: comes from .env" in refused.stderr
    result = sarvanom("--env-file", str(chosen), "providers")
    assert result.exit_code == 0, result.output
    assert "openai        configured  https://team-proxy.example/v1" in result.stdout
    assert REAL_KEY not in result.output
    assert "SARVANOM_ENV_FILE" not in os.environ  # restored after the run


def test_env_file_configures_complete(emu: Any, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("OLLAMA_BASE_URL")
    chosen = tmp_path / "local.env"
    chosen.write_text(f"OLLAMA_BASE_URL={emu.url_for('ollama')}\n")
    result = sarvanom("--env-file", str(chosen), "complete", "hi")
    assert result.exit_code == 0
    assert result.stdout == "Emulated ollama answer to: hi\n"


def test_env_file_that_does_not_exist_is_one_line(env: pytest.MonkeyPatch) -> None:
    result = sarvanom("--env-file", "nope.env", "providers")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--env-file'")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("explicit", [True, False])
def test_serve_takes_the_gateway_token_only_from_a_chosen_env_file(
    env: pytest.MonkeyPatch, tmp_path: Path, explicit: bool
) -> None:
    """F16's note: SARVANOM_GATEWAY_TOKEN in an env file reaches ``serve``, but only from a
    file the user named: a found ./.env must not choose the token."""
    import click
    import sarvanom_cli.serve as serve_module

    seen: list[Any] = []

    def stop(host: str, token: Any, insecure: bool) -> None:
        seen.append(token)
        raise click.ClickException("stopped before binding")

    env.setattr(serve_module, "check_bind", stop)
    env.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    path = tmp_path / ("team.env" if explicit else ".env")
    path.write_text("SARVANOM_GATEWAY_TOKEN=gw-token-from-file\n")
    args = ["--env-file", str(path)] if explicit else []
    result = sarvanom(*args, "serve")
    assert result.exit_code == 1 and "stopped before binding" in result.stderr
    assert seen == (["gw-token-from-file"] if explicit else [None])


# -- --timeout on complete -------------------------------------------------------------------
def test_timeout_bounds_the_whole_call(emu: Any, env: pytest.MonkeyPatch) -> None:
    import time

    from sarvanom_sdk.testing import Fault

    emu.inject("ollama", Fault.hang())
    env.setenv("LLM_TIMEOUT_SECONDS", "120")
    env.setenv("SARVANOM_TOTAL_TIMEOUT_SECONDS", "120")
    started = time.monotonic()
    result = sarvanom("complete", "hi", "--timeout", "1", "--strict")
    elapsed = time.monotonic() - started
    assert result.exit_code == EXIT_NO_PROVIDER
    assert "ollama_local" in result.stderr
    assert elapsed < 60  # generous: without --timeout the call would wait 120 s


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_timeout_must_be_positive(env: pytest.MonkeyPatch, value: str) -> None:
    result = sarvanom("complete", "hi", "--timeout", value)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--timeout'")

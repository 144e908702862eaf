"""``sarvanom health --url`` (issue 17 item 4): a running gateway's health in the terminal,
exit status non-zero when no real provider is healthy. Each test starts ``sarvanom serve``
on 127.0.0.1 in a child process and stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sarvanom_cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gw-health-test-token-0123456789"
#: Only what a test names configures the gateway: no canary keys, no other provider.
DROP = ("HUGGINGFACE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GPU_REMOTE_TOKEN",
        "HUGGINGFACE_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_BASE_URL",
        "GPU_REMOTE_URL", "ENABLE_PAID_API", "SARVANOM_PROVIDERS", "SARVANOM_GATEWAY_TOKEN",
        "SARVANOM_REDIS_URL", "SARVANOM_ENV_FILE")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_gateway(ollama_url)``: ``sarvanom serve`` on a free loopback port with that
    Ollama and the token; its URL once /health answers."""
    children: list[subprocess.Popen[str]] = []

    def start(ollama_url: str) -> str:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in DROP}
        env.update(OLLAMA_BASE_URL=ollama_url, SARVANOM_GATEWAY_TOKEN=TOKEN,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        child = subprocess.Popen(
            [sys.executable, "-m", "sarvanom_cli.main", "serve", "--port", str(port),
             "--workers", "1", "--log-level", "error"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        children.append(child)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # generous: a busy 2-core machine
        while time.monotonic() < deadline:
            if child.poll() is not None:
                pytest.fail(f"sarvanom serve exited: {child.stderr.read() if child.stderr else ''}")
            try:
                urllib.request.urlopen(url + "/health", timeout=2).close()
                return url
            except OSError:
                time.sleep(0.1)
        pytest.fail("sarvanom serve did not answer /health within 60 s")

    yield start
    for child in children:
        child.terminate()
        try:
            child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    clean_env.chdir(tmp_path)
    clean_env.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    return clean_env


def sarvanom(*args: str, **env: str) -> Result:
    return CliRunner(env=env or None).invoke(cli, list(args))


def test_health_url_shows_a_healthy_gateway_and_exits_0(
    env: Any, provider_emulator: Any, start_gateway: Callable[..., str]
) -> None:
    url = start_gateway(provider_emulator.url_for("ollama"))
    result = sarvanom("health", "--url", url, "--probe", SARVANOM_GATEWAY_TOKEN=TOKEN)
    assert result.exit_code == 0, result.output
    title, header, row, *rest = result.stdout.splitlines()
    assert title.startswith(f"gateway {url}  /health: ok")
    assert header.split()[:2] == ["provider", "status"]
    assert row.split()[:2] == ["ollama_local", "healthy"]
    assert rest[-1] == "available: ollama_local, local_stub"
    assert "healthy: 1 of 1 real providers healthy" in result.stderr
    assert TOKEN not in result.output
    as_json = sarvanom("health", "--url", url, "--json", "--token", TOKEN)
    assert as_json.exit_code == 0  # the gateway's own calls: the probe above
    assert '"ollama_local"' in as_json.stdout


def test_health_url_exits_non_zero_when_no_real_provider_is_healthy(
    env: Any, start_gateway: Callable[..., str]
) -> None:
    url = start_gateway("http://127.0.0.1:9")  # nothing listens there
    fresh = sarvanom("health", "--url", url, SARVANOM_GATEWAY_TOKEN=TOKEN)
    assert fresh.exit_code == 4  # nothing known yet
    result = sarvanom("health", "--url", url, "--probe", SARVANOM_GATEWAY_TOKEN=TOKEN)
    assert result.exit_code == 3
    assert result.stdout.splitlines()[2].split()[:2] == ["ollama_local", "unhealthy"]
    assert "no real provider is healthy" in result.stderr


def test_health_url_without_the_token_says_so(
    env: Any, provider_emulator: Any, start_gateway: Callable[..., str]
) -> None:
    url = start_gateway(provider_emulator.url_for("ollama"))
    result = sarvanom("health", "--url", url)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: gateway {url}: GET /health/gpu-providers: HTTP 401 "
        "(set SARVANOM_GATEWAY_TOKEN or --token)\n"
    )


def test_health_url_watch_refreshes_until_stopped(
    env: Any, provider_emulator: Any, start_gateway: Callable[..., str]
) -> None:
    url = start_gateway(provider_emulator.url_for("ollama"))
    result = sarvanom("health", "--url", url, "--probe", "--watch", "--interval", "0.1",
                      "--count", "3", SARVANOM_GATEWAY_TOKEN=TOKEN)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("--- ") == 3  # not a terminal: a separator per refresh
    assert result.stdout.count("ollama_local  healthy") == 3
    assert result.stdout.count("healthy: 1 of 1 real providers healthy") == 3
    # each refresh asked the gateway to probe; the gateway shares one probe fan-out
    # between the requests of a few seconds (F14), so the provider was probed at least once
    assert provider_emulator.request_count("ollama") >= 1


def test_health_url_of_nothing_is_one_line(env: Any) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = sarvanom("health", "--url", url)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: gateway {url}: GET /health:")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "bad", ["http://user:GwSecretPw@127.0.0.1:8000", "ftp://127.0.0.1", "http://h/?token=GwQ"]
)
def test_health_url_must_be_a_plain_url_and_is_never_echoed(env: Any, bad: str) -> None:
    result = sarvanom("health", "--url", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--url'")
    assert "GwSecretPw" not in result.stderr and "GwQ" not in result.stderr


def test_health_watch_of_this_process_probes_each_round(env: Any, provider_emulator: Any) -> None:
    env.setenv("OLLAMA_BASE_URL", provider_emulator.url_for("ollama"))
    result = sarvanom("health", "--probe", "--watch", "--interval", "0.1", "--count", "2")
    assert result.exit_code == 0
    assert result.stdout.count("--- ") == 2
    assert result.stdout.count("ollama_local  healthy") == 2

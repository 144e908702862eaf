"""``sarvanom gpu-box``: options and bind rule (click's runner), and a real run whose
stderr never holds the token, even when a client sends it in a malformed header line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner
from sarvanom_cli.main import cli

from sarvanom_sdk.testing import ProviderEmulator

TOKEN = "gpu-box-cli-token-5d1e"


def run(*args: str, **env: str) -> object:
    return CliRunner().invoke(cli, ["gpu-box", *args], env={"GPU_REMOTE_TOKEN": "", **env})


def test_a_non_loopback_bind_without_a_token_is_refused():
    result = run("--host", "0.0.0.0", "--backend-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "refusing to bind '0.0.0.0' without a token" in result.output


@pytest.mark.parametrize("args", [[], ["--backend-url", "u", "--model-path", "p"]])
def test_exactly_one_backend_is_needed(args):
    result = run(*args)
    assert result.exit_code == 2
    assert "exactly one of --backend-url and --model-path" in result.output


def test_model_path_must_be_a_folder(tmp_path):
    result = run("--model-path", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert "is not a directory" in result.output


def test_model_path_without_the_extra_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name in ("torch", "transformers") else real(name, *a),
    )
    result = run("--model-path", str(tmp_path))
    assert result.exit_code == 1
    assert "pip install 'sarvanom-sdk[gpu-box]'" in result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def running_box() -> Iterator[tuple[str, subprocess.Popen]]:
    with ProviderEmulator() as emu:
        port = _free_port()
        env = {**os.environ, "GPU_REMOTE_TOKEN": TOKEN}
        proc = subprocess.Popen(
            [sys.executable, "-m", "sarvanom_cli.main", "gpu-box", "--port", str(port),
             "--backend-url", emu.url_for("remote_gpu_openai"), "--log-level", "debug"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "gpu-box did not start"
            time.sleep(0.1)
        try:
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_the_token_never_reaches_the_log(running_box):
    url, proc = running_box
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.post(f"{url}/generate", json={"prompt": "hi"}, headers=good,
                         timeout=30).status_code == 200
    assert requests.get(f"{url}/v1/models", headers={"Authorization": "Bearer x" + TOKEN},
                        timeout=30).status_code == 401
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\x01"
                    "\r\n\r\n".encode())
        raw.recv(65536)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert "gpu-box on http://127.0.0.1" in stderr and "auth: bearer token" in stderr
    assert '"POST /generate HTTP/1.1" 200' in stderr  # requests were logged...
    assert TOKEN not in stderr  # ...and the token never was

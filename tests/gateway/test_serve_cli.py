"""``sarvanom serve``: the bind check and the wiring (``gateway.server.serve`` is replaced:
nothing is bound here)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from gateway_helpers import TOKEN
from sarvanom_cli import serve as serve_module
from sarvanom_cli.serve import check_bind, is_loopback, serve

from sarvanom_sdk.gateway import server as gateway_server
from sarvanom_sdk.gateway.app import GATEWAY


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host, loopback) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "gateway.internal"])
def test_public_bind_without_token_is_refused(host) -> None:
    import click

    with pytest.raises(click.ClickException, match="without a token"):
        check_bind(host, None, insecure_no_token=False)
    check_bind(host, TOKEN, insecure_no_token=False)
    check_bind(host, None, insecure_no_token=True)


def test_loopback_needs_no_token() -> None:
    check_bind("127.0.0.1", None, insecure_no_token=False)


@pytest.fixture
def fake_run_app(monkeypatch, tmp_path) -> list[dict[str, Any]]:
    monkeypatch.chdir(tmp_path)  # no .env file is read
    calls: list[dict[str, Any]] = []

    def serve(app: web.Application, host: str, port: int, **options: Any) -> None:
        calls.append({"app": app, "host": host, "port": port, **options})
        options["ready"](port)

    monkeypatch.setattr(gateway_server, "serve", serve)
    monkeypatch.setattr(serve_module, "_configure_logging", lambda level: None)
    monkeypatch.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    monkeypatch.setenv("SARVANOM_GATEWAY_WORKERS", "1")  # one process: server.serve is faked
    return calls


def test_cli_refuses_a_public_bind_in_one_line(fake_run_app) -> None:
    result = CliRunner().invoke(serve, ["--host", "0.0.0.0"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: refusing to bind '0.0.0.0' without a token")
    assert "SARVANOM_GATEWAY_TOKEN" in lines[0] and "--insecure-no-token" in lines[0]
    assert fake_run_app == []


def test_cli_wiring(fake_run_app, monkeypatch) -> None:
    monkeypatch.setenv("SARVANOM_GATEWAY_TOKEN", TOKEN)
    result = CliRunner().invoke(
        serve,
        [
            "--host",
            "0.0.0.0",
            "--port",
            "8123",
            "--strict",
            "--max-in-flight",
            "7",
            "--shutdown-timeout",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    (call,) = fake_run_app
    assert (call["host"], call["port"], call["shutdown_timeout"]) == ("0.0.0.0", 8123, 4.0)
    gateway = call["app"][GATEWAY]
    assert gateway.limits.max_in_flight == 7
    assert gateway.client.settings.fallback_to_stub is False
    assert gateway.authorized(f"Bearer {TOKEN}") is True
    assert gateway.authorized(None) is None


def test_cli_defaults_to_loopback_without_token(fake_run_app) -> None:
    result = CliRunner().invoke(serve, [])
    assert result.exit_code == 0, result.output
    (call,) = fake_run_app
    assert (call["host"], call["port"]) == ("127.0.0.1", 8000)
    assert call["app"][GATEWAY].authorized(None) is True
    assert "auth: none" in result.output


def test_cli_reports_a_bad_setting_in_one_line(fake_run_app, monkeypatch) -> None:
    monkeypatch.setenv("SARVANOM_TOTAL_TIMEOUT_SECONDS", "soon")
    result = CliRunner().invoke(serve, [])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: SARVANOM_TOTAL_TIMEOUT_SECONDS: must be a number, got 'soon'"
    ]

"""``sarvanom serve --loop asyncio|uvloop`` (issue 18 goal 4): the CLI picks the loop and
hands its factory to the server; the library never installs an event-loop policy. uvloop
measured under the 10 % bar, so it is never picked because it is installed: asyncio is
the default, uvloop an explicit choice."""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
from typing import Any

import click
import pytest
import sarvanom_cli.serve as serve_module
from aiohttp import web
from click.testing import CliRunner
from sarvanom_cli.serve import choose_loop, serve

from sarvanom_sdk.gateway import server

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


@pytest.fixture
def no_uvloop(monkeypatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_issue18_4_asyncio_is_asyncios_own_loop() -> None:
    assert choose_loop("asyncio") == ("asyncio", None)


def test_issue18_4_uvloop_asked_for_but_missing_is_a_clear_error(no_uvloop) -> None:
    with pytest.raises(click.ClickException,
                       match=r"uvloop is not installed \(pip install uvloop\)"):
        choose_loop("uvloop")


@pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed")
def test_issue18_4_uvloop_only_when_asked_for() -> None:
    import uvloop

    assert choose_loop("uvloop") == ("uvloop", uvloop.new_event_loop)


def test_issue18_4_asyncio_is_the_default_whatever_is_installed(monkeypatch, tmp_path) -> None:
    """Not ``auto``: uvloop saved under 10 % here, so having it installed changes nothing."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    monkeypatch.delenv("SARVANOM_GATEWAY_LOOP", raising=False)
    monkeypatch.setattr(serve_module, "_configure_logging", lambda level: None)
    seen: list[Any] = []

    def fake_serve(app: web.Application, host: str, port: int, **options: Any) -> None:
        seen.append(options["loop_factory"])
        options["ready"](port)

    monkeypatch.setattr(server, "serve", fake_serve)
    result = CliRunner().invoke(serve, ["--workers", "1"])
    assert result.exit_code == 0, result.output
    assert seen == [None]
    assert CliRunner().invoke(serve, ["--workers", "1", "--loop", "auto"]).exit_code == 2


def test_issue18_4_the_cli_passes_the_chosen_loop_to_the_server(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SARVANOM_GATEWAY_TOKEN", raising=False)
    monkeypatch.setattr(serve_module, "_configure_logging", lambda level: None)
    seen: list[Any] = []

    def fake_serve(app: web.Application, host: str, port: int, **options: Any) -> None:
        seen.append(options["loop_factory"])
        options["ready"](port)

    monkeypatch.setattr(server, "serve", fake_serve)
    result = CliRunner().invoke(serve, ["--workers", "1", "--loop", "asyncio"])
    assert result.exit_code == 0, result.output
    assert seen == [None] and "loop:" not in result.output
    if HAVE_UVLOOP:
        import uvloop

        result = CliRunner().invoke(serve, ["--workers", "1", "--loop", "uvloop"])
        assert result.exit_code == 0, result.output
        assert seen[-1] is uvloop.new_event_loop and "loop: uvloop" in result.output


def test_issue18_4_serving_on_a_loop_factory_installs_no_policy() -> None:
    """``server.run`` runs on the factory's loop and leaves the process's policy alone
    (the library never installs one; only the CLI chooses a loop)."""
    policy = asyncio.get_event_loop_policy()
    made: list[asyncio.AbstractEventLoop] = []

    def factory() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        made.append(loop)
        return loop

    ran_on: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        ran_on.append(asyncio.get_running_loop())

    server.run(main(), factory)
    assert ran_on == made and made[0].is_closed()
    assert asyncio.get_event_loop_policy() is policy

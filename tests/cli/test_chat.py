"""``sarvanom chat`` (issue 17 item 4): a REPL with history and streaming, the trail on
demand; driven here by feeding standard input, against the provider emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sarvanom_cli.main import cli


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    clean_env.chdir(tmp_path)
    return clean_env


@pytest.fixture
def emu(provider_emulator: Any, env: pytest.MonkeyPatch) -> Any:
    env.setenv("OLLAMA_BASE_URL", provider_emulator.url_for("ollama"))
    return provider_emulator


def chat(*args: str, input: str) -> Result:
    return CliRunner().invoke(cli, ["chat", *args], input=input)


def test_chat_streams_answers_and_keeps_the_history(emu: Any) -> None:
    result = chat("--system", "Be brief.", input="first question\nsecond question\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Emulated ollama answer to: first question\n"
        "Emulated ollama answer to: second question\n"
    )
    first, second = emu.requests("ollama")
    assert first.json["stream"] is True
    assert [m["role"] for m in second.json["messages"]] == ["system", "user", "assistant", "user"]
    assert second.json["messages"][2]["content"] == "Emulated ollama answer to: first question"


def test_chat_trail_shows_the_last_answers_attempts(emu: Any, env: pytest.MonkeyPatch) -> None:
    result = chat(input="/trail\nhello\n/trail\n")
    assert result.exit_code == 0
    assert "(no answer yet)" in result.stderr
    trail = [line for line in result.stderr.splitlines() if "ollama_local" in line]
    assert len(trail) == 1 and trail[0].split()[:2] == ["ollama_local", "ok"]


def test_chat_reset_forgets_the_history(emu: Any) -> None:
    result = chat("--no-stream", input="one\n/reset\ntwo\n")
    assert result.exit_code == 0
    assert "(history cleared)" in result.stderr
    last = emu.requests("ollama")[-1]
    assert last.json["stream"] is False
    assert [m["content"] for m in last.json["messages"]] == ["two"]


def test_chat_keeps_the_stub_out_of_the_history(env: pytest.MonkeyPatch) -> None:
    result = chat(input="hi\n/trail\n")
    assert result.exit_code == 0
    assert "not kept in the history" in result.stderr


def test_chat_strict_shows_the_error_and_goes_on(env: pytest.MonkeyPatch, emu: Any) -> None:
    env.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    result = chat("--strict", input="hi\n/trail\n/quit\nnever sent\n")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "Error: no provider answered" in result.stderr
    assert any(line.split()[:1] == ["ollama_local"] for line in result.stderr.splitlines())


def test_chat_unknown_command_and_bad_option(emu: Any) -> None:
    result = chat(input="/nope\n")
    assert result.exit_code == 0 and "unknown command '/nope'" in result.stderr
    bad = chat("--provider", "nope", input="")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: Invalid value for '--provider'")

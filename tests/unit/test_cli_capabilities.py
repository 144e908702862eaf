"""Issue 14 item 5: ``sarvanom providers`` shows what each provider in the chain can do
beyond plain chat (what capability-aware routing reads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sarvanom_cli.main import cli

ALL = "capabilities=tools,json_object,json_schema,images,image_urls,stop,seed"


def test_issue14_providers_lists_each_providers_capabilities(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here; the suite's canary keys stay set
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GPU_REMOTE_URL", "http://127.0.0.1:8")
    monkeypatch.setenv("GPU_REMOTE_PROTOCOL", "openai")
    monkeypatch.setenv("HUGGINGFACE_API", "task")
    monkeypatch.setenv("ENABLE_PAID_API", "false")
    result = CliRunner().invoke(cli, ["providers"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert lines["remote_gpu"].endswith(ALL)
    assert lines["huggingface"].endswith("capabilities=stop,seed")
    assert lines["local_stub"].endswith("capabilities=none")
    assert "capabilities" not in lines["openai"]  # out of the chain: nothing to say

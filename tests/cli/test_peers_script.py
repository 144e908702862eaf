"""Issue 18 goal 6: ``benchmarks/peers.py`` runs its baselines and the SDK on one loopback
upstream and, for a peer whose package is missing, prints a row that says it was skipped
and how to install it (the peers are not dependencies of the SDK)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "peers.py"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """peers.py with ``openai`` and ``litellm`` shadowed by packages that fail to import,
    as when they are not installed."""
    for name in ("openai", "litellm"):
        package = tmp_path / "missing" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "missing"), str(ROOT)])
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def rows(output: str) -> dict[tuple[str, str], str]:
    """(name, mode) -> the rest of the row, for the table rows of ``output``."""
    found = {}
    for line in output.splitlines():
        for mode in ("sequential", "64 in flight", "1 connection", "64 connections"):
            name, sep, rest = line.partition(f"  {mode}")
            if sep:
                found[(name.strip(), mode)] = rest
    return found


def test_issue18_peers_skips_a_missing_peer_and_measures_the_rest(tmp_path: Path) -> None:
    result = run(tmp_path, "--quick")
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    for mode in ("sequential", "64 in flight"):
        assert "skipped: openai is not installed" in table[("openai AsyncOpenAI", mode)]
        assert "skipped: litellm is not installed" in table[("litellm.acompletion", mode)]
        assert "pip install litellm" in table[("litellm.acompletion", mode)]
        # the baseline is 1.000x of itself, the SDK has figures of its own
        assert table[("raw aiohttp", mode)].split()[1] == "1.000x"
        sdk = table[("AsyncSarvanClient", mode)].split()
        assert float(sdk[0].replace(",", "")) > 0 and sdk[1].endswith("x")
    assert "skipped: openai is not installed" in table[("openai OpenAI", "sequential")]
    assert "skipped" not in table[("SarvanClient", "sequential")]
    for mode in ("1 connection", "64 connections"):
        assert table[("floor forwarder", mode)].split()[1] == "1.000x"
        assert "cold start" in table[("sarvanom serve", mode)]
        assert "skipped: " in table[("litellm proxy", mode)]


def test_issue18_peers_no_gateways_runs_the_clients_only(tmp_path: Path) -> None:
    result = run(tmp_path, "--quick", "--only", "sdk", "--no-gateways")
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert {name for name, _ in table} == {"raw aiohttp", "AsyncSarvanClient",
                                           "raw requests", "SarvanClient"}


def test_issue18_peers_only_rejects_an_unknown_name() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--only", "sdk,langchain"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown langchain" in result.stderr

"""D15: every benchmark script parses its arguments with argparse, through one shared
helper (``benchmarks/_common.script_parser``): ``--help`` prints the script's own help and
exits at once, a typo is an error (exit 2), and neither starts a benchmark."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
#: Every runnable script; ``_server.py`` is the loopback server they start, not a benchmark.
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
BOUND = 120.0


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=BOUND)


def test_every_script_is_listed() -> None:
    assert {"bench_import.py", "bench_memory.py", "bench_overhead.py", "bench_stream.py",
            "bench_throughput.py", "gateway_floor.py", "gateway_overhead.py",
            "gateway_workers.py", "peers.py", "real_model_overhead.py", "redis_state.py",
            "routing.py", "run_all.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_d15_help_prints_the_scripts_help_and_exits(script: str) -> None:
    result = run(script, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")
    first_line = (BENCHMARKS / script).read_text().split('"""')[1].strip().splitlines()[0]
    assert first_line.split("``")[0][:30] in result.stdout  # the docstring is the help
    assert "figure" not in result.stdout.splitlines()[0]  # no figures table: nothing ran


@pytest.mark.parametrize("script", SCRIPTS)
def test_d15_a_typo_is_an_error_not_a_full_run(script: str) -> None:
    result = run(script, "--quik")
    assert result.returncode == 2
    assert "unrecognized arguments: --quik" in result.stderr
    assert result.stdout == ""


def test_d15_the_parser_is_shared_not_copied() -> None:
    """One ``argparse.ArgumentParser(`` in the benchmarks: the helper's (and the
    stand-alone server's, which does not import the helpers to stay small)."""
    owners = sorted(p.name for p in BENCHMARKS.glob("*.py")
                    if "argparse.ArgumentParser(" in p.read_text())
    assert owners == ["_common.py", "_server.py"]
    for script in SCRIPTS:
        source = (BENCHMARKS / script).read_text()
        assert re.search(r"script_parser\(__doc__|main_for\(run\)", source), script


def test_d15_numbers_are_checked() -> None:
    result = run("gateway_overhead.py", "--requests", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr

#!/usr/bin/env python3
"""Start-up cost: ``import sarvanom_sdk`` and ``sarvanom --help`` over a bare interpreter.

Each case is a fresh child interpreter (``python -c pass`` is the baseline), the three
cases interleaved, repeated; the figure is the median wall time. Bytecode caching is on
in the children (see :func:`startup_env`). Each note lists the
heavy libraries the case loaded (none should be: the SDK imports aiohttp, requests and
pybreaker on first use) and the four modules with the largest own import time
(``-X importtime``, self column).
Targets: import within 50 ms of bare, ``--help`` within 150 ms.

Run: ``python benchmarks/bench_import.py [--quick]``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import Figure, child_env, main_for

HEAVY = ("aiohttp", "requests", "pybreaker", "redis", "cachetools", "backoff", "asyncio")
IMPORT_SDK = "import sarvanom_sdk"
CLI_HELP = ("import sys\nfrom sarvanom_cli.main import main\nsys.argv[1:] = ['--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n")
STARTUP = frozenset({"site", "encodings", "io", "abc", "codecs", "_frozen_importlib_external"})
PROBE = "\nimport sys\nprint('LOADED:' + ','.join(m for m in {heavy!r} if m in sys.modules))"


def cli_command() -> list[str]:
    """``sarvanom --help``: the installed console script when this interpreter has one."""
    script = Path(sys.executable).parent / "sarvanom"
    if script.is_file():
        return [sys.executable, str(script), "--help"]
    return [sys.executable, "-c", CLI_HELP]


def startup_env() -> dict[str, str]:
    """The children's environment, with bytecode caching on (as after ``pip install``,
    which compiles them) even where ``PYTHONDONTWRITEBYTECODE`` is set, so the warm-up run
    writes the ``.pyc`` files and the timed runs read them."""
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wall_ms(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=startup_env(), stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


def loaded(code: str) -> str:
    """Which of :data:`HEAVY` are in ``sys.modules`` after running ``code``."""
    probe = code + PROBE.format(heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", probe], env=startup_env(), capture_output=True,
                         text=True, check=True).stdout
    return out.rsplit("LOADED:", 1)[-1].strip()


def heaviest(code: str, top: int = 4) -> str:
    """The ``top`` modules by self time under ``-X importtime`` (the interpreter's own
    start-up modules left out), as text."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=startup_env(),
                         capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if name not in STARTUP:
                rows.append((int(parts[0].split(":")[1]), name))
    rows.sort(reverse=True)
    return ", ".join(f"{name} {us / 1000:.1f}" for us, name in rows[:top]) + " ms"


def run(quick: bool = False) -> list[Figure]:
    repeat = 7 if quick else 21
    cases = {
        "bare": [sys.executable, "-c", "pass"],
        "sdk": [sys.executable, "-c", IMPORT_SDK],
        "help": cli_command(),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for command in cases.values():
        wall_ms(command)  # warm the file system cache and the .pyc files
    for _ in range(repeat):
        for name, command in cases.items():
            times[name].append(wall_ms(command))
    bare, sdk, help_ = (statistics.median(times[n]) for n in ("bare", "sdk", "help"))
    return [
        Figure("import sarvanom_sdk", sdk, bare, "ms", "delta", 50.0,
               note=f"loads: {loaded(IMPORT_SDK) or 'none of ' + '/'.join(HEAVY[:3])}; "
                    f"heaviest: {heaviest(IMPORT_SDK)}"),
        Figure("sarvanom --help", help_, bare, "ms", "delta", 150.0,
               note=f"loads: {loaded(CLI_HELP) or 'none of ' + '/'.join(HEAVY[:3])}; "
                    f"heaviest: {heaviest(CLI_HELP)}"),
    ]


if __name__ == "__main__":
    main_for(run)

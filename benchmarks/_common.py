"""What the benchmark scripts share: import paths, the loopback server, figures, timing.

Every figure is measured against a baseline in the same run and printed with its target.
Settings are built directly (``Settings(...)``), never from the environment, so a shell
with real keys cannot send anything anywhere: every URL here is 127.0.0.1.

Every script runs its body through :func:`run_script`: SIGTERM and SIGHUP then unwind like
Ctrl-C (``sarvanom_cli.bench.stopping``), so the ``finally`` that stops a child server runs
and no orphan keeps a port or an inherited pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


def ensure_importable() -> None:
    """Make ``sarvanom_sdk`` and ``sarvanom_cli`` (the ``cli/`` directory) importable from a
    checkout that is not pip-installed."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        import sarvanom_cli  # noqa: F401
    except ModuleNotFoundError:
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "sarvanom_cli", ROOT / "cli" / "__init__.py",
            submodule_search_locations=[str(ROOT / "cli")],
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["sarvanom_cli"] = module
        spec.loader.exec_module(module)


ensure_importable()

from sarvanom_cli.bench.stopping import (  # noqa: E402
    exit_status,
    signal_name,
    stop_child,
    stop_on_signals,
)


def child_env() -> dict[str, str]:
    """The environment for child interpreters: the checkout first on the import path, no
    proxies (every request goes to 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


class ServerURL(str):
    """A server's root URL (``http://127.0.0.1:PORT``) that knows its process."""

    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def loopback_server(*, delay: float = 0.0, gap: float = 0.005, chunks: int = 8
                    ) -> Iterator[ServerURL]:
    """Run ``_server.py`` in its own process; yield its root URL."""
    command = [sys.executable, str(HERE / "_server.py"), "--delay", str(delay),
               "--gap", str(gap), "--chunks", str(chunks)]
    with _child(command, "READY ") as (line, pid):
        yield _url(f"http://127.0.0.1:{line.split()[1]}", pid)


@contextlib.contextmanager
def emulator_server() -> Iterator[ServerURL]:
    """Run ``sarvanom emulate`` in its own process; yield its root URL."""
    command = [sys.executable, "-m", "sarvanom_cli.main", "emulate", "--port", "0"]
    with _child(command, "listening on ") as (line, pid):
        yield _url(line.split()[-1], pid)


def _url(root: str, pid: int) -> ServerURL:
    url = ServerURL(root)
    url.pid = pid
    return url


@contextlib.contextmanager
def _child(command: list[str], ready: str) -> Iterator[tuple[str, int]]:
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=child_env(),
                             start_new_session=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(ready):
                break
        else:
            raise RuntimeError(f"{command[1]} did not start")
        yield line.strip(), child.pid
    finally:
        stop_child(child, grace=10.0)


@contextlib.contextmanager
def refused_url() -> Iterator[str]:
    """A loopback root URL whose port is bound but not listening: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def settings(**fields: Any) -> Any:
    """Settings with these fields and everything else at its default (not from env)."""
    from sarvanom_sdk import Settings

    return Settings(**fields)


@dataclass
class Figure:
    """One benchmark figure: the SDK's value beside its same-run baseline.

    ``kind`` says how they compare: ``ratio`` (sdk / baseline, for throughput and memory)
    or ``delta`` (sdk - baseline, for added time). ``paired``, when given, is the ratio to
    report instead (the median of per-round ratios). ``target`` is a goal, not a test.
    """

    name: str
    sdk: float
    baseline: float
    unit: str
    kind: str
    target: float | None = None
    note: str = ""
    paired: float | None = None

    @property
    def derived(self) -> float:
        if self.kind == "ratio":
            if self.paired is not None:
                return self.paired
            return self.sdk / self.baseline if self.baseline else float("nan")
        return self.sdk - self.baseline

    @property
    def met(self) -> bool | None:
        """Ratios must reach the target; deltas must stay within it."""
        if self.target is None:
            return None
        return self.derived >= self.target if self.kind == "ratio" else self.derived <= self.target

    def goal(self) -> str:
        if self.target is None:
            return ""
        if self.kind == "ratio":
            return f">= {self.target:g}x"
        return f"<= {self.target:g} {self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "derived": self.derived, "met": self.met}


_DIGITS = {"ms": 3, "req/s": 0, "µs": 1, "MiB": 1, "KiB": 2}


def render(figures: list[Figure]) -> str:
    """A text table of figures."""
    header = ("figure", "sdk", "baseline", "sdk vs base", "target", "met", "note")
    rows = [header]
    for f in figures:
        digits = _DIGITS.get(f.unit, 1)
        derived = f"{f.derived:.3f}x" if f.kind == "ratio" else f"{f.derived:+.{digits}f} {f.unit}"
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        rows.append((f.name, f"{f.sdk:,.{digits}f} {f.unit}", f"{f.baseline:,.{digits}f} {f.unit}",
                     derived, f.goal(), met, f.note))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in rows
    )


def per_call_us(fn: Callable[[], Any], number: int) -> float:
    """Mean µs per call of ``fn`` over one batch of ``number`` calls, GC off while timed."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - started) / number * 1e6
    finally:
        gc.enable()


def interleaved_us(batches: dict[str, Callable[[], float]], repeat: int = 9
                   ) -> dict[str, float]:
    """Run each batch (a callable returning µs per call) in turn, ``repeat`` rounds; the
    minimum per batch: the round least disturbed by other processes (timeit's rule), and
    interleaving makes a slow spell hit every batch alike."""
    rounds: dict[str, list[float]] = {name: [] for name in batches}
    for _ in range(repeat):
        for name, batch in batches.items():
            rounds[name].append(batch())
    return {name: min(values) for name, values in rounds.items()}


def script_parser(doc: str | None, *, quick: bool = False) -> argparse.ArgumentParser:
    """The argument parser every benchmark script starts from (D15): the script's
    docstring's first paragraph is the description and the rest the epilog, so ``--help``
    explains the script and exits; an unknown option (``--quik``) is an error, not a full
    run. ``quick`` adds ``--quick`` (a smoke run)."""
    summary, _, rest = (doc or "").strip().partition("\n\n")
    parser = argparse.ArgumentParser(
        description=summary, epilog=rest or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if quick:
        parser.add_argument("--quick", action="store_true",
                            help="fewer requests: a smoke run whose figures are noisier")
    return parser


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_script(main: Callable[[], object]) -> None:
    """Run a script's ``main`` with SIGTERM and SIGHUP raising like Ctrl-C, so every
    ``finally`` (child servers included) runs; stopped that way, say so on stderr and exit
    128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""
    with stop_on_signals():
        try:
            main()
        except KeyboardInterrupt as stop:
            print(f"interrupted ({signal_name(stop)})", file=sys.stderr)
            sys.exit(exit_status(stop))


def main_for(run: Callable[[bool], list[Figure]], argv: list[str] | None = None) -> None:
    """``python benchmarks/<script>.py [--quick]``: parse the arguments (``--help`` is the
    script's docstring), run and print one script's figures."""
    doc = sys.modules[run.__module__].__doc__
    args = script_parser(doc, quick=True).parse_args(argv)
    run_script(lambda: print(render(run(args.quick))))

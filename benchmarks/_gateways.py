"""Gateways in child processes for the benchmarks: ``sarvanom serve``, the floor forwarder
(``_floor.py``) and LiteLLM's proxy, each forwarding OpenAI chat requests to one
loopback upstream (``_server.py``), with what a benchmark reads about them: cold start,
CPU time and resident memory of the process and its children (``/proc``).

Nothing here reaches beyond 127.0.0.1. ``sarvanom serve`` gets an environment built here
(every provider, key and ``SARVANOM_*`` variable of the caller's shell removed; the chain is
``remote_gpu`` in its ``openai`` protocol at the upstream) and runs in an empty directory,
so no ``.env`` file is read. LiteLLM's proxy gets a config file written here and the
``LITELLM_LOCAL_*`` switches (:data:`LITELLM_OFFLINE`) that keep it from fetching its model
cost map and other data from the internet at start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from _common import HERE, child_env
from sarvanom_cli.bench.stopping import stop_child

#: The model name every gateway answers for (LiteLLM's proxy is configured with it).
MODEL = "sarvanom/auto"
PROMPT = "What is the capital of France?"
#: The body every load generator posts to ``/v1/chat/completions``.
CHAT_BODY = json.dumps({"model": MODEL, "max_tokens": 64,
                        "messages": [{"role": "user", "content": PROMPT}]}).encode()

#: LiteLLM's switches to use the data bundled in its package instead of fetching it (the
#: model cost map from GitHub at import, and the rest at proxy start). Set in the
#: environment of every process that imports LiteLLM, before the import.
LITELLM_OFFLINE = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOG": "ERROR",
}

#: Variables of the caller's shell that would configure the SDK or a peer: never passed on.
_CONFIG_PREFIXES = ("SARVANOM_", "OLLAMA_", "GPU_REMOTE_", "HUGGINGFACE_", "HF_", "OPENAI_",
                    "ANTHROPIC_", "ENABLE_PAID", "LLM_", "LITELLM_", "DATABASE_URL", "REDIS")


def clean_env(**extra: str) -> dict[str, str]:
    """:func:`_common.child_env` without any provider/gateway configuration or key from the
    caller's shell, plus ``extra``."""
    env = {k: v for k, v in child_env().items()
           if not k.upper().startswith(_CONFIG_PREFIXES)
           and not any(s in k.upper() for s in ("API_KEY", "TOKEN", "SECRET"))}
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def installed(module: str) -> str | None:
    """None when ``module`` imports, else why not (the skip reason)."""
    try:
        __import__(module)
    except ImportError as error:
        return f"{module} is not installed ({error}); pip install {module}"
    return None


@dataclass
class Gateway:
    """A running gateway: its root URL, process id and cold start (seconds from spawn to
    its first answered chat request)."""

    name: str
    url: str
    pid: int
    cold_start: float

    def pids(self) -> list[int]:
        """The process and its descendants (LiteLLM's proxy may fork workers)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                children.setdefault(ppid, []).append(int(entry))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        return tree

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the process tree has used so far."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def _status_kib(self, key: str) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith(key):
                        total += int(line.split()[1])
        return total

    def rss_bytes(self) -> int:
        """Resident memory of the process tree now."""
        return self._status_kib("VmRSS:") * 1024

    def peak_rss_bytes(self) -> int:
        """The largest resident memory of each process since :meth:`reset_peak`, summed."""
        return self._status_kib("VmHWM:") * 1024

    def reset_peak(self) -> None:
        """Start the peak RSS over from now (``/proc/PID/clear_refs``: 5)."""
        for pid in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as refs:
                refs.write("5")


def answer(url: str, timeout: float = 10.0) -> bool:
    """Whether ``url``'s ``/v1/chat/completions`` answers :data:`CHAT_BODY` with a 200
    (no proxies: the URL is loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url + "/v1/chat/completions", data=CHAT_BODY,
                                     headers={"Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as reply:
            reply.read()
            return bool(reply.status == 200)
    except OSError:
        return False


def listening(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url``'s port accepts a connection (readiness when the upstream holds its
    answers: the memory benchmark's)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _spawn(name: str, command: list[str], env: dict[str, str], port: int,
           ready: Callable[[str], bool] = answer, deadline: float = 90.0
           ) -> Iterator[Gateway]:
    """Start ``command`` (it listens on ``port``) in an empty directory; yield it once
    ``ready`` (by default: it answers a chat request); stop it (SIGTERM, then SIGKILL) at
    the end. ``cold_start`` is the time from the spawn to ``ready``."""
    workdir = tempfile.mkdtemp(prefix="sarvanom-bench-")
    log = open(Path(workdir) / "log", "w+b")  # noqa: SIM115 (closed below)
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while not ready(url):
            status = child.poll()
            if status is not None or time.perf_counter() - started > deadline:
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines() or ["-"]
                why = (f"exited with status {status}" if status is not None
                       else f"did not answer within {deadline:.0f} s")
                raise RuntimeError(f"{name} {why}: {lines[-1][:200]}")
            time.sleep(0.02)
        yield Gateway(name, url, child.pid, time.perf_counter() - started)
    finally:
        stop_child(child, grace=10.0)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


#: ``sarvanom serve`` under ``tracemalloc``: SIGUSR1 dumps a snapshot to the file named by
#: ``SARVANOM_BENCH_SNAPSHOT`` (``bench_memory.py --top``).
TRACED_SERVE = """import os, signal, tracemalloc
tracemalloc.start(1)
signal.signal(signal.SIGUSR1, lambda *_: tracemalloc.take_snapshot().dump(
    os.environ["SARVANOM_BENCH_SNAPSHOT"]))
from sarvanom_cli.serve import serve
serve()
"""


def sarvanom_gateway(upstream: str, *, in_flight: int = 256, args: tuple[str, ...] = (),
                     ready: Callable[[str], bool] = answer, snapshot: str | None = None,
                     **env: str) -> contextlib.AbstractContextManager[Gateway]:
    """``sarvanom serve`` with one provider, ``remote_gpu`` speaking OpenAI's protocol at
    ``upstream``, the response cache off, the provider's bulkhead and the gateway's
    ``--max-in-flight`` at ``in_flight``; one process on asyncio's loop, like the floor and
    LiteLLM's one worker (``SARVANOM_GATEWAY_WORKERS``/``_LOOP``: per-process figures;
    ``gateway_workers.py`` measures several workers); ``args`` adds options, ``env``
    variables.
    ``snapshot``: run it under ``tracemalloc`` (:data:`TRACED_SERVE`), dumping to that
    file on SIGUSR1."""
    port = free_port()
    launch = ["-c", TRACED_SERVE] if snapshot else ["-m", "sarvanom_cli.main", "serve"]
    if snapshot:
        env["SARVANOM_BENCH_SNAPSHOT"] = snapshot
    command = [sys.executable, *launch, "--port", str(port),
               "--log-level", "warning", "--max-in-flight", str(in_flight), *args]
    config = clean_env(GPU_REMOTE_URL=upstream, GPU_REMOTE_PROTOCOL="openai",
                       SARVANOM_PROVIDERS="remote_gpu", SARVANOM_CACHE_TTL_SECONDS="0",
                       SARVANOM_MAX_CONCURRENCY=f"remote_gpu={in_flight}",
                       SARVANOM_GATEWAY_WORKERS="1", SARVANOM_GATEWAY_LOOP="asyncio", **env)
    return _spawn("sarvanom serve", command, config, port, ready)


def forwarder(upstream: str, ready: Callable[[str], bool] = answer
              ) -> contextlib.AbstractContextManager[Gateway]:
    """The floor: ``_floor.py`` in front of ``upstream``."""
    port = free_port()
    command = [sys.executable, str(HERE / "_floor.py"), upstream, str(port)]
    return _spawn("floor forwarder", command, clean_env(), port, ready)


def litellm_config(upstream: str) -> str:
    """LiteLLM proxy's config: :data:`MODEL` as an OpenAI-compatible model at ``upstream``,
    no callbacks, no spend logs (no database is configured), no master key (like
    ``sarvanom serve`` on loopback without a token; LiteLLM refuses to start without one
    unless told it is meant)."""
    return json.dumps({  # JSON is YAML
        "model_list": [{"model_name": MODEL, "litellm_params": {
            "model": "openai/default", "api_base": upstream + "/v1", "api_key": "loopback"}}],
        "litellm_settings": {"callbacks": [], "success_callback": [], "failure_callback": [],
                             "set_verbose": False, "num_retries": 0},
        "general_settings": {"disable_spend_logs": True,
                             "dangerously_permit_weak_or_unset_master_key": True},
    }, indent=1)


@contextlib.contextmanager
def litellm_proxy(upstream: str) -> Iterator[Gateway]:
    """``litellm --config ...`` (one worker, the CLI's default server) in front of
    ``upstream``; needs LiteLLM's ``proxy`` extra."""
    executable = shutil.which("litellm", path=os.path.dirname(sys.executable))
    if executable is None:
        raise RuntimeError("the litellm command is not installed next to this Python")
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(litellm_config(upstream))
    try:
        command = [executable, "--config", config.name, "--host", "127.0.0.1", "--port",
                   str(port), "--num_workers", "1"]
        with _spawn("litellm proxy", command, clean_env(**LITELLM_OFFLINE), port) as gateway:
            yield gateway
    finally:
        os.unlink(config.name)

"""Gateway throughput with 1 and 2 worker processes, and on asyncio vs uvloop (issue 18
goals 3 and 4).

Every configuration is a real ``sarvanom serve --workers N --loop L`` on 127.0.0.1, all
of them in front of the same loopback upstream (``_server.py``, Ollama's ``/api/chat``;
cache off, bulkhead raised so every request reaches the upstream). They are started
once and then driven in turn, round by round (interleaved: a slow spell of the shared
machine hits each alike), by a load generator in its own process: ``wrk`` when installed
(``apt-get install wrk``), else aiohttp clients in a child process. Each row is the
median of the rounds; the gateway's CPU per request is the workers' (and supervisor's)
user+system time over the requests answered.

    python benchmarks/gateway_workers.py [--quick] [--rounds 3] [--seconds 5]
        [--connections 64] [--instructions 1000]

Printed: each configuration's throughput, the ratio 2 workers / 1 worker (target: near
linear up to the core count, >= 1.8x; the load generator and the upstream share the same
cores here, so say what the machine had: the load average is printed) and uvloop / asyncio
at 1 worker (``--loop uvloop`` would become the default only if it gained >= 10 %); with
``--instructions N``, also the instructions the gateway executes per request on each loop,
counted by callgrind over N requests: the figure a busy machine cannot disturb.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from _common import (
    Figure,
    ServerURL,
    child_env,
    loopback_server,
    positive_int,
    render,
    run_script,
    script_parser,
    stop_child,
)

BODY = {"prompt": "What is the capital of France?", "cache": False}
LUA = """wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass
class Gateway:
    """One running ``sarvanom serve`` configuration."""

    workers: int
    loop: str
    process: subprocess.Popen[str]
    url: str
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    #: cores busy during each round: (gateway, upstream, load generator)
    cores: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.workers} worker{'s' if self.workers > 1 else ''}, {self.loop}"

    def cpu_seconds(self) -> float:
        """User + system time of the supervisor and its live workers (children that exited
        are counted by their parent once reaped: none exit during a run)."""
        pids = [self.process.pid, *_children(self.process.pid)]
        return sum(_cpu(pid) for pid in pids)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def gateway(workers: int, loop: str, upstream: str, prefix: tuple[str, ...] = ()
            ) -> Iterator[Gateway]:
    """``sarvanom serve --workers N --loop L`` before ``upstream`` (run under ``prefix``,
    e.g. valgrind, when given)."""
    env = {k: v for k, v in child_env().items()
           if not k.startswith(("SARVANOM_", "OLLAMA", "GPU_", "HUGGINGFACE", "PROMETHEUS_"))}
    env.update(OLLAMA_BASE_URL=upstream, SARVANOM_PROVIDERS="ollama_local",
               SARVANOM_CACHE_TTL_SECONDS="0", SARVANOM_MAX_CONCURRENCY="ollama_local=4096")
    command = [*prefix, sys.executable, "-m", "sarvanom_cli.main", "serve", "--port", "0",
               "--workers", str(workers), "--loop", loop, "--log-level", "warning",
               "--max-in-flight", "1024"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if found:
                break
        else:
            raise RuntimeError(f"sarvanom serve --workers {workers} --loop {loop} did not start")
        threading_drain(process)
        yield Gateway(workers, loop, process, f"http://127.0.0.1:{found.group(1)}")
    finally:
        stop_child(process, grace=30.0)


def threading_drain(process: subprocess.Popen[str]) -> None:
    """Read the child's stderr in the background (a full pipe would stall it)."""
    import threading

    def drain() -> None:
        assert process.stderr is not None
        for _ in process.stderr:
            pass

    threading.Thread(target=drain, daemon=True).start()


def wrk_run(url: str, connections: int, seconds: float) -> tuple[int, float]:
    """(2xx answers, seconds) from one wrk run on ``url``/api/query."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % json.dumps(BODY))
    try:
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", script.name,
             "--latency", url + "/api/query"],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        )
    finally:
        os.unlink(script.name)
    found = re.search(r"(\d+) requests in", done.stdout)
    if found is None:
        raise RuntimeError(f"unexpected wrk output: {done.stdout!r}")
    total = int(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    errors = re.search(r"Socket errors: .*", done.stdout)
    if bad or errors:
        print(f"  wrk: {bad.group(0) if bad else ''} {errors.group(0) if errors else ''}",
              file=sys.stderr)
    return total - (int(bad.group(1)) if bad else 0), seconds


_LOADGEN = """
import asyncio, json, sys, time
import aiohttp
url, connections, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
body, left = sys.argv[4].encode(), int(sys.argv[5])
async def main():
    global left
    done = 0
    end = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            nonlocal done
            global left
            while (time.monotonic() < end) if seconds else left > 0:
                left -= 1
                async with session.post(url + "/api/query", data=body,
                                        headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    done += r.status == 200
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        print(done, time.monotonic() - started)
asyncio.run(main())
"""


def aiohttp_run(url: str, connections: int, seconds: float, requests: int = 0
                ) -> tuple[int, float]:
    """(200 answers, seconds) from aiohttp clients in a child process (no wrk): for
    ``seconds``, or (``seconds`` 0) until ``requests`` are answered."""
    done = subprocess.run([sys.executable, "-c", _LOADGEN, url, str(connections), str(seconds),
                           json.dumps(BODY), str(requests)],
                          capture_output=True, text=True, timeout=seconds + 600, check=True,
                          env=child_env())
    count, elapsed = done.stdout.split()
    return int(count), float(elapsed)


def _reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def instructions_per_request(loop: str, upstream: str, requests: int) -> float:
    """Instructions the gateway (1 worker) executes per request, counted by callgrind:
    independent of the machine's load. Instrumentation is on only while ``requests``
    requests are answered (after 200 unmeasured ones)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        prefix = ("valgrind", "--tool=callgrind", "--instr-atstart=no",
                  f"--callgrind-out-file={out}")
        with gateway(1, loop, upstream, prefix) as target:
            aiohttp_run(target.url, 16, 0, requests=200)
            subprocess.run(["callgrind_control", "-i", "on", str(target.process.pid)],
                           capture_output=True, check=True)
            aiohttp_run(target.url, 16, 0, requests=requests)
            subprocess.run(["callgrind_control", "-i", "off", str(target.process.pid)],
                           capture_output=True, check=True)
        with open(out) as dump:
            found = re.search(r"^totals: (\d+)", dump.read(), re.MULTILINE)
    if found is None:
        raise RuntimeError("callgrind wrote no totals")
    return int(found.group(1)) / requests


def drive(target: Gateway, upstream: ServerURL, connections: int, seconds: float,
          use_wrk: bool) -> None:
    before = (target.cpu_seconds(), upstream.cpu_seconds(), _reaped_children_cpu())
    count, elapsed = (wrk_run if use_wrk else aiohttp_run)(target.url, connections, seconds)
    after = (target.cpu_seconds(), upstream.cpu_seconds(), _reaped_children_cpu())
    used = [b - a for a, b in zip(before, after, strict=True)]
    target.rates.append(count / elapsed)
    target.cpu_us.append(used[0] / max(1, count) * 1e6)
    target.cores.append((used[0] / elapsed, used[1] / elapsed, used[2] / elapsed))


def _per_core(target: Gateway) -> float:
    """Requests per second per core the gateway kept busy (median over rounds): what
    the ratio would be if the gateway had the cores to itself."""
    return statistics.median(r / max(c[0], 1e-9) for r, c in zip(
        target.rates, target.cores, strict=True))


def uvloop_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


def instructions_figure(upstream: str, requests: int) -> Figure:
    counts = {loop: instructions_per_request(loop, upstream, requests)
              for loop in ("asyncio", "uvloop")}
    return Figure("uvloop vs asyncio, instructions/request", counts["uvloop"],
                  counts["asyncio"], "instr", "ratio", None,
                  note=f"1 worker, callgrind, {requests} requests at 16 in flight; lower is "
                  "better; load-independent")


def run(quick: bool, rounds: int, seconds: float, connections: int,
        instructions: int = 0) -> list[Figure]:
    if quick:
        rounds, seconds = 1, 2.0
    use_wrk = shutil.which("wrk") is not None
    figures_extra: list[Figure] = []
    configs = [(1, "asyncio"), (2, "asyncio")]
    if uvloop_installed():
        configs += [(1, "uvloop"), (2, "uvloop")]
    else:
        print("uvloop is not installed (pip install uvloop): asyncio only",
              file=sys.stderr)
    load_before = os.getloadavg()
    with loopback_server() as upstream, contextlib.ExitStack() as stack:
        targets = [stack.enter_context(gateway(w, loop, upstream)) for w, loop in configs]
        for target in targets:  # warm up: every worker's connections and pools
            (wrk_run if use_wrk else aiohttp_run)(target.url, connections, 1.0)
        for _ in range(rounds):
            for target in targets:
                drive(target, upstream, connections, seconds, use_wrk)
        if instructions and uvloop_installed():
            if shutil.which("valgrind") and shutil.which("callgrind_control"):
                figures_extra = [instructions_figure(upstream, instructions)]
            else:
                print("--instructions needs valgrind (apt-get install valgrind)")
    load_after = os.getloadavg()
    generator = "wrk -t1" if use_wrk else "aiohttp clients (one child process)"
    print(f"load generator: {generator}, {connections} connections, {seconds:g} s x {rounds} "
          f"rounds; cores: {os.cpu_count()}; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}")
    by = {(t.workers, t.loop): t for t in targets}
    figures = []
    for t in targets:
        busy = [statistics.median(c[i] for c in t.cores) for i in range(3)]
        print(f"  {t.name:<20} {statistics.median(t.rates):>7,.0f} req/s  gateway CPU "
              f"{statistics.median(t.cpu_us):>4,.0f} µs/req  cores busy: gateway {busy[0]:.2f}"
              f" + upstream {busy[1]:.2f} + load generator {busy[2]:.2f}  rounds: "
              + ", ".join(f"{r:,.0f}" for r in t.rates))
    for loop in ("asyncio", "uvloop"):
        one, two = by.get((1, loop)), by.get((2, loop))
        if one and two:
            figures.append(Figure(
                f"2 workers vs 1 ({loop})", statistics.median(two.rates),
                statistics.median(one.rates), "req/s", "ratio", 1.8,
                note=f"per busy gateway core {_per_core(two):,.0f} vs {_per_core(one):,.0f} req/s;"
                f" gateway CPU/req {statistics.median(two.cpu_us):,.0f} vs "
                f"{statistics.median(one.cpu_us):,.0f} µs",
            ))
    for workers in (1, 2):
        fast, plain = by.get((workers, "uvloop")), by.get((workers, "asyncio"))
        if fast and plain:
            figures.append(Figure(
                f"uvloop vs asyncio, {workers} worker{'s' if workers > 1 else ''}",
                statistics.median(fast.rates), statistics.median(plain.rates), "req/s",
                "ratio", 1.1 if workers == 1 else None,
                note=f"gateway CPU/req {statistics.median(fast.cpu_us):,.0f} vs "
                f"{statistics.median(plain.cpu_us):,.0f} µs",
            ))
    return figures + figures_extra


def main() -> None:
    parser = script_parser(__doc__, quick=True)
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="interleaved rounds per configuration (default 3)")
    parser.add_argument("--seconds", type=positive_int, default=5,
                        help="seconds of load per round (default 5)")
    parser.add_argument("--connections", type=positive_int, default=64,
                        help="concurrent connections of the load generator (default 64)")
    parser.add_argument("--instructions", type=positive_int, metavar="REQUESTS", default=0,
                        help="also count the gateway's instructions per request, asyncio vs "
                        "uvloop, under callgrind (load-independent; needs valgrind)")
    options = parser.parse_args()
    run_script(lambda: print(render(run(options.quick, options.rounds, options.seconds,
                                        options.connections, options.instructions))))


if __name__ == "__main__":
    main()

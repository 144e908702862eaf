"""The gateway beside its floor: server CPU per request and added latency (issue 18 goal 2).

Three servers, each its own process on 127.0.0.1, one upstream: ``_server.py`` (a fast
raw-asyncio Ollama) answers ``sarvanom serve`` (its chain that Ollama, cache off, metrics
on when prometheus-client is installed, access log off, its bulkhead for that Ollama
raised to 256 calls at a time as the floor has none) and the floor (``_floor.py``: a
minimal aiohttp.web handler forwarding the body to the same upstream with one keep-alive
aiohttp client session, no parsing). The load comes from another process (``_load.py``,
aiohttp) sending OpenAI chat bodies: to the gateway, to the floor, and for the latency
baseline straight to the upstream ("direct"). Rounds interleave gateway, floor and direct,
and each figure is the median over rounds, so a busy spell on this shared machine hits
every side alike.

Figures, gateway beside floor from the same run:

* server CPU per request (``/proc/<pid>/stat`` of the server, read by the load process
  around the measured requests) at 1, 8 and 64 connections; target <= 1.5x the floor;
* p50 added over direct at one connection; target <= 0.5 ms;
* streams (20 content chunks): time to the first content token over direct, target within
  0.5 ms; server CPU per stream, target <= 2x the floor.

    python benchmarks/gateway_floor.py [--quick] [--rounds 5] [--requests 800]

The gateway is stopped with SIGTERM at the end; nothing leaves loopback.
"""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from _common import (
    HERE,
    ServerURL,
    _child,
    _url,
    child_env,
    loopback_server,
    positive_int,
    run_script,
    script_parser,
)
from gateway_overhead import gateway_process

PROMPT = "What is the capital of France?"
CHAT = {"model": "sarvanom/auto", "messages": [{"role": "user", "content": PROMPT}]}
CHUNKS = 20
#: The first content word of ``_server.py``'s streams ("w0 "): the first token.
MARKER = "w0 "
CONNECTIONS = (1, 8, 64)
#: The floor sends every request on at once; so does the gateway here (its default
#: bulkhead for ollama_local is 2 calls at a time, made for a CPU Ollama, not this upstream).
GATEWAY_ENV = {"SARVANOM_MAX_CONCURRENCY": "ollama_local=256"}


@contextlib.contextmanager
def floor_process(upstream: str) -> Iterator[ServerURL]:
    """``_floor.py`` forwarding to ``upstream``, in its own process; yields its root URL."""
    command = [sys.executable, str(HERE / "_floor.py"), upstream + "/api/chat"]
    with _child(command, "READY ") as (line, pid):
        yield _url(f"http://127.0.0.1:{line.split()[1]}", pid)


def load(url: str, pid: int | None, *, connections: int, requests: int, stream: bool = False,
         path: str = "/v1/chat/completions") -> dict[str, object]:
    """One load process against ``url``: its result (see ``_load.py``)."""
    body = {**CHAT, "stream": True} if stream else CHAT
    spec = {
        "url": url + path, "body": json.dumps(body, separators=(",", ":")),
        "connections": connections, "requests": requests,
        "warmup": max(20, requests // 10), "stream": stream, "marker": MARKER, "pid": pid,
    }
    done = subprocess.run([sys.executable, str(HERE / "_load.py"), json.dumps(spec)],
                          capture_output=True, text=True, env=child_env(), timeout=600,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load process failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@dataclass
class Row:
    """One figure: the gateway's value beside the floor's; ``kind`` ``ratio`` (gateway /
    floor, at most ``target``) or ``delta`` (each minus direct; the gateway's at most
    ``target``)."""

    name: str
    gateway: float
    floor: float
    unit: str
    kind: str
    target: float
    direct: float = 0.0

    def cells(self) -> tuple[str, ...]:
        if self.kind == "ratio":
            derived = self.gateway / self.floor if self.floor else float("nan")
            shown, goal = f"{derived:.2f}x", f"<= {self.target:g}x"
        else:
            derived = self.gateway - self.direct
            shown = f"{derived:+.3f} {self.unit} (floor {self.floor - self.direct:+.3f})"
            goal = f"<= {self.target:g} {self.unit}"
        met = "yes" if derived <= self.target else "NO"
        digits = 3 if self.unit == "ms" else 0
        return (self.name, f"{self.gateway:,.{digits}f} {self.unit}",
                f"{self.floor:,.{digits}f} {self.unit}", shown, goal, met)


def render(rows: list[Row]) -> str:
    header = ("figure", "gateway", "floor", "gateway vs floor", "target", "met")
    table = [header, *(row.cells() for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in table)


def p50(values: list[float]) -> float:
    return statistics.median(values)


def measure(rounds: int, requests: int) -> list[Row]:
    with loopback_server(gap=0.005, chunks=CHUNKS) as upstream, \
            gateway_process(upstream, **GATEWAY_ENV) as gateway, \
            floor_process(upstream) as floor:
        sides = {"gateway": gateway, "floor": floor}
        rows: list[Row] = []
        for connections in CONNECTIONS:
            count = requests * (1 if connections == 1 else 2 if connections == 8 else 4)
            cpu: dict[str, list[float]] = {name: [] for name in sides}
            lat: dict[str, list[float]] = {name: [] for name in (*sides, "direct")}
            for _ in range(rounds):
                for name, url in sides.items():
                    result = load(url, url.pid, connections=connections, requests=count)
                    cpu[name].append(result["cpu_s"] / count * 1e6)  # type: ignore[operator]
                    lat[name].append(p50(result["ms"]))  # type: ignore[arg-type]
                if connections == 1:
                    result = load(upstream, None, connections=1, requests=count, path="/api/chat")
                    lat["direct"].append(p50(result["ms"]))  # type: ignore[arg-type]
            rows.append(Row(f"server CPU/request, {connections} conn", p50(cpu["gateway"]),
                            p50(cpu["floor"]), "µs", "ratio", 1.5))
            if connections == 1:
                rows.append(Row("p50 added over direct, 1 conn", p50(lat["gateway"]),
                                p50(lat["floor"]), "ms", "delta", 0.5, p50(lat["direct"])))
        streams = max(50, requests // 4)
        cpu = {name: [] for name in sides}
        first: dict[str, list[float]] = {name: [] for name in (*sides, "direct")}
        for _ in range(rounds):
            for name, url in sides.items():
                result = load(url, url.pid, connections=1, requests=streams, stream=True)
                cpu[name].append(result["cpu_s"] / streams * 1e6)  # type: ignore[operator]
                first[name].append(p50(result["first_ms"]))  # type: ignore[arg-type]
            result = load(upstream, None, connections=1, requests=streams, stream=True,
                          path="/api/chat")
            first["direct"].append(p50(result["first_ms"]))  # type: ignore[arg-type]
        rows.append(Row("stream: first token over direct", p50(first["gateway"]),
                        p50(first["floor"]), "ms", "delta", 0.5, p50(first["direct"])))
        rows.append(Row(f"stream: server CPU/stream ({CHUNKS} chunks)", p50(cpu["gateway"]),
                        p50(cpu["floor"]), "µs", "ratio", 2.0))
        return rows


def main() -> None:
    parser = script_parser(__doc__, quick=True)
    parser.add_argument("--rounds", type=positive_int, default=5,
                        help="interleaved rounds per figure; medians are reported (default 5)")
    parser.add_argument("--requests", type=positive_int, default=800,
                        help="measured requests per round at 1 connection (x2 at 8, x4 at 64;"
                             " streams: a quarter); default 800")
    args = parser.parse_args()
    rounds, requests = (2, 100) if args.quick else (args.rounds, args.requests)

    def body() -> None:
        rows = measure(rounds, requests)
        print(f"# gateway vs floor: python {platform.python_version()}, {rounds} rounds, "
              f"{requests} requests per round at 1 connection; CPU is the server process's")
        print(render(rows))

    run_script(body)


if __name__ == "__main__":
    main()

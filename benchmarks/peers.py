#!/usr/bin/env python3
"""Side by side on one loopback upstream: the SDK, raw aiohttp/requests, the openai client
and LiteLLM; then ``sarvanom serve`` beside a floor forwarder and LiteLLM's proxy.

Clients (one process, this one): every contender sends the same OpenAI chat request
("What is the capital of France?", ``max_tokens`` 64) to ``_server.py``'s
``/v1/chat/completions`` and checks the answer. The SDK uses its ``remote_gpu`` provider
in the ``openai`` protocol (free, so no paid-use switch and no key); raw aiohttp and raw
requests send the SDK adapter's own bytes and parse the JSON; the openai client
(``OpenAI``/``AsyncOpenAI``, ``max_retries=0``) and LiteLLM (``litellm.completion`` /
``acompletion`` with ``model="openai/default"`` and ``api_base`` at the upstream) talk to it
as an OpenAI-compatible server. Async contenders run sequentially and with 64 in flight
(the SDK's bulkhead raised to 64), sync ones sequentially. Each round runs every contender
in turn for a fixed time; a figure is the median over rounds; ``x raw`` is the median of
per-round ratios to raw aiohttp (async) or raw requests (sync) of the same round, and
``CPU x raw`` the ratio of the medians of client CPU time per request
(``time.process_time``, all threads of this process; steadier than req/s on a shared box).

Gateways (each its own process): ``sarvanom serve`` (chain: ``remote_gpu`` at the upstream,
cache off, metrics on when prometheus-client is installed), the floor (``_floor.py``: a
bare aiohttp.web handler forwarding the body with a plain aiohttp client) and LiteLLM's
proxy (``litellm --config``, one worker, no master key, no callbacks, no database), driven
by an aiohttp client in this process at 1 and 64 connections in alternating rounds.
Figures: req/s, server CPU per request (the process tree's, from ``/proc``), RSS after the
load, cold start (spawn to the first answered chat request); ratios to the floor.

A peer whose package is not installed gets a row that says so (``pip install openai``,
``pip install 'litellm[proxy]'``); none is a dependency of the SDK. Nothing leaves
127.0.0.1: settings are built in code, LiteLLM runs with its ``LITELLM_LOCAL_*`` switches
on (its cost map and other data from the package, not the internet).

Run: ``python benchmarks/peers.py [--quick] [--only NAMES] [--no-gateways]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

from _common import child_env, loopback_server, run_script, script_parser, settings
from _gateways import (
    CHAT_BODY,
    LITELLM_OFFLINE,
    PROMPT,
    forwarder,
    installed,
    litellm_proxy,
    sarvanom_gateway,
)
from sarvanom_cli.bench import calls
from sarvanom_cli.bench.drive import drive_async, drive_sync
from sarvanom_cli.bench.stats import Outcome
from sarvanom_cli.bench.stopping import stop_child

ANSWER = "Hello from the benchmark server."
OPTIONS = {"prompt": PROMPT, "max_tokens": 64}
MESSAGES: Any = [{"role": "user", "content": PROMPT}]
TIMEOUT = 15.0
PROVIDER = "remote_gpu"
#: The ``--only`` names: the SDK's rows, the raw baselines' and each peer's.
FAMILIES = ("raw", "sdk", "openai", "litellm")


# -- the contenders -------------------------------------------------------------------------
@dataclass
class Contender:
    """One client: ``family`` (an ``--only`` name), ``kind`` ("async"/"sync"), the module it
    needs, and a factory ``make(root, concurrency)`` returning ``(call, close)`` (for async,
    called inside the running loop)."""

    name: str
    family: str
    kind: str
    module: str | None
    make: Callable[[str, int], tuple[Callable[[], Any], Callable[[], Any]]]


def _sdk_config(root: str, concurrency: int) -> Any:
    return settings(gpu_remote_url=root, gpu_remote_protocol="openai", providers=PROVIDER,
                    cache_ttl_seconds=0, max_concurrency=f"{PROVIDER}={max(4, concurrency)}")


def _sdk_call(config: Any) -> Any:
    """The ``HttpCall`` the SDK sends for :data:`OPTIONS` (the raw sides send it too)."""
    from sarvanom_sdk import LLMRequest, ProviderName
    from sarvanom_sdk.providers import adapter_for

    return adapter_for(ProviderName.REMOTE_GPU, config).build(LLMRequest(**OPTIONS))


def raw_aiohttp(root: str, concurrency: int) -> tuple[Any, Any]:
    session = calls.raw_async_session()
    return calls.raw_async(session, _sdk_call(_sdk_config(root, 1)), TIMEOUT, False), \
        session.close


def raw_requests(root: str, concurrency: int) -> tuple[Any, Any]:
    session = calls.raw_session(concurrency)
    return calls.raw_sync(session, _sdk_call(_sdk_config(root, 1)), TIMEOUT, False), \
        session.close


def sdk_async(root: str, concurrency: int) -> tuple[Any, Any]:
    from sarvanom_sdk import AsyncSarvanClient

    client = AsyncSarvanClient(_sdk_config(root, concurrency))
    return calls.sdk_async(client, PROVIDER, OPTIONS, False), client.close


def sdk_sync(root: str, concurrency: int) -> tuple[Any, Any]:
    from sarvanom_sdk import SarvanClient

    client = SarvanClient(_sdk_config(root, concurrency))
    return calls.sdk_sync(client, PROVIDER, OPTIONS, False), client.close


def _judged(started: float, text: Any) -> Outcome:
    latency = time.perf_counter() - started
    if text != ANSWER:
        return Outcome(False, latency, reason=f"unexpected answer {text!r:.60}")
    return Outcome(True, latency)


def _failed(started: float, error: Exception) -> Outcome:
    return Outcome(False, time.perf_counter() - started,
                   reason=f"{type(error).__name__}: {error}"[:200])


def openai_async(root: str, concurrency: int) -> tuple[Any, Any]:
    import openai

    client = openai.AsyncOpenAI(base_url=root + "/v1", api_key="loopback", max_retries=0,
                                timeout=TIMEOUT)

    async def one() -> Outcome:
        started = time.perf_counter()
        try:
            reply = await client.chat.completions.create(model="default", messages=MESSAGES,
                                                         max_tokens=64)
        except openai.OpenAIError as error:
            return _failed(started, error)
        return _judged(started, reply.choices[0].message.content)

    return one, client.close


def openai_sync(root: str, concurrency: int) -> tuple[Any, Any]:
    import openai

    client = openai.OpenAI(base_url=root + "/v1", api_key="loopback", max_retries=0,
                           timeout=TIMEOUT)

    def one() -> Outcome:
        started = time.perf_counter()
        try:
            reply = client.chat.completions.create(model="default", messages=MESSAGES,
                                                   max_tokens=64)
        except openai.OpenAIError as error:
            return _failed(started, error)
        return _judged(started, reply.choices[0].message.content)

    return one, client.close


def _litellm() -> Any:
    os.environ.update(LITELLM_OFFLINE)  # before the first import: no cost map download
    import litellm

    litellm.telemetry = False
    litellm.callbacks, litellm.success_callback, litellm.failure_callback = [], [], []
    return litellm


def _litellm_kwargs(root: str) -> dict[str, Any]:
    return {"model": "openai/default", "api_base": root + "/v1", "api_key": "loopback",
            "messages": MESSAGES, "max_tokens": 64, "timeout": TIMEOUT, "num_retries": 0}


def litellm_async(root: str, concurrency: int) -> tuple[Any, Any]:
    litellm, kwargs = _litellm(), _litellm_kwargs(root)

    async def one() -> Outcome:
        started = time.perf_counter()
        try:
            reply = await litellm.acompletion(**kwargs)
        except Exception as error:  # LiteLLM maps failures to many types
            return _failed(started, error)
        return _judged(started, reply.choices[0].message.content)

    async def close() -> None:
        return None

    return one, close


def litellm_sync(root: str, concurrency: int) -> tuple[Any, Any]:
    litellm, kwargs = _litellm(), _litellm_kwargs(root)

    def one() -> Outcome:
        started = time.perf_counter()
        try:
            reply = litellm.completion(**kwargs)
        except Exception as error:
            return _failed(started, error)
        return _judged(started, reply.choices[0].message.content)

    return one, lambda: None


ASYNC = [
    Contender("raw aiohttp", "raw", "async", None, raw_aiohttp),
    Contender("AsyncSarvanClient", "sdk", "async", None, sdk_async),
    Contender("openai AsyncOpenAI", "openai", "async", "openai", openai_async),
    Contender("litellm.acompletion", "litellm", "async", "litellm", litellm_async),
]
SYNC = [
    Contender("raw requests", "raw", "sync", None, raw_requests),
    Contender("SarvanClient", "sdk", "sync", None, sdk_sync),
    Contender("openai OpenAI", "openai", "sync", "openai", openai_sync),
    Contender("litellm.completion", "litellm", "sync", "litellm", litellm_sync),
]


# -- measuring ------------------------------------------------------------------------------
# Each family (raw, sdk, openai, litellm) runs in its own child interpreter (``--worker``),
# so one library's import-time and run-time side effects (LiteLLM's large heap makes every
# full garbage collection of its process slower; its background work shares the event
# loop) never land on another's figures. The parent sends one command per round and
# reads back that round's requests/s and the child's CPU time per request.
@dataclass
class Rounds:
    """One contender's rounds in one mode: requests/s and CPU µs per request of each."""

    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    failure: str = ""


@dataclass
class Row:
    """A printed row: figures, or ``None`` with the reason in ``note``."""

    name: str
    mode: str
    rps: float | None = None
    ratio: float | None = None
    cpu_us: float | None = None
    cpu_ratio: float | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def batches(seconds: float, batch: int) -> Iterator[int]:
    """Batch sizes until ``seconds`` have passed (at least one batch)."""
    started = time.perf_counter()
    yield batch
    while time.perf_counter() - started < seconds:
        yield batch


def tally(outcomes: list[Outcome], rounds: Rounds, wall: float, cpu: float) -> None:
    failed = [o for o in outcomes if not o.ok]
    if failed:
        rounds.failure = rounds.failure or f"{len(failed)} failed: {failed[0].reason}"
    rounds.rps.append(len(outcomes) / wall)
    rounds.cpu_us.append(cpu / len(outcomes) * 1e6)


async def timed_async(one: Callable[[], Any], concurrency: int, seconds: float,
                      record: Callable[[Outcome], None]) -> None:
    """Batches of ``one`` at ``concurrency`` until ``seconds`` have passed."""
    for size in batches(seconds, max(64, concurrency * 4)):
        await drive_async(one, size, concurrency, record)


def worker(family: str, root: str) -> None:
    """``--worker FAMILY ROOT``: build the family's contenders on first use, then run one
    timed round per command line (``{"name", "concurrency", "seconds"}``) and answer with
    a JSON line (``{"rps": [..], "cpu_us": [..], "failure": ..}``). The first line out is
    ``{"ready": true}`` or ``{"skip": reason}`` when the family's package is missing."""
    contenders = {c.name: c for c in ASYNC + SYNC if c.family == family}
    module = next(iter(contenders.values())).module
    why = installed(module) if module else None
    print(json.dumps({"skip": why} if why else {"ready": True}), flush=True)
    if why:
        return
    loop = asyncio.new_event_loop()
    made: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def make_async(c: Contender, concurrency: int) -> tuple[Any, Any]:
        one, close = c.make(root, concurrency)
        await drive_async(one, max(64, concurrency * 4), concurrency, lambda o: None)
        return one, close

    try:
        for line in sys.stdin:
            command = json.loads(line)
            c, concurrency = contenders[command["name"]], command["concurrency"]
            key = (c.name, concurrency)
            if key not in made:  # built and warmed: connections, caches, lazy imports
                if c.kind == "async":
                    made[key] = loop.run_until_complete(make_async(c, concurrency))
                else:
                    made[key] = c.make(root, concurrency)
                    drive_sync(made[key][0], 64, 1, lambda o: None)
            one = made[key][0]
            outcomes: list[Outcome] = []
            cpu, started = time.process_time(), time.perf_counter()
            if c.kind == "async":
                loop.run_until_complete(
                    timed_async(one, concurrency, command["seconds"], outcomes.append))
            else:
                for size in batches(command["seconds"], 32):
                    drive_sync(one, size, 1, outcomes.append)
            rounds = Rounds()
            tally(outcomes, rounds, time.perf_counter() - started, time.process_time() - cpu)
            print(json.dumps(asdict(rounds)), flush=True)
    finally:
        for (name, _), (_, close) in made.items():
            if contenders[name].kind == "async":
                loop.run_until_complete(close())
            else:
                close()
        loop.close()


class Worker:
    """A ``--worker`` child seen from the parent."""

    def __init__(self, family: str, root: str) -> None:
        env = {**child_env(), **LITELLM_OFFLINE}
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--worker", family, root], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        hello = self._read()
        self.skip: str | None = hello.get("skip")

    def _read(self) -> dict[str, Any]:
        assert self.child.stdout is not None
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError(f"a peers worker ended (exit status {self.child.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def round(self, name: str, concurrency: int, seconds: float) -> Rounds:
        assert self.child.stdin is not None
        self.child.stdin.write(json.dumps({"name": name, "concurrency": concurrency,
                                           "seconds": seconds}) + "\n")
        self.child.stdin.flush()
        return Rounds(**self._read())

    def stop(self) -> None:
        if self.child.stdin is not None and not self.child.stdin.closed:
            with contextlib.suppress(OSError):
                self.child.stdin.close()  # the worker closes its clients and ends
        try:
            self.child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_child(self.child, grace=5.0)


def rows_for(mode: str, contenders: list[Contender], skipped: dict[str, str],
             measured: dict[str, Rounds]) -> list[Row]:
    """The mode's rows, every ratio against the first contender (the raw baseline)."""
    base = measured.get(contenders[0].name)
    rows = []
    for c in contenders:
        if c.name in skipped:
            rows.append(Row(c.name, mode, note=f"skipped: {skipped[c.name]}"))
            continue
        r = measured[c.name]
        if r.failure:
            rows.append(Row(c.name, mode, note=r.failure))
            continue
        cpu = statistics.median(r.cpu_us)
        row = Row(c.name, mode, statistics.median(r.rps), cpu_us=cpu)
        if base is not None and not base.failure:
            row.ratio = statistics.median(
                a / b for a, b in zip(r.rps, base.rps, strict=True))
            row.cpu_ratio = cpu / statistics.median(base.cpu_us)
        rows.append(row)
    return rows


def clients(root: str, only: set[str], rounds: int, seconds: float) -> list[Row]:
    """Every mode's rows; rounds run the contenders in turn, each in its family's worker."""
    wanted = [f for f in FAMILIES if f in only or f == "raw"]
    workers: dict[str, Worker] = {}
    rows: list[Row] = []
    try:
        for family in wanted:
            workers[family] = Worker(family, root)
        skipped = {c.name: w.skip for c in ASYNC + SYNC
                   if (w := workers.get(c.family)) is not None and w.skip}
        for group, modes in ((ASYNC, (("sequential", 1), ("64 in flight", 64))),
                             (SYNC, (("sequential", 1),))):
            chosen = [c for c in group if c.family in workers]
            live = [c for c in chosen if c.name not in skipped]
            for mode, concurrency in modes:
                measured = {c.name: Rounds() for c in live}
                for _ in range(rounds):
                    for c in live:
                        one = workers[c.family].round(c.name, concurrency, seconds)
                        measured[c.name].rps += one.rps
                        measured[c.name].cpu_us += one.cpu_us
                        measured[c.name].failure = measured[c.name].failure or one.failure
                rows += rows_for(mode, chosen, skipped, measured)
    finally:
        for w in workers.values():
            w.stop()
    return rows


# -- gateways -------------------------------------------------------------------------------
def proxy_missing() -> str | None:
    """None when LiteLLM's proxy can run (its command and its ``proxy`` extra's server)."""
    import importlib.util
    import shutil

    if shutil.which("litellm", path=os.path.dirname(sys.executable)) is None or any(
            importlib.util.find_spec(m) is None for m in ("litellm", "fastapi", "uvicorn")):
        return "litellm's proxy is not installed; pip install 'litellm[proxy]'"
    return None


async def load(gateways: list[Any], connections: int, rounds: int, seconds: float
               ) -> dict[str, Rounds]:
    """Rounds of chat requests to each gateway in turn: req/s, and the gateway's CPU µs per
    request in ``cpu_us``."""
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))
    headers = {"Content-Type": "application/json"}

    def sender(url: str) -> Callable[[], Any]:
        async def one() -> Outcome:
            started = time.perf_counter()
            try:
                async with session.post(url + "/v1/chat/completions", data=CHAT_BODY,
                                        headers=headers) as reply:
                    body = await reply.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                return _failed(started, error)
            ok = reply.status == 200 and ANSWER.encode() in body
            return Outcome(ok, time.perf_counter() - started,
                           reason="" if ok else f"HTTP {reply.status}: {body[:120]!r}")
        return one

    ones = {g.name: sender(g.url) for g in gateways}
    out = {g.name: Rounds() for g in gateways}
    batch = max(32, connections * 4)
    try:
        for one in ones.values():
            await drive_async(one, batch, connections, lambda o: None)
        for _ in range(rounds):
            for gateway in gateways:
                outcomes: list[Outcome] = []
                cpu, started = gateway.cpu_seconds(), time.perf_counter()
                for size in batches(seconds, batch):
                    await drive_async(ones[gateway.name], size, connections, outcomes.append)
                tally(outcomes, out[gateway.name], time.perf_counter() - started,
                      gateway.cpu_seconds() - cpu)
    finally:
        await session.close()
    return out


def gateways(root: str, only: set[str], rounds: int, seconds: float) -> list[Row]:
    """The gateway rows: the floor first (every ratio's baseline), ``sarvanom serve``, then
    LiteLLM's proxy when installed and wanted (a proxy that fails to start is a row that
    says why, not the end of the run)."""
    skipped = {}
    rows: list[Row] = []
    with ExitStack() as stack:
        running = [stack.enter_context(forwarder(root)),
                   stack.enter_context(sarvanom_gateway(root))]
        if "litellm" in only:
            why = proxy_missing()
            try:
                if not why:
                    running.append(stack.enter_context(litellm_proxy(root)))
            except RuntimeError as error:
                why = str(error)
            if why:
                skipped["litellm proxy"] = why
        idle = {g.name: g.rss_bytes() for g in running}
        by_mode = {f"{n} connection{'s' if n > 1 else ''}": asyncio.run(
            load(running, n, rounds, seconds)) for n in (1, 64)}
        floor = running[0]
        for mode, measured in by_mode.items():
            for gateway in running:
                r, base = measured[gateway.name], measured[floor.name]
                if r.failure:
                    rows.append(Row(gateway.name, mode, note=r.failure))
                    continue
                rows.append(Row(
                    gateway.name, mode, statistics.median(r.rps),
                    statistics.median(a / b for a, b in zip(r.rps, base.rps, strict=True)),
                    statistics.median(r.cpu_us),
                    statistics.median(r.cpu_us) / statistics.median(base.cpu_us),
                    extra={"rss": gateway.rss_bytes() / 2**20, "idle": idle[gateway.name] / 2**20,
                           "cold": gateway.cold_start}))
            rows += [Row(name, mode, note=f"skipped: {why}") for name, why in skipped.items()]
    return rows


# -- output ---------------------------------------------------------------------------------
def render(rows: list[Row], first: str, base: str) -> str:
    header = (first, "mode", "req/s", f"x {base}", "CPU µs/req", "CPU x", "note")
    lines = [header]
    for r in rows:
        if r.rps is None:
            lines.append((r.name, r.mode, "-", "-", "-", "-", r.note))
            continue
        note = r.note
        if r.extra:
            note = (f"RSS {r.extra['rss']:.0f} MiB after load ({r.extra['idle']:.0f} idle), "
                    f"cold start {r.extra['cold']:.2f} s")
        lines.append((r.name, r.mode, f"{r.rps:,.0f}",
                      "-" if r.ratio is None else f"{r.ratio:.3f}x",
                      f"{r.cpu_us:,.0f}",
                      "-" if r.cpu_ratio is None else f"{r.cpu_ratio:.2f}x", note))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) if i in (0, 1, 6) else c.rjust(w)
                  for i, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in lines)


def families(text: str) -> set[str]:
    names = {n.strip() for n in text.split(",") if n.strip()}
    unknown = names - set(FAMILIES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(sorted(unknown))}: choose from {', '.join(FAMILIES)}")
    return names


def main() -> None:
    parser = script_parser(__doc__, quick=True)
    parser.add_argument("--only", type=families, default=set(FAMILIES), metavar="NAMES",
                        help="comma-separated subset of " + ", ".join(FAMILIES)
                             + " (the raw baselines always run)")
    parser.add_argument("--no-gateways", action="store_true",
                        help="clients only: do not start sarvanom serve or LiteLLM's proxy")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)  # one family's child
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    rounds, seconds = (2, 0.3) if args.quick else (5, 1.5)

    def run() -> None:
        load_before, started = os.getloadavg()[0], time.monotonic()
        with loopback_server() as root:
            print(render(clients(root, args.only, rounds, seconds), "client", "raw"),
                  flush=True)
            if not args.no_gateways:
                print()
                print(render(gateways(root, args.only, rounds, seconds), "gateway", "floor"),
                      flush=True)
        print(f"\n{rounds} rounds of {seconds:g} s per row, {time.monotonic() - started:.0f} s "
              f"(load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} CPUs); Python {sys.version.split()[0]}")

    run_script(run)


if __name__ == "__main__":
    main()

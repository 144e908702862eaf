#!/usr/bin/env python3
"""What sharing state through Redis costs per request: Redis-backed vs local state, same
run, same emulator.

It starts a ``redis-server`` (127.0.0.1, a free port, no persistence, a temporary
directory; or uses ``--redis-url``) and the SDK's ``ProviderEmulator`` in a child process
(so the emulator never competes with the measured client for the GIL), then measures the
same requests with two clients that differ only in ``redis_url``:

* ``free``: ``ollama_local`` on the emulator, cache off (issue 16's hot path: a successful
  call to a healthy provider makes no Redis round trip; breakers are a local mirror kept
  current by pub/sub). Goal >= 0.9;
* ``paid+budget``: ``openai`` on the emulator with paid use on and a budget, cache off:
  the same, plus the budget's reservation from this process's lease (a round trip only
  when a lease runs out, made by the writer thread ahead of time). Goal >= 0.8;
* ``free, cache miss``: cache on, a new prompt every request, so every request also asks
  Redis for the entry (one GET, awaited with ``redis.asyncio`` in the async client) and
  stores its answer (deferred). Shown for information (no goal: it is a round trip);
* each for ``SarvanClient`` and, sequentially and 16 at a time, ``AsyncSarvanClient``;
* ``free, hit``: the same prompt every time: a hit in the process's own cache level, no
  Redis at all.

Every scenario runs ``--rounds`` rounds; a round is one block of ``--requests`` requests
per side, back to back, alternating which side goes first. A row shows each side's median
block throughput, the median of the rounds' ratios (Redis / local), the added time per
request (from the median throughputs) and the Redis round trips per request: made by the
request itself + made by the background threads (writer and listener; counted at
``RedisLink.call``/``acall``; a Lua script is one round trip).

Then how fast a breaker opened through one link (one process) is seen by another link's
mirror (goal: within 100 ms), and
the cache's two levels: the cost of a hit served from this process's ``TTLCache``
vs one served from Redis (an entry another process stored), to show why the local level
stays in front.

Run (about two minutes)::

    python benchmarks/redis_state.py [--requests 100] [--rounds 12] [--redis-url URL]

The absolute figures depend on how busy the machine is: client, emulator and Redis share
its CPUs, and a Redis round trip costs far more when they compete (the load average is
printed with the table).

Only loopback is contacted; settings are passed explicitly (no ``.env``).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests" / "redis"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _common import run_script, script_parser  # noqa: E402
from redis_server import RedisServer, RedisServerError  # noqa: E402  (tests/redis helper)

from sarvanom_sdk import AsyncSarvanClient, SarvanClient  # noqa: E402
from sarvanom_sdk.shared_state import flush  # noqa: E402

GOALS = {"free": 0.9, "paid+budget": 0.8}
EMULATOR_SCRIPT = """
import sys
from sarvanom_sdk.testing import ProviderEmulator
emu = ProviderEmulator(reply_text="A benchmark answer.").start()
print(emu.url_for("ollama"), emu.url_for("openai"), flush=True)
sys.stdin.read()
emu.stop()
"""


# -- servers --------------------------------------------------------------------------------
@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """``url``, or a private redis-server's URL for the duration (tests/redis's helper)."""
    if url:
        yield url
        return
    server = RedisServer()
    try:
        server.start()
    except RedisServerError as exc:
        sys.exit(f"{exc} (apt-get install redis-server, or pass --redis-url)")
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def emulator() -> Iterator[tuple[str, str]]:
    """(ollama URL, openai URL) of an emulator running in a child process."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", EMULATOR_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ollama, openai = proc.stdout.readline().split()
        yield ollama, openai
    finally:
        proc.stdin.close()
        proc.wait(10)


# -- clients --------------------------------------------------------------------------------
def options(
    urls: tuple[str, str], paid: bool, redis_url: str | None, cache: bool = True
) -> dict[str, Any]:
    ollama, openai = urls
    out: dict[str, Any] = {
        "env_file": None,
        "cache_ttl_seconds": 300.0 if cache else 0.0,
        "max_retries": 0,
        "redis_url": redis_url,
        "ollama_base_url": ollama,
        "providers": ("ollama_local",),
    }
    if paid:
        out.update(
            providers=("openai",),
            openai_base_url=openai,
            openai_api_key="sk-bench",
            enable_paid_api=True,
            budget_usd=1_000_000.0,
        )
    return out


#: Redis round trips made by the SDK: in the request's thread, and deferred (writer thread).
TRIPS = {"path": 0, "deferred": 0}


def count_round_trips() -> None:
    """Count every ``RedisLink.call``/``acall`` (each is one round trip) by the thread
    making it: the caller's, or a background one (writer, listener)."""
    from sarvanom_sdk.shared_state import redis_backend

    original, aoriginal = redis_backend.RedisLink.call, redis_backend.RedisLink.acall

    def where() -> str:
        name = threading.current_thread().name
        return "deferred" if name.startswith("sarvanom-redis-") else "path"

    def call(self: Any, command: Any) -> Any:
        TRIPS[where()] += 1
        return original(self, command)

    async def acall(self: Any, command: Any) -> Any:
        TRIPS[where()] += 1
        return await aoriginal(self, command)

    redis_backend.RedisLink.call = call  # type: ignore[method-assign]
    redis_backend.RedisLink.acall = acall  # type: ignore[method-assign]


@dataclass
class Block:
    seconds: float
    requests: int
    path: int
    deferred: int


def timed(run: Callable[[int], None], n: int) -> Block:
    before = dict(TRIPS)
    started = time.perf_counter()
    run(n)
    seconds = time.perf_counter() - started
    flush()  # deferred writes of this block are counted with it, not with the next one
    return Block(seconds, n, TRIPS["path"] - before["path"], TRIPS["deferred"] - before["deferred"])


class Side:
    """One client and how to run ``n`` requests with it (``prompt`` None: a new prompt each
    time, so every request misses the cache)."""

    def __init__(self, client: Any, concurrency: int = 0, prompt: str | None = None) -> None:
        self.client = client
        self.concurrency = concurrency  # 0: the sync client
        self.prompt = prompt
        self._loop = asyncio.new_event_loop() if concurrency else None

    def _prompt(self) -> str:
        return self.prompt or uuid.uuid4().hex

    def run(self, n: int) -> None:
        if self._loop is None:
            for _ in range(n):
                response = self.client.complete(self._prompt(), max_tokens=50)
                assert response.success, response.attempts
            return
        self._loop.run_until_complete(self._many(n))

    async def _many(self, n: int) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one() -> None:
            async with semaphore:
                response = await self.client.complete(self._prompt(), max_tokens=50)
                assert response.success, response.attempts

        await asyncio.gather(*(one() for _ in range(n)))

    def close(self) -> None:
        if self._loop is None:
            self.client.close()
            return
        self._loop.run_until_complete(self.client.close())
        self._loop.close()


@dataclass
class Row:
    name: str
    local: list[Block]
    shared: list[Block]

    @staticmethod
    def rate(block: Block) -> float:
        return block.requests / block.seconds

    def line(self) -> str:
        local = statistics.median(map(self.rate, self.local))
        shared = statistics.median(map(self.rate, self.shared))
        # Each round's two blocks ran back to back: their ratio cancels slow drifts.
        ratio = statistics.median(
            self.rate(b) / self.rate(a) for a, b in zip(self.local, self.shared, strict=True)
        )
        added_us = (1 / shared - 1 / local) * 1e6
        path = statistics.median(b.path / b.requests for b in self.shared)
        deferred = statistics.median(b.deferred / b.requests for b in self.shared)
        label = self.name.split(None, 1)[1].removesuffix(", 16 at a time")
        goal = GOALS.get(label)
        verdict = "-" if goal is None else "ok" if ratio >= goal else f"BELOW {goal}"
        return (
            f"{self.name:<36} {local:>8.0f} {shared:>8.0f} {ratio:>6.2f} "
            f"{added_us:>8.0f} {path:>5.1f} + {deferred:<4.1f} {verdict}"
        )


Maker = Callable[[str | None], Side]


def measure(name: str, make: Maker, args: Any, redis_url: str) -> Row:
    local, shared = make(None), make(redis_url)
    row = Row(name, [], [])
    try:
        for side in (local, shared):
            side.run(args.warmup)
        for index in range(args.rounds):
            sides = [(row.local, local), (row.shared, shared)]
            for blocks, side in sides if index % 2 == 0 else reversed(sides):
                blocks.append(timed(side.run, args.requests))
    finally:
        local.close()
        shared.close()
    return row


def scenarios(urls: tuple[str, str]) -> list[tuple[str, Maker]]:
    out: list[tuple[str, Maker]] = []
    for paid, cache, label in (
        (False, False, "free"),
        (True, False, "paid+budget"),
        (False, True, "free, cache miss"),
    ):

        def sync(url: str | None, paid: bool = paid, cache: bool = cache) -> Side:
            return Side(SarvanClient(**options(urls, paid, url, cache)))

        def concurrent(url: str | None, paid: bool = paid, cache: bool = cache, n: int = 1) -> Side:
            return Side(AsyncSarvanClient(**options(urls, paid, url, cache)), n)

        out += [
            (f"sync   {label}", sync),
            (f"async  {label}", concurrent),
            (
                f"async  {label}, 16 at a time",
                lambda url, p=paid, c=cache: concurrent(url, p, c, 16),
            ),
        ]
    out.append(
        (
            "sync   free, hit (same prompt)",
            lambda url: Side(SarvanClient(**options(urls, False, url)), prompt="same"),
        )
    )
    return out


# -- how fast another process sees a breaker open -------------------------------------------
def propagation(redis_url: str, n: int = 20) -> list[float]:
    """Milliseconds from opening a breaker through one link (a process) until another
    link's mirror (another process) says open, ``n`` times."""
    from datetime import datetime, timezone

    from sarvanom_sdk.shared_state.redis_backend import RedisLink, make_clients
    from sarvanom_sdk.shared_state.state import RedisState

    def state() -> Any:
        client, make_async = make_clients(redis_url)
        return RedisState(RedisLink(client, "bench-propagation", async_client=make_async))

    writer, reader = state(), state()
    out = []
    for _ in range(n):
        url = f"http://bench-{uuid.uuid4().hex}"
        mine = writer.circuit_storage("p", url)
        theirs = reader.circuit_storage("p", url)
        reader.link.subscriber.subscribed.wait(5)
        writer.link.subscriber.subscribed.wait(5)
        time.sleep(0.05)
        started = time.perf_counter()
        mine.state = "open"
        mine.opened_at = datetime.now(timezone.utc)
        while theirs.state != "open" and time.perf_counter() - started < 5:
            time.sleep(0.0005)
        out.append((time.perf_counter() - started) * 1000)
    return out


# -- the cache's two levels -----------------------------------------------------------------
def cache_levels(urls: tuple[str, str], redis_url: str, n: int) -> tuple[float, float]:
    """(µs per hit from the local TTLCache, µs per hit from Redis) for one client."""
    writer = SarvanClient(**options(urls, False, redis_url))
    prompts = [uuid.uuid4().hex for _ in range(n)]
    for prompt in prompts:
        writer.complete(prompt, max_tokens=50)
    reader = SarvanClient(**options(urls, False, redis_url))
    started = time.perf_counter()
    for prompt in prompts:  # first time in this process: each a hit found in Redis
        assert reader.complete(prompt, max_tokens=50).cached
    from_redis = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for prompt in prompts:  # again: each a hit in the local level
        assert reader.complete(prompt, max_tokens=50).cached
    from_local = (time.perf_counter() - started) / n * 1e6
    return from_local, from_redis


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--requests", type=int, default=100, help="requests per block")
    parser.add_argument("--rounds", type=int, default=12, help="blocks per side")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--redis-url", default=None, help="use this Redis (it is written to)")
    args = parser.parse_args()
    count_round_trips()
    with redis_server(args.redis_url) as redis_url, emulator() as urls:
        print(
            f"python {platform.python_version()}, {os.cpu_count()} CPUs, load "
            f"{os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.requests} requests per side"
        )
        print(
            f"{'scenario':<36} {'local/s':>8} {'redis/s':>8} {'ratio':>6} "
            f"{'+µs/req':>8} {'round trips/req':>15}"
        )
        for name, make in scenarios(urls):
            print(measure(name, make, args, redis_url).line(), flush=True)
        local_us, redis_us = cache_levels(urls, redis_url, args.requests)
        print(
            f"\ncache hit: {local_us:.0f} µs from the local TTLCache, {redis_us:.0f} µs "
            f"from Redis (first hit in a process) -> the local level stays in front"
        )
        seen = sorted(propagation(redis_url))
        print(
            f"breaker opened in one process, seen by another: median {statistics.median(seen):.1f}"
            f" ms, max {seen[-1]:.1f} ms over {len(seen)} (goal: within 100 ms)"
        )
        print("goals: redis/local throughput >= 0.9 free, >= 0.8 paid+budget (median ratios)")


if __name__ == "__main__":
    run_script(main)

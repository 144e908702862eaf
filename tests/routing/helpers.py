"""Shared pieces of the routing tests (and of ``benchmarks/routing.py``).

Every end-to-end scenario runs on both clients: :data:`both` parametrizes a test with
``kind`` ("sync" or "async") and :func:`client` opens the matching driver from
``tests/parity/drivers.py`` (threads for the sync client's concurrency, ``gather`` for the
async one's), built from explicit keyword overrides with ``env_file=None``. Providers are
emulated on loopback: :class:`~sarvanom_sdk.testing.ProviderEmulator` for normal replies and
faults, and :class:`ScriptedServer` for replies carrying rate-limit headers (which the
emulator's faults cannot add) and for counting the calls a server has in progress at once.
The test files are the only users besides the benchmark; ``tests/routing/__init__.py``
makes this directory the package ``routing``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from parity.drivers import KINDS, Driver, open_driver

from sarvanom_sdk import LLMResponse, ProviderName
from sarvanom_sdk.testing import Fault, ProviderEmulator

OLLAMA = ProviderName.OLLAMA_LOCAL
GPU = ProviderName.REMOTE_GPU
HF = ProviderName.HUGGINGFACE
OPENAI = ProviderName.OPENAI
ANTHROPIC = ProviderName.ANTHROPIC
STUB = ProviderName.LOCAL_STUB

#: Run a test once per client kind.
both = pytest.mark.parametrize("kind", KINDS)

#: What every scenario sets unless it says otherwise: no cache (each call reaches a
#: provider), no retries (one request = one upstream call), deadlines that a loaded
#: 2-core machine meets.
BASE: dict[str, Any] = {
    "max_retries": 0,
    "cache_ttl_seconds": 0,
    "connect_timeout": 1.0,
    "attempt_timeout": 5.0,
    "total_timeout": 10.0,
}


#: emulator wire -> (SDK provider, its URL setting, the other settings it needs)
WIRES: dict[str, tuple[ProviderName, str, dict[str, Any]]] = {
    "ollama": (OLLAMA, "ollama_base_url", {}),
    "remote_gpu": (GPU, "gpu_remote_url", {"gpu_remote_protocol": "seed"}),
    "huggingface": (
        HF,
        "huggingface_base_url",
        {"huggingface_api": "router", "huggingface_api_key": "hf_routing_test"},
    ),
    "openai": (OPENAI, "openai_base_url", {"openai_api_key": "sk-routing-test"}),
}


def wire(name: str, url: str) -> dict[str, Any]:
    """Client overrides that point provider ``name`` (an emulator wire) at ``url``."""
    provider, url_field, extra = WIRES[name]
    paid = {"enable_paid_api": True} if provider is OPENAI else {}
    return {url_field: url, **extra, **paid}


def routed(emu: ProviderEmulator, *names: str, **overrides: Any) -> dict[str, Any]:
    """Client overrides for a chain of the emulator's wires (``"ollama"``, ``"remote_gpu"``,
    ``"huggingface"``, ``"openai"``), in this order, with :data:`BASE` applied."""
    settings: dict[str, Any] = {**BASE, "providers": tuple(WIRES[n][0] for n in names)}
    for name in names:
        settings.update(wire(name, emu.url_for(name)))
    return {**settings, **overrides}


def ollama_at(*urls: str) -> dict[str, Any]:
    """``ollama_base_url`` listing several endpoints of one Ollama provider."""
    return {"ollama_base_url": ",".join(urls)}


@contextmanager
def client(kind: str, **settings: Any) -> Iterator[Driver]:
    """A driver over a fresh client of ``kind``; closed on exit."""
    driver = open_driver(kind, **settings)
    try:
        yield driver
    finally:
        driver.close()


@contextmanager
def emulators(*latencies: float) -> Iterator[list[ProviderEmulator]]:
    """One running emulator per latency (seconds added to each of its answers): distinct
    endpoints (ports) for the same provider."""
    with ExitStack() as stack:
        yield [stack.enter_context(ProviderEmulator(latency=s)) for s in latencies]


# -- what the responses show --------------------------------------------------------------
def served_by(responses: Iterable[LLMResponse]) -> Counter[ProviderName]:
    return Counter(r.provider for r in responses)


def steps(response: LLMResponse) -> list[tuple[ProviderName, str, str]]:
    """``[(provider, outcome, reason), ...]`` of the response's trail."""
    return [(a.provider, a.outcome.value, a.reason) for a in response.attempts]


def tried(response: LLMResponse) -> list[ProviderName]:
    """The providers in the order the response's trail shows them, the stub left out."""
    return [a.provider for a in response.attempts if a.provider is not STUB]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank ``fraction`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(driver: Driver, count: int, **options: Any) -> tuple[list[float], list[LLMResponse]]:
    """``count`` sequential ``complete()`` calls (distinct prompts): seconds each, answers."""
    took: list[float] = []
    answers: list[LLMResponse] = []
    for n in range(count):
        started = time.perf_counter()
        answers.append(driver.complete(f"question {n}", **options))
        took.append(time.perf_counter() - started)
    return took, answers


# -- scenarios shared with the benchmark ---------------------------------------------------
#: The slow tail: every Ollama answer takes TAIL_BASE s; TAIL_SHARE of them, picked by a
#: seeded draw (the same requests every run), TAIL_SLOW s instead (over 10x slower).
TAIL_BASE = 0.02
TAIL_SLOW = 0.25
TAIL_SHARE = 0.05
TAIL_SEED = 11


def slow_tail(emu: ProviderEmulator, provider: str = "ollama") -> None:
    """Give ``provider``'s answers on ``emu`` the slow tail above (rules replace any)."""
    emu.clear(provider)
    emu.reset()
    emu.inject(provider, Fault.delay(TAIL_SLOW), probability=TAIL_SHARE, seed=TAIL_SEED)
    emu.inject(provider, Fault.delay(TAIL_BASE))


def burst_settings(emu: ProviderEmulator, slow_reply: float) -> dict[str, Any]:
    """Ollama limited to one call in flight and answering after ``slow_reply`` s, then
    Hugging Face (same emulator, fast): the overflow scenario."""
    emu.clear()
    emu.reset()
    emu.inject("ollama", Fault.delay(slow_reply))
    return routed(emu, "ollama", "huggingface", max_concurrency="ollama_local=1")


# -- a scripted server: rate-limit headers, slow replies, concurrency seen -------------------
class ScriptedServer:
    """A loopback server speaking the OpenAI chat protocol (Hugging Face's router API) whose
    replies follow a script: :meth:`then` queues one reply's status, headers (rate-limit
    headers, which the emulator's faults cannot add) and delay; unscripted calls get a plain
    200 after ``delay`` seconds. It counts ``calls`` and the ``peak`` number of calls in
    progress at once (a call the client abandons ends when its connection closes).
    ``with ScriptedServer() as server:``."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.peak = 0
        self._in_progress = 0
        self._delay = delay
        self._script: deque[tuple[int, dict[str, str], float]] = deque()
        self._lock = threading.Lock()
        self._thread: Any = None
        self._runner: Any = None
        self._port = 0

    def then(
        self, status: int = 200, headers: Mapping[str, str] | None = None, delay: float = 0.0
    ) -> ScriptedServer:
        """Queue the next reply."""
        with self._lock:
            self._script.append((status, dict(headers or {}), delay))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def settings(self) -> dict[str, Any]:
        """Client overrides that make this server the Hugging Face provider."""
        return wire("huggingface", self.url)

    async def _chat(self, request: Any) -> Any:
        import asyncio

        from aiohttp import web

        await request.read()
        with self._lock:
            self.calls += 1
            self._in_progress += 1
            self.peak = max(self.peak, self._in_progress)
            status, headers, delay = (
                self._script.popleft() if self._script else (200, {}, self._delay)
            )
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            with self._lock:
                self._in_progress -= 1
        body = _COMPLETION if status == 200 else _RATE_LIMITED
        return web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    async def _start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        # a client that goes away ends its call here too (so `peak` sees real concurrency)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        await self._runner.cleanup()

    def __enter__(self) -> ScriptedServer:
        from sarvanom_sdk.testing._threaded import LoopThread

        self._thread = LoopThread("routing-scripted-server")
        self._thread.start(self._start)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop(self._stop, timeout=5.0)


_ANSWER = {"role": "assistant", "content": "scripted answer"}
_COMPLETION = {
    "object": "chat.completion",
    "choices": [{"index": 0, "message": _ANSWER, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}
_RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}

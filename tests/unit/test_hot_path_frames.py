"""Issue 18 goals 1 and 5 (the SDK's hot path, memory per in-flight request): while a
``complete()`` waits on the socket it holds as few suspended coroutines as its layers
need, and the cache layer still serves, stores and falls back as before."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import sys
from datetime import timedelta
from typing import Any

from sarvanom_sdk import AsyncSarvanClient, Settings
from sarvanom_sdk.clock import FakeClock, SystemClock
from sarvanom_sdk.health import HealthRegistry
from sarvanom_sdk.http import HttpReply
from sarvanom_sdk.layers.cache import CacheLayer, ResponseCache
from sarvanom_sdk.types import LLMRequest, LLMResponse, ProviderName, new_trace_id

_BODY = (
    b'{"model":"m","message":{"role":"assistant","content":"Paris."},'
    b'"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2}'
)


class _Parked:
    """An async transport whose ``send`` waits until released, recording the coroutine
    stack of the task waiting on it."""

    def __init__(self) -> None:
        self.stacks: list[list[str]] = []
        self.flows: list[list[str]] = []
        self.calls = 0

    async def send(self, call: Any, timeout: float) -> HttpReply:
        self.calls += 1
        self.stacks.append(_callers(sys._getframe(1)))
        self.flows.append(_suspended_router_generators())
        await asyncio.sleep(0)
        return HttpReply(200, {"content-type": "application/json"}, _BODY)

    async def close(self) -> None:
        pass


def _callers(frame: Any) -> list[str]:
    """The names of the functions from the test's coroutine (``go``) to ``frame``."""
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        if names[-1] == "go":
            break
        frame = frame.f_back
    return names[::-1]


def _suspended_router_generators() -> list[str]:
    """The names of the router's generators that are suspended (not finished) now."""
    return sorted(
        g.gi_code.co_name
        for g in gc.get_objects()
        if inspect.isgenerator(g)
        and g.gi_frame is not None
        and g.gi_code.co_filename.endswith("router.py")
    )


def _client(transport: _Parked) -> AsyncSarvanClient:
    return AsyncSarvanClient(
        Settings(ollama_base_url="http://127.0.0.1:9", providers="ollama_local"),
        transport=transport,
    )


def test_issue18_an_uncached_complete_holds_no_cache_layer_coroutine() -> None:
    """cache=False: the cache layer has nothing to do after the call, so it hands back
    the rest of the stack's awaitable and is not suspended beside it (one frame less per
    in-flight request). Fails on the code before issue 18's second lane: the stack was
    complete -> handle_async -> arun -> send."""
    transport = _Parked()

    async def go() -> LLMResponse:
        return await _client(transport).complete(prompt="hi", cache=False)

    response = asyncio.run(go())
    assert response.success and response.content == "Paris."
    assert transport.stacks[0] == ["go", "complete", "arun"]


def test_issue18_a_cached_request_still_goes_through_the_cache_layer() -> None:
    """cache=True: the second identical request is served from the cache, with no call."""
    transport = _Parked()

    async def go() -> tuple[LLMResponse, LLMResponse]:
        client = _client(transport)
        first = await client.complete(prompt="hi")
        return first, await client.complete(prompt="hi")

    first, second = asyncio.run(go())
    assert transport.calls == 1
    assert first.content == second.content == "Paris."
    assert "_keyed_async" in transport.stacks[0]


def test_issue18_cache_layer_handle_async_is_awaitable_either_way() -> None:
    cache = ResponseCache(ttl=60, stale_seconds=0, maxsize=8, clock=SystemClock())
    keys: dict[str, str | None] = {"k": None}
    layer = CacheLayer(cache, lambda request: keys["k"], ProviderName.LOCAL_STUB)
    request = LLMRequest(prompt="hi")
    answer = LLMResponse(success=True, provider=ProviderName.OLLAMA_LOCAL, content="x")

    async def inner(_: LLMRequest) -> LLMResponse:
        return answer

    async def go() -> list[LLMResponse]:
        uncached = layer.handle_async(request, inner)
        keys["k"] = "key"
        stored = await layer.handle_async(request, inner)
        hit = await layer.handle_async(request, inner)
        return [await uncached, stored, hit]

    uncached, stored, hit = asyncio.run(go())
    assert uncached is answer and stored is answer
    assert hit.content == "x" and hit is not answer  # served from the cache


def test_issue18_a_waiting_complete_holds_two_flow_generators() -> None:
    """While the one exchange of a ``complete()`` attempt is on the wire, the flow holds
    ``complete_flow`` and ``_route`` only: the attempt is a ``Send`` that ``_route``
    parses itself (before issue 18's second lane a third generator, ``_complete_attempt``,
    sat between them)."""
    transport = _Parked()

    async def go() -> LLMResponse:
        return await _client(transport).complete(prompt="hi", cache=False)

    assert asyncio.run(go()).content == "Paris."
    assert transport.flows[0] == ["_route", "complete_flow"]


class _CountingClock(FakeClock):
    def __init__(self) -> None:
        super().__init__()
        self.wall_reads = 0

    def wall(self) -> Any:
        self.wall_reads += 1
        return super().wall()


def test_issue18_health_records_a_call_without_reading_the_wall_clock() -> None:
    """Health bookkeeping per call makes no datetime (issue 18); the last check's UTC time
    is worked out when a snapshot is taken, and is the time of the call."""
    clock = _CountingClock()
    called_at = clock.wall()
    health = HealthRegistry([ProviderName.OLLAMA_LOCAL], clock)
    clock.wall_reads = 0
    health.record_success(ProviderName.OLLAMA_LOCAL, 12.0)
    health.record_failure(ProviderName.OLLAMA_LOCAL, "boom")
    assert clock.wall_reads == 0
    clock.advance(300)
    snap = health.snapshot({})["ollama_local"]
    assert snap.last_check == called_at
    assert snap.success_count == 1 and snap.error_count == 1
    health.record_probe(ProviderName.OLLAMA_LOCAL, True, 5.0, None)
    assert health.snapshot({})["ollama_local"].last_check == called_at + timedelta(seconds=300)


def test_issue18_trace_ids_are_32_hex_digits_and_a_forked_child_makes_its_own() -> None:
    """Trace ids come from ``random`` (no system call per request): still 32 hex digits,
    distinct, and a forked child does not repeat the ids its parent makes next (F2:
    ``random`` reseeds itself in a child)."""
    ids = {new_trace_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, "".join(new_trace_id() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode()
    os.close(read)
    parent = "".join(new_trace_id() for _ in range(4))
    assert len(child) == 128 and child != parent

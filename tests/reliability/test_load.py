"""Load, leaks and cancellation.

10,000 requests through each client (256 at once on the async one, 32 threads on the sync
one) while the first provider refuses every connection: every request is answered by the
second, nothing escapes unhandled, and the refusing provider is called no more than its
breaker allows — every call already in flight when the third failure opened it, and no
call after. Then nothing is left behind: the sockets return to what they were, no task
is pending, no thread was added. Cancelling an async call closes its HTTP request and is
not a provider failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reliability.helpers import (
    chain,
    fresh,
    open_sockets,
    quiet_sockets,
    settle,
    stopwatch,
    thread_names,
    trail,
)
from sarvanom_sdk import AsyncSarvanClient, HealthStatus, LLMResponse, SarvanClient
from sarvanom_sdk.clock import FakeClock
from sarvanom_sdk.testing import Fault, ProviderEmulator

pytestmark = pytest.mark.load

REQUESTS = 10_000
ASYNC_CONCURRENCY = 256
SYNC_THREADS = 32
FAIL_MAX = 3


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator(max_records=100) as emulator:
        yield emulator


#: Timeouts no healthy answer reaches, even with thousands queued on a loaded machine.
PATIENT = {"attempt_timeout": 120.0, "first_token_timeout": 120.0, "total_timeout": 240.0,
           "connect_timeout": 30.0}
#: How long to poll for something another thread or the emulator completes.
SETTLE = 20.0


async def _until(condition: Callable[[], bool], timeout: float = SETTLE) -> None:
    """Poll ``condition()`` on the running loop; TimeoutError after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"still not true after {timeout}s")
        await asyncio.sleep(0.01)


def load_settings(emu: ProviderEmulator, concurrency: int) -> dict[str, Any]:
    """Ollama (refusing) then OpenAI; bulkheads as wide as the load; timeouts no healthy
    answer reaches (the emulator shares two busy cores with the load)."""
    fresh(emu)
    emu.inject("ollama", Fault.refuse())
    return chain(
        emu,
        "ollama",
        "openai",
        **PATIENT,
        circuit_fail_max=FAIL_MAX,
        max_concurrency=f"ollama_local={concurrency},openai={concurrency}",
    )


def check_every_request_answered(
    emu: ProviderEmulator,
    responses: list[LLMResponse],
    health: Any,
    concurrency: int,
    record: Callable[[str, object], None],
) -> None:
    assert len(responses) == REQUESTS
    slowest = max(a.latency_ms for r in responses for a in r.attempts if a.outcome.value == "ok")
    record("slowest_healthy_ms", round(slowest))
    assert {r.provider.value for r in responses} == {"openai"}
    assert all(r.success and not r.cached for r in responses)
    assert emu.request_count("openai", endpoint="generate") == REQUESTS
    refused = emu.request_count("ollama", endpoint="generate")
    assert FAIL_MAX <= refused <= concurrency + FAIL_MAX - 1, refused
    assert sum(trail(r)[0] == ("ollama_local", "failed") for r in responses) == refused
    ollama = health["ollama_local"]
    assert ollama.error_count == refused
    assert ollama.status is HealthStatus.CIRCUIT_OPEN


def test_10000_async_requests_256_at_once_are_all_answered_and_leave_nothing_behind(
    emu: ProviderEmulator, record_property: Callable[[str, object], None]
) -> None:
    settings = load_settings(emu, ASYNC_CONCURRENCY)
    sockets, threads = quiet_sockets(), thread_names()

    async def load() -> tuple[list[LLMResponse], Any, int, list[Any], list[Any]]:
        unhandled: list[Any] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unhandled.append(ctx))
        idle = open_sockets()  # with this event loop's own self-pipe
        client = AsyncSarvanClient(env_file=None, **settings)
        numbers = iter(range(REQUESTS))
        responses: list[LLMResponse] = []

        async def worker() -> None:
            for n in numbers:
                responses.append(await client.complete(f"load {n}", cache=False))

        await asyncio.gather(*(worker() for _ in range(ASYNC_CONCURRENCY)))
        health = await client.get_provider_health()
        with contextlib.suppress(TimeoutError):  # let closing connections finish closing
            await _until(lambda: open_sockets() - idle <= 2 * ASYNC_CONCURRENCY, 1.0)
        in_use = open_sockets() - idle
        await client.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return responses, health, in_use, pending, unhandled

    with stopwatch() as took:
        responses, health, in_use, pending, unhandled = asyncio.run(load())
    record_property("async_requests_per_second", round(REQUESTS / took[0]))
    record_property("async_refused_calls", emu.request_count("ollama"))

    check_every_request_answered(emu, responses, health, ASYNC_CONCURRENCY, record_property)
    assert unhandled == []
    assert pending == []
    assert in_use <= 2 * ASYNC_CONCURRENCY  # the pool: client and server sides
    assert settle(lambda: open_sockets() <= sockets, SETTLE), (
        f"{open_sockets() - sockets} sockets left"
    )
    assert thread_names() == threads


def test_10000_sync_requests_on_32_threads_are_all_answered_and_leave_nothing_behind(
    emu: ProviderEmulator, record_property: Callable[[str, object], None]
) -> None:
    settings = load_settings(emu, SYNC_THREADS)
    sockets, threads = quiet_sockets(), thread_names()
    client = SarvanClient(env_file=None, **settings)
    numbers = iter(range(REQUESTS))
    take = threading.Lock()
    responses: list[LLMResponse] = []

    def worker() -> None:
        while True:
            with take:
                n = next(numbers, None)
            if n is None:
                return
            responses.append(client.complete(f"load {n}", cache=False))

    with stopwatch() as took, ThreadPoolExecutor(SYNC_THREADS) as pool:
        for future in [pool.submit(worker) for _ in range(SYNC_THREADS)]:
            future.result()  # re-raises anything a worker did not handle
    record_property("sync_requests_per_second", round(REQUESTS / took[0]))
    record_property("sync_refused_calls", emu.request_count("ollama"))
    in_use = open_sockets()
    health = client.get_provider_health()
    check_every_request_answered(emu, responses, health, SYNC_THREADS, record_property)
    client.close()

    # both ends of one pooled connection per thread (the emulator runs in this process),
    # plus one for the background probe of the refusing provider's open breaker
    assert in_use - sockets <= 2 * (SYNC_THREADS + 1)
    assert settle(lambda: open_sockets() <= sockets, SETTLE), (
        f"{open_sockets() - sockets} sockets left"
    )
    assert thread_names() == threads


# -- one async client, two event loops ------------------------------------------------------
def _ask(client: AsyncSarvanClient, close: bool) -> Callable[[], Any]:
    async def three_requests() -> list[str]:
        responses = await asyncio.gather(
            *(client.complete(f"run {n}", cache=False) for n in range(3))
        )
        if close:
            await client.close()
        return [r.provider.value for r in responses]

    return three_requests


def test_an_async_client_closed_after_each_asyncio_run_works_in_the_next(
    emu: ProviderEmulator,
) -> None:
    fresh(emu)
    client = AsyncSarvanClient(env_file=None, **chain(emu, "ollama", **PATIENT))
    sockets = quiet_sockets()
    assert asyncio.run(_ask(client, close=True)()) == ["ollama_local"] * 3
    assert asyncio.run(_ask(client, close=True)()) == ["ollama_local"] * 3
    assert settle(lambda: open_sockets() <= sockets, SETTLE)


@pytest.mark.filterwarnings("ignore:Unclosed:ResourceWarning")  # the bug of the next test
def test_an_async_client_left_open_works_in_a_second_asyncio_run(emu: ProviderEmulator) -> None:
    fresh(emu)
    client = AsyncSarvanClient(env_file=None, **chain(emu, "ollama", **PATIENT))
    try:
        assert asyncio.run(_ask(client, close=False)()) == ["ollama_local"] * 3
        assert asyncio.run(_ask(client, close=True)()) == ["ollama_local"] * 3
    finally:
        gc.collect()  # the first run's pool (see the next test) warns now, not later


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_an_async_client_left_open_leaves_no_socket_of_a_finished_event_loop(
    emu: ProviderEmulator,
) -> None:
    fresh(emu)
    client = AsyncSarvanClient(env_file=None, **chain(emu, "ollama", **PATIENT))
    sockets = quiet_sockets()
    try:
        asyncio.run(_ask(client, close=False)())
        assert settle(lambda: open_sockets() <= sockets, SETTLE), (
            f"{open_sockets() - sockets} sockets of a finished event loop still open"
        )
    finally:
        asyncio.run(_ask(client, close=True)())
        gc.collect()


# -- cancellation ---------------------------------------------------------------------------
@pytest.fixture
def hanging_ollama(emu: ProviderEmulator) -> dict[str, Any]:
    fresh(emu)
    emu.inject("ollama", Fault.hang())
    return chain(emu, "ollama", "openai", **PATIENT)


@pytest.mark.parametrize("how", ["wait_for", "task.cancel"])
def test_cancelling_an_async_complete_closes_its_http_request_and_is_no_failure(
    emu: ProviderEmulator, hanging_ollama: dict[str, Any], how: str
) -> None:
    client = AsyncSarvanClient(env_file=None, **hanging_ollama)

    async def cancel_mid_request() -> tuple[int, int, int, Any]:
        before = quiet_sockets()
        if how == "wait_for":
            # long enough for the request to reach the emulator on a loaded machine
            call = asyncio.ensure_future(asyncio.wait_for(client.complete("hang"), 3.0))
        else:
            call = asyncio.ensure_future(client.complete("hang"))
        await _until(lambda: emu.request_count("ollama") == 1)
        during = open_sockets()
        if how == "task.cancel":
            call.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await call
        await _until(lambda: open_sockets() <= before)  # the emulator saw it close, too
        health = (await client.get_provider_health())["ollama_local"]
        await client.close()
        return before, during, open_sockets(), health

    before, during, after, health = asyncio.run(cancel_mid_request())
    assert during == before + 2  # the request's connection: client and server side
    assert after <= before
    assert (health.error_count, health.consecutive_failures) == (0, 0)
    assert health.status is HealthStatus.UNKNOWN and health.circuit_state == "closed"


def test_cancelling_an_async_stream_closes_its_connection_and_is_no_failure(
    emu: ProviderEmulator,
) -> None:
    fresh(emu)
    emu.inject("ollama", Fault.trickle(interval=1.0))  # a chunk, then a long pause
    client = AsyncSarvanClient(env_file=None, **chain(emu, "ollama", **PATIENT))

    async def cancel_mid_stream() -> tuple[list[str], int, Any]:
        before = quiet_sockets()
        received: list[str] = []

        async def consume() -> None:
            async with client.stream("a long story") as stream:
                async for chunk in stream:
                    received.append(chunk.text)

        task = asyncio.ensure_future(consume())
        await _until(lambda: bool(received))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _until(lambda: open_sockets() <= before)
        health = (await client.get_provider_health())["ollama_local"]
        await client.close()
        return received, open_sockets() - before, health

    received, extra_sockets, health = asyncio.run(cancel_mid_stream())
    assert received and extra_sockets <= 0
    assert (health.error_count, health.consecutive_failures) == (0, 0)


def test_a_cancelled_trial_call_lets_the_next_request_be_the_trial(
    emu: ProviderEmulator,
) -> None:
    fresh(emu)
    clock = FakeClock()
    settings = chain(emu, "ollama", "openai", cache_ttl_seconds=0, **PATIENT)
    client = AsyncSarvanClient(env_file=None, clock=clock, **settings)

    async def cancel_the_trial() -> list[tuple[str, str]]:
        emu.inject("ollama", Fault.http(500), times=3)
        for n in range(3):
            await client.complete(f"failing {n}")
        clock.advance(301)
        emu.inject("ollama", Fault.hang(), times=1)
        trial = asyncio.ensure_future(client.complete("the trial"))
        await _until(lambda: emu.request_count("ollama") == 4)
        trial.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trial
        after = await client.complete("the next request")
        await client.close()
        return trail(after)

    assert asyncio.run(cancel_the_trial()) == [("ollama_local", "ok")]
    assert emu.request_count("ollama") == 5

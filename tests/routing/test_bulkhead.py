"""The per-endpoint bulkhead: a concurrency limit with a short FIFO queue, shared by threads
and coroutines; a request that would wait past ``queue_timeout`` spills over ("busy")."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sarvanom_sdk import AsyncSarvanClient, ConfigurationError, SarvanClient
from sarvanom_sdk.errors import ServerError
from sarvanom_sdk.layers.bulkhead import Bulkhead
from sarvanom_sdk.testing import Fault, ProviderEmulator

from .helpers import (
    GPU,
    HF,
    OLLAMA,
    STUB,
    both,
    burst_settings,
    client,
    ollama_at,
    routed,
    served_by,
    steps,
)


def queued(bulkhead: Bulkhead) -> int:
    return len(bulkhead._waiters)


def occupied() -> Bulkhead:
    """A bulkhead of one slot, taken."""
    bulkhead = Bulkhead(1)
    assert bulkhead.try_enter()
    return bulkhead


def given_back(bulkhead: Bulkhead) -> bool:
    """Nobody queued, and the last holder's ``leave`` frees the bulkhead entirely."""
    waiting = queued(bulkhead)
    bulkhead.leave()
    return waiting == 0 and bulkhead.in_flight == 0


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.002)


async def await_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.002)


# -- unit: threads --------------------------------------------------------------------------
def test_the_limit_holds_and_a_slot_given_back_can_be_taken_again():
    bulkhead = Bulkhead(2)
    assert bulkhead.try_enter() and bulkhead.try_enter()
    assert not bulkhead.try_enter()
    assert bulkhead.in_flight == 2
    bulkhead.leave()
    assert bulkhead.in_flight == 1
    assert bulkhead.try_enter()


def test_threads_get_freed_slots_in_arrival_order_and_nobody_overtakes_them():
    bulkhead = occupied()
    order: list[int] = []
    entered = threading.Semaphore(0)

    def wait(n: int) -> None:
        assert bulkhead.enter_sync(5.0)
        order.append(n)
        entered.release()

    threads = []
    for n in range(4):
        thread = threading.Thread(target=wait, args=(n,))
        thread.start()
        threads.append(thread)
        wait_until(lambda n=n: queued(bulkhead) == n + 1)
    for _ in range(4):
        bulkhead.leave()  # hands the slot over: in_flight never drops
        assert entered.acquire(timeout=5.0)
        assert bulkhead.in_flight == 1
        assert not bulkhead.try_enter()  # a newcomer does not jump the queue
    for thread in threads:
        thread.join(5.0)
    assert order == [0, 1, 2, 3]
    assert given_back(bulkhead)


def test_a_thread_gives_up_after_its_timeout_and_leaves_the_queue():
    bulkhead = occupied()
    started = time.monotonic()
    assert bulkhead.enter_sync(0.1) is False
    took = time.monotonic() - started
    assert 0.09 <= took < 2.0
    assert bulkhead.in_flight == 1
    assert given_back(bulkhead)  # the slot came back, not to a departed waiter


# -- unit: coroutines -----------------------------------------------------------------------
async def test_coroutines_get_freed_slots_in_arrival_order():
    bulkhead = occupied()
    order: list[int] = []

    async def wait(n: int) -> None:
        assert await bulkhead.enter_async(5.0)
        order.append(n)

    tasks = []
    for n in range(4):
        tasks.append(asyncio.create_task(wait(n)))
        await await_until(lambda n=n: queued(bulkhead) == n + 1)
    for n in range(4):
        bulkhead.leave()
        await await_until(lambda n=n: len(order) == n + 1)
        assert bulkhead.in_flight == 1 and not bulkhead.try_enter()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]


async def test_a_coroutine_gives_up_after_its_timeout_and_leaves_the_queue():
    bulkhead = occupied()
    started = time.monotonic()
    assert await bulkhead.enter_async(0.1) is False
    assert 0.09 <= time.monotonic() - started < 2.0
    assert given_back(bulkhead)


async def test_a_coroutine_cancelled_while_queued_leaves_no_trace():
    bulkhead = occupied()
    task = asyncio.create_task(bulkhead.enter_async(5.0))
    await await_until(lambda: queued(bulkhead) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert given_back(bulkhead)


async def test_a_coroutine_cancelled_as_its_slot_arrives_passes_the_slot_on():
    bulkhead = occupied()
    first = asyncio.create_task(bulkhead.enter_async(5.0))
    await await_until(lambda: queued(bulkhead) == 1)
    second = asyncio.create_task(bulkhead.enter_async(5.0))
    await await_until(lambda: queued(bulkhead) == 2)
    bulkhead.leave()  # the slot is handed to `first` (granted on the next loop turn) ...
    first.cancel()  # ... which is cancelled before it can take it
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 5.0) is True  # the slot went on, not lost
    assert bulkhead.in_flight == 1
    assert given_back(bulkhead)


async def test_threads_and_coroutines_share_one_queue_in_arrival_order():
    bulkhead = occupied()
    order: list[str] = []

    def thread_side() -> None:
        assert bulkhead.enter_sync(5.0)
        order.append("thread")
        time.sleep(0.02)
        bulkhead.leave()  # from another thread: wakes the coroutine on its own loop

    thread = threading.Thread(target=thread_side)
    thread.start()
    await await_until(lambda: queued(bulkhead) == 1)
    task = asyncio.create_task(bulkhead.enter_async(5.0))
    await await_until(lambda: queued(bulkhead) == 2)
    bulkhead.leave()
    assert await asyncio.wait_for(task, 5.0) is True
    order.append("coroutine")
    thread.join(5.0)
    assert order == ["thread", "coroutine"]
    assert given_back(bulkhead)


# -- configuration --------------------------------------------------------------------------
def test_max_concurrency_sets_each_providers_limit_and_defaults_keep_the_rest():
    sdk = SarvanClient(
        env_file=None,
        ollama_base_url="http://127.0.0.1:7001",
        gpu_remote_url="http://127.0.0.1:7002,http://127.0.0.1:7003",
        max_concurrency="ollama_local=1, remote_gpu=4",
    )
    endpoints = sdk.router.endpoints
    assert [e.bulkhead.limit for e in endpoints[OLLAMA]] == [1]
    assert [e.bulkhead.limit for e in endpoints[GPU]] == [4, 4]  # per endpoint
    assert endpoints[HF][0].bulkhead.limit == sdk.settings.concurrency_limit(HF) > 1


@pytest.mark.parametrize("raw", ["ollama_local", "ollama_local=0", "nobody=2", "ollama_local=x"])
def test_a_malformed_concurrency_map_names_the_variable(raw):
    with pytest.raises(ConfigurationError, match="SARVANOM_MAX_CONCURRENCY"):
        SarvanClient(env_file=None, max_concurrency=raw)


# -- end to end -----------------------------------------------------------------------------
@both
def test_a_burst_overflows_to_the_next_provider_within_the_deadline_and_none_is_lost(kind):
    slow_reply = 0.5
    with ProviderEmulator() as emu, client(kind, **burst_settings(emu, slow_reply)) as driver:
        started = time.monotonic()
        answers = driver.complete_many([f"burst {n}" for n in range(20)])
        took = time.monotonic() - started
        assert len(answers) == 20 and all(a.success for a in answers)
        served = served_by(answers)
        assert STUB not in served
        assert served[OLLAMA] == 1 and served[HF] == 19
        assert emu.request_count("ollama") == 1  # the busy ones made no call
        label = driver.client.router.endpoints[OLLAMA][0].label
        for answer in answers:
            if answer.provider is HF:
                assert steps(answer) == [
                    (OLLAMA, "skipped", f"busy (1 in flight at {label})"),
                    (HF, "ok", "answered"),
                ]
        # the overflow waited one queue_timeout (0.25 s), not behind the slow reply
        overflow = [a.latency_ms for a in answers if a.provider is HF]
        assert max(overflow) < slow_reply * 1000
        assert took < driver.client.settings.total_timeout
        assert driver.client.router.endpoints[OLLAMA][0].bulkhead.in_flight == 0


@both
def test_requests_queue_in_order_when_the_slot_frees_within_queue_timeout(kind):
    with ProviderEmulator() as emu:
        emu.inject("ollama", Fault.delay(0.1))
        settings = routed(
            emu, "ollama", "huggingface", max_concurrency="ollama_local=1", queue_timeout=5.0
        )
        with client(kind, **settings) as driver:
            started = time.monotonic()
            answers = driver.complete_many([f"queued {n}" for n in range(4)])
            took = time.monotonic() - started
    assert served_by(answers) == {OLLAMA: 4}
    assert emu.request_count("huggingface") == 0
    assert took >= 0.35  # one at a time: four replies of 0.1 s each
    times = [r.received_at for r in emu.requests("ollama")]
    assert all(later - earlier >= 0.08 for earlier, later in zip(times, times[1:], strict=False))


@both
def test_a_busy_endpoint_spills_to_its_sibling_before_the_next_provider(kind):
    with ProviderEmulator() as one, ProviderEmulator() as two:
        for emu in (one, two):
            emu.inject("ollama", Fault.delay(0.3))
        settings = {
            **routed(one, "ollama", "huggingface", max_concurrency="ollama_local=1"),
            **ollama_at(one.url_for("ollama"), two.url_for("ollama")),
        }
        with client(kind, **settings) as driver:
            answers = driver.complete_many(["a", "b"])
    assert served_by(answers) == {OLLAMA: 2}
    assert one.request_count("ollama") == two.request_count("ollama") == 1


async def test_cancelling_a_queued_request_gives_back_its_breaker_trial():
    """A request cancelled while queued for a slot counts no outcome and keeps no breaker
    admission: the half-open trial is still there for the next request."""
    async with ProviderEmulator() as emu:
        sdk = AsyncSarvanClient(
            env_file=None,
            **routed(emu, "ollama"),
            max_concurrency="ollama_local=1",
            queue_timeout=5.0,
            circuit_fail_max=1,
            circuit_reset_seconds=0.05,
        )
        endpoint = sdk.router.endpoints[OLLAMA][0]
        endpoint.circuit.record_failure(endpoint.circuit.admit(), ServerError("down", status=500))
        await asyncio.sleep(0.1)  # open, then due for one trial call
        assert endpoint.bulkhead.try_enter()  # a call admitted earlier still holds the slot
        task = asyncio.create_task(sdk.complete("queued behind it"))
        await await_until(lambda: queued(endpoint.bulkhead) == 1)
        task.cancel()  # e.g. the caller's own timeout
        with pytest.raises(asyncio.CancelledError):
            await task
        endpoint.bulkhead.leave()
        answer = await sdk.complete("the trial call")
        await sdk.close()
    assert steps(answer) == [(OLLAMA, "ok", "answered")]

"""Issue 16 items 1-2: no Redis call ever blocks an event loop, and the hot path makes no
Redis round trip (breakers mirrored locally and kept current by pub/sub, budget reserved
from leases)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from redis_helpers import free_chain

from sarvanom_sdk import AsyncSarvanClient, SarvanClient
from sarvanom_sdk.shared_state import flush
from sarvanom_sdk.shared_state.redis_backend import RedisLink, make_clients
from sarvanom_sdk.shared_state.state import RedisState
from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.types import ProviderName


class Calls:
    """Every blocking ``RedisLink.call``, by where it was made: on a thread running an
    event loop, in a background thread of the SDK, or in a caller's thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on_loop: list[str] = []
        self.caller = 0
        self.background = 0
        original = RedisLink.call

        def spy(link: Any, command: Any) -> Any:
            name = threading.current_thread().name
            if asyncio._get_running_loop() is not None:
                self.on_loop.append(name)
            elif name.startswith("sarvanom-redis-"):
                self.background += 1
            else:
                self.caller += 1
            return original(link, command)

        monkeypatch.setattr(RedisLink, "call", spy)


def paid_options(emu: ProviderEmulator, redis_url: str, **extra: Any) -> dict[str, Any]:
    """A paid chain with a budget, in a namespace of its own (clients of earlier tests
    still hold leases of the shared one, and give them back when idle)."""
    extra.setdefault("redis_namespace", f"paid-{uuid.uuid4().hex[:8]}")
    return dict(
        free_chain(emu, redis_url, providers=("openai",), cache_ttl_seconds=0, **extra),
        openai_base_url=emu.url_for("openai"),
        enable_paid_api=True,
        budget_usd=1000.0,
    )


def test_issue16_1_the_async_client_never_makes_a_blocking_redis_call_on_its_loop(
    emu: ProviderEmulator, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 1: cache lookups (awaited through redis.asyncio), breaker failures, opening,
    the half-open trial, paid calls with a budget, streams and the health report: no
    blocking Redis call is made on the event loop's thread."""
    options = free_chain(emu, redis_url, circuit_fail_max=2, circuit_reset_seconds=0.5)
    SarvanClient(env_file=None, **options).complete("stored by another process")
    assert flush()
    calls = Calls(monkeypatch)

    async def scenario() -> None:
        async with AsyncSarvanClient(env_file=None, **options) as client:
            hit = await client.complete("stored by another process")
            assert hit.cached, "the shared cache answered (awaited, not blocking)"
            for index in range(5):
                assert (await client.complete(f"q {index}")).provider is ProviderName.OLLAMA_LOCAL
            emu.inject("ollama", Fault.http(503), times=2)
            await client.complete("fail 1")
            await client.complete("fail 2")
            skipped = await client.complete("while open")
            assert skipped.attempts[0].reason.startswith("circuit open")
            await asyncio.sleep(0.6)
            for index in range(20):  # the trial is claimed in the background, then taken
                answer = await client.complete(f"after reset {index} {uuid.uuid4().hex}")
                if answer.provider is ProviderName.OLLAMA_LOCAL:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the breaker never closed again")
            async with client.stream(f"a stream {uuid.uuid4().hex}") as stream:
                async for _ in stream:
                    pass
            client.health_report()
        async with AsyncSarvanClient(env_file=None, **paid_options(emu, redis_url)) as paid:
            for index in range(5):
                assert (await paid.complete(f"paid {index}")).provider is ProviderName.OPENAI

    asyncio.run(scenario())
    assert calls.on_loop == [], calls.on_loop


def test_issue16_1_a_slow_redis_does_not_slow_requests_that_need_no_round_trip(
    emu: ProviderEmulator, redis_server: Any
) -> None:
    """Item 1: while Redis is stuck (DEBUG SLEEP), the async client's requests (cache
    off) and its health report go on; the event loop is never held for a Redis call."""
    import redis

    url = redis_server.url
    options = free_chain(emu, url, cache_ttl_seconds=0)

    async def scenario() -> tuple[float, float]:
        async with AsyncSarvanClient(env_file=None, **options) as client:
            await client.complete("warm up")  # breakers registered, listener started
            worst, running = 0.0, True

            async def ticker() -> None:
                nonlocal worst
                last = time.monotonic()
                while running:
                    await asyncio.sleep(0.005)
                    now = time.monotonic()
                    worst, last = max(worst, now - last), now

            tick = asyncio.create_task(ticker())
            started = time.monotonic()
            for index in range(30):
                answer = await client.complete(f"during the sleep {index}")
                assert answer.provider is ProviderName.OLLAMA_LOCAL
                client.health_report()
            elapsed = time.monotonic() - started
            running = False
            await tick
            return elapsed, worst

    slept: list[Any] = []

    def sleep_redis() -> None:
        slept.append(redis.Redis.from_url(url).execute_command("DEBUG", "SLEEP", "1.5"))

    sleeper = threading.Thread(target=sleep_redis)
    sleeper.start()
    time.sleep(0.1)
    try:
        elapsed, worst = asyncio.run(scenario())
    finally:
        sleeper.join()
    assert slept, "DEBUG SLEEP ran"
    assert elapsed < 1.4, f"30 requests took {elapsed:.2f} s while Redis slept 1.5 s"


def test_issue16_2_a_healthy_free_call_makes_no_redis_round_trip(
    emu: ProviderEmulator, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 2: with the cache off, 50 successful calls make no Redis call in the caller's
    thread (and none in the background either: nothing changed)."""
    client = SarvanClient(env_file=None, **free_chain(emu, redis_url, cache_ttl_seconds=0))
    client.complete("warm up")
    assert flush()
    time.sleep(0.3)
    calls = Calls(monkeypatch)
    for index in range(50):
        assert client.complete(f"q {index}").provider is ProviderName.OLLAMA_LOCAL
    assert calls.caller == 0
    assert calls.background <= 2  # at most the listener's periodic resync


def test_issue16_2_paid_calls_reserve_from_a_lease(
    emu: ProviderEmulator, redis_url: str, monkeypatch: pytest.MonkeyPatch, raw_redis: Any
) -> None:
    """Item 2: 50 paid calls with a budget: the caller's thread asks Redis at most for the
    first lease (the next ones are taken ahead of time by the writer thread); the spend
    reaches Redis in batches; the unused lease goes back when the process is idle."""
    options = paid_options(emu, redis_url)
    ns = options["redis_namespace"]
    client = SarvanClient(env_file=None, **options)
    calls = Calls(monkeypatch)
    costs = [client.complete(f"paid {index}").cost_usd for index in range(50)]
    assert calls.caller <= 2, calls.caller
    assert flush()
    spent = int(raw_redis.get(ns + ":{budget}:spent")) / 1e9
    assert spent == pytest.approx(sum(costs), abs=1e-6)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # idle: the lease is given back
        committed = int(raw_redis.get(ns + ":{budget}:committed")) / 1e9
        if committed == pytest.approx(spent, abs=1e-6):
            break
        time.sleep(0.1)
    assert committed == pytest.approx(spent, abs=1e-6)


def test_issue16_2_a_breaker_opened_in_one_process_is_seen_by_another_within_100_ms(
    redis_url: str,
) -> None:
    """Item 2: two links (two processes' views): the mirror of the second follows the
    first within 100 ms (median over 10; the worst bounded generously for busy CI)."""

    def state() -> RedisState:
        client, make_async = make_clients(redis_url)
        return RedisState(RedisLink(client, "sarvanom", async_client=make_async))

    writer, reader = state(), state()
    delays = []
    for _ in range(10):
        url = f"http://p-{uuid.uuid4().hex}"
        mine, theirs = writer.circuit_storage("p", url), reader.circuit_storage("p", url)
        assert reader.link.subscriber.subscribed.wait(5)
        started = time.monotonic()
        mine.state = "open"
        mine.opened_at = datetime.now(timezone.utc)
        while theirs.state != "open" and time.monotonic() - started < 5:
            time.sleep(0.001)
        delays.append(time.monotonic() - started)
        assert theirs.opened_at is not None
        mine.state = "closed"
        end = time.monotonic() + 5
        while theirs.state != "closed" and time.monotonic() < end:
            time.sleep(0.001)
        assert theirs.state == "closed"
    assert statistics.median(delays) < 0.1, delays
    assert max(delays) < 2.0, delays


def test_issue16_2_failures_in_several_processes_add_up(redis_url: str) -> None:
    """Item 2: the failure counter is shared: two processes' failures count together."""
    client_a, make_a = make_clients(redis_url)
    client_b, make_b = make_clients(redis_url)
    a = RedisState(RedisLink(client_a, "sarvanom", async_client=make_a))
    b = RedisState(RedisLink(client_b, "sarvanom", async_client=make_b))
    mine, theirs = a.circuit_storage("p", "http://x"), b.circuit_storage("p", "http://x")
    mine.increment_counter()
    assert flush()
    theirs.increment_counter()
    assert flush()
    assert theirs.counter == 2


def test_issue16_2_reservations_on_event_loops_pass_the_budget_by_at_most_a_lease_each(
    redis_url: str,
) -> None:
    """Item 2, the documented bound: four processes' ledgers reserving on event loops
    (never waiting on Redis) spend at most the budget plus one lease per process."""
    from sarvanom_sdk.shared_state.ledger import SharedBudgetLedger

    budget, amount = 0.01, 0.0001

    def ledger() -> SharedBudgetLedger:
        client, make_async = make_clients(redis_url)
        return SharedBudgetLedger(RedisLink(client, "lease", async_client=make_async), budget)

    ledgers = [ledger() for _ in range(4)]

    async def spend(one: SharedBudgetLedger) -> int:
        granted = 0
        for _ in range(400):
            hold = one.reserve(amount)
            if hold is not None:
                granted += 1
                one.settle(hold, amount)
            await asyncio.sleep(0.0005)  # the writer thread fetches leases meanwhile
        return granted

    async def run() -> list[int]:
        return list(await asyncio.gather(*(spend(one) for one in ledgers)))

    granted = asyncio.run(run())
    assert flush()
    spent = sum(granted) * amount
    lease = ledgers[0].lease_nano / 1e9
    assert spent <= budget + 4 * lease + 1e-9, (spent, granted)
    assert spent >= budget * 0.5, (spent, granted)
    assert ledgers[0].spent_usd == pytest.approx(spent, abs=1e-9)

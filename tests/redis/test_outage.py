"""Redis is a helper, never a single point of failure: down, killed, or silent."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis_helpers import free_chain, outage_records
from redis_server import RedisServer, free_port

from sarvanom_sdk import AsyncSarvanClient, SarvanClient
from sarvanom_sdk.shared_state import flush
from sarvanom_sdk.shared_state.redis_backend import COMMAND_BOUND_SECONDS, RETRY_SECONDS
from sarvanom_sdk.testing import Fault, ProviderEmulator


@pytest.fixture
def dead_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: connection refused


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A port that accepts connections (into the listen backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def test_redis_down_when_the_client_is_built_means_local_state_and_one_warning(
    emu: ProviderEmulator, dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "sarvanom_sdk")
    client = SarvanClient(env_file=None, **free_chain(emu, dead_redis_url, circuit_fail_max=2))
    answers = [client.complete(f"q {i}") for i in range(5)]
    assert [a.provider.value for a in answers] == ["ollama_local"] * 5
    assert client.complete("q 0").cached  # the local cache works
    emu.inject("ollama", Fault.http(503), times=2)
    client.complete("fail 1"), client.complete("fail 2")
    skipped = client.complete("fail 3").attempts[0]
    assert skipped.reason.startswith("circuit open until")  # the local breaker works
    assert len(outage_records(caplog, "down")) == 1
    report = client.health_report()["shared_state"]
    assert report["backend"] == "redis" and report["reachable"] is False
    assert report["namespace"] == "sarvanom"


def test_killing_redis_under_load_answers_every_request_then_shares_again(
    emu: ProviderEmulator, spare_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "sarvanom_sdk")
    options = free_chain(emu, spare_redis.url)
    client = SarvanClient(env_file=None, **options)
    answers: list[Any] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            answers.append(client.complete(uuid.uuid4().hex))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        spare_redis.kill()
        killed_at = len(answers)
        time.sleep(1.0)
        during = len(answers) - killed_at
        spare_redis.start()
        deadline = time.monotonic() + RETRY_SECONDS + 3
        while not outage_records(caplog, "up") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert during > 10, "requests kept flowing while Redis was down"
    assert all(a.provider.value == "ollama_local" for a in answers), "every request answered"
    assert len(outage_records(caplog, "down")) == 1, "one warning per outage"
    assert len(outage_records(caplog, "up")) == 1
    assert client.health_report()["shared_state"]["reachable"] is True

    prompt = f"after the restart {uuid.uuid4().hex}"
    assert not client.complete(prompt).cached
    assert flush()
    other = SarvanClient(env_file=None, **options)  # another process's view of Redis
    assert other.complete(prompt).cached, "state is shared again"


async def test_a_redis_that_never_answers_stalls_the_event_loop_once_and_briefly(
    emu: ProviderEmulator, silent_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = AsyncSarvanClient(env_file=None, **free_chain(emu, silent_redis_url))
    worst = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst
        last = time.monotonic()
        while running:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            worst, last = max(worst, now - last), now

    tick = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        answers = [await client.complete(f"q {i}") for i in range(20)]
    finally:
        running = False
        await tick
        await client.close()
    elapsed = time.monotonic() - started
    assert all(a.provider.value == "ollama_local" for a in answers)
    assert worst < COMMAND_BOUND_SECONDS + 0.2, f"event loop blocked {worst:.3f} s"
    assert elapsed < RETRY_SECONDS, "one timeout, then no Redis call until the retry"
    assert len(outage_records(caplog, "down")) == 1

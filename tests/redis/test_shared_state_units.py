"""The shared-state pieces one by one, against a real Redis: ledger, trial gate, cache
level, namespaces, health output, and what never reaches Redis."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import pytest
from redis_helpers import ANSWER, free_chain
from redis_server import RedisServer

from sarvanom_sdk import SarvanClient
from sarvanom_sdk.errors import ConfigurationError
from sarvanom_sdk.layers.cost import Hold
from sarvanom_sdk.shared_state import flush
from sarvanom_sdk.shared_state.cache_backend import RedisCacheLevel
from sarvanom_sdk.shared_state.circuit_storage import SharedTrialGate
from sarvanom_sdk.shared_state.ledger import SharedBudgetLedger
from sarvanom_sdk.shared_state.redis_backend import RedisLink, make_client
from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.types import LLMResponse, ProviderName


def canaries() -> list[str]:
    """The suite's fake secrets (tests/conftest.py puts them in the environment)."""
    names = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HUGGINGFACE_API_KEY", "GPU_REMOTE_TOKEN")
    values = [os.environ[name] for name in names]
    assert all("canary" in value for value in values)
    return values


def link(url: str, namespace: str = "sarvanom", retry_seconds: float = 2.0) -> RedisLink:
    """A link of its own: what one more process would have."""
    return RedisLink(make_client(url), namespace, retry_seconds=retry_seconds)


# -- budget ledger ------------------------------------------------------------------------
def test_reservations_from_many_processes_and_threads_never_pass_the_budget(
    redis_url: str,
) -> None:
    budget, amount = 0.01, 0.0003
    ledgers = [SharedBudgetLedger(link(redis_url), budget) for _ in range(4)]
    granted: list[Hold] = []

    def worker(ledger: SharedBudgetLedger) -> None:
        for _ in range(20):
            hold = ledger.reserve(amount)
            if hold is not None:
                granted.append(hold)
                ledger.settle(hold, amount)

    threads = [threading.Thread(target=worker, args=(ledgers[i % 4],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert flush()
    assert len(granted) == int(budget / amount)  # exactly what fits, no more
    assert ledgers[0].spent_usd == pytest.approx(len(granted) * amount)
    assert ledgers[1].remaining() == pytest.approx(budget - len(granted) * amount)


def test_settling_below_the_estimate_gives_the_difference_back(redis_url: str) -> None:
    ledger = SharedBudgetLedger(link(redis_url), 1.0)
    hold = ledger.reserve(0.6)
    assert hold is not None and ledger.reserve(0.6) is None
    ledger.settle(hold, 0.1)
    assert flush()
    assert ledger.spent_usd == pytest.approx(0.1)
    second = ledger.reserve(0.6)
    assert second is not None
    ledger.release(second)
    assert flush()
    assert ledger.remaining() == pytest.approx(0.9)


def test_spend_during_an_outage_is_booked_when_redis_returns(
    spare_redis: RedisServer,
) -> None:
    ledger = SharedBudgetLedger(link(spare_redis.url, retry_seconds=0.05), 1.0)
    first = ledger.reserve(0.2)
    assert first is not None
    ledger.settle(first, 0.1)
    assert flush()
    spare_redis.kill()
    during = ledger.reserve(0.2)  # local: the last shared total (0.1) + this
    assert during is not None
    ledger.settle(during, 0.15)
    assert ledger.reserve(0.8) is None  # 0.1 + 0.15 + 0.8 > 1.0, even offline
    spare_redis.start()  # empty: the outage's spend is all Redis will know
    time.sleep(0.1)
    assert ledger.reserve(0.01) is not None  # sends the pending deltas first
    assert flush()
    observer = SharedBudgetLedger(link(spare_redis.url), 1.0)
    assert observer.spent_usd == pytest.approx(0.15)


# -- the half-open trial lock -------------------------------------------------------------
def test_one_trial_across_processes_and_only_its_holder_unlocks_it(redis_url: str) -> None:
    gates = [SharedTrialGate(link(redis_url), "sarvanom:t:trial", 20.0) for _ in range(4)]
    won = [gate.acquire() for gate in gates]
    assert won == [True, False, False, False]
    assert not gates[0].acquire()  # this process's other threads wait too
    gates[0].release()
    assert gates[2].acquire()
    gates[2].release()


def test_a_trial_lock_whose_holder_died_expires(redis_url: str) -> None:
    dead, alive = (SharedTrialGate(link(redis_url), "sarvanom:t:trial", 0.2) for _ in range(2))
    assert dead.acquire()  # and never releases
    assert not alive.acquire()
    time.sleep(0.3)
    assert alive.acquire()


# -- the cache level ----------------------------------------------------------------------
def answer(content: str) -> LLMResponse:
    return LLMResponse(success=True, provider=ProviderName.OLLAMA_LOCAL, content=content)


def test_the_cache_level_round_trips_and_bounds_values(redis_url: str, raw_redis: Any) -> None:
    level = RedisCacheLevel(link(redis_url), 60.0, max_value_bytes=1000)
    level.put("a" * 64, 123.5, answer("short"))
    level.put("b" * 64, 123.5, answer("x" * 2000))
    assert flush()
    assert level.get("a" * 64) == (123.5, answer("short"))
    assert level.get("b" * 64) is None  # too large: kept in the local level only
    assert 0 < raw_redis.pttl(f"sarvanom:cache:{'a' * 64}") <= 60_000
    raw_redis.set(f"sarvanom:cache:{'c' * 64}", b"not json")
    assert level.get("c" * 64) is None


# -- clients ------------------------------------------------------------------------------
def test_namespaces_keep_deployments_apart(emu: ProviderEmulator, redis_url: str) -> None:
    ours = SarvanClient(env_file=None, **free_chain(emu, redis_url, redis_namespace="a"))
    theirs = SarvanClient(env_file=None, **free_chain(emu, redis_url, redis_namespace="b"))
    same = SarvanClient(env_file=None, **free_chain(emu, redis_url, redis_namespace="a"))
    ours.complete("shared question")
    assert flush()
    assert not theirs.complete("shared question").cached
    assert same.complete("shared question").cached


def test_health_says_where_state_lives(emu: ProviderEmulator, redis_url: str) -> None:
    local = SarvanClient(env_file=None, **free_chain(emu, None))  # type: ignore[arg-type]
    assert local.health_report()["shared_state"] == {
        "backend": "local",
        "reachable": None,
        "namespace": None,
        "shared": [],
    }
    shared = SarvanClient(env_file=None, budget_usd=1.0, **free_chain(emu, redis_url))
    report = shared.health_report()["shared_state"]
    assert report["backend"] == "redis" and report["reachable"] is True
    assert report["shared"] == ["budget", "circuit_breakers", "response_cache"]
    assert report["namespace"] == "sarvanom" and report["url"] == redis_url


def test_a_password_in_the_url_reaches_neither_health_nor_logs(
    emu: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    url = "redis://user:hunter2-secret@127.0.0.1:9/0"
    client = SarvanClient(env_file=None, **free_chain(emu, url))
    client.complete("hello")
    report = client.health_report()["shared_state"]
    assert "hunter2" not in str(report) and "hunter2" not in caplog.text


def test_a_malformed_namespace_is_a_configuration_error(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="SARVANOM_REDIS_NAMESPACE"):
        SarvanClient(env_file=None, redis_url=redis_url, redis_namespace="has space")


def test_no_prompt_and_no_key_is_ever_written_to_redis(
    emu: ProviderEmulator, redis_url: str, raw_redis: Any
) -> None:
    marker = f"PROMPT-{uuid.uuid4().hex}"
    client = SarvanClient(
        env_file=None,
        **free_chain(emu, redis_url, providers=("ollama_local", "openai")),
        openai_base_url=emu.url_for("openai"),
        enable_paid_api=True,
        budget_usd=1.0,
    )
    for index in range(3):
        client.complete(f"{marker} free {index}", system=f"{marker} system")
    emu.inject("ollama", Fault.http(503))  # trips ollama's breaker; openai (paid) answers
    for index in range(4):
        assert client.complete(f"{marker} paid {index}").provider is ProviderName.OPENAI
    client.complete(f"{marker} paid 0")  # a cache hit
    assert flush()
    secrets = (marker, *canaries(), emu.url_for("ollama"), emu.url_for("openai"))
    keys = list(raw_redis.scan_iter(count=1000))
    assert any(b"{budget}:" in k for k in keys) and any(b":cache:" in k for k in keys)
    assert any(b"{breaker:" in k for k in keys)
    for key in keys:
        if raw_redis.type(key) == b"hash":
            value = b"|".join(b"%s=%s" % kv for kv in raw_redis.hgetall(key).items())
        else:
            value = raw_redis.get(key)
        for text in (key, value):
            assert not any(s.encode() in text for s in secrets), (key, value)
    assert any(ANSWER.encode() in raw_redis.get(k) for k in keys if b":cache:" in k)

"""Issue 12 (review F9, F17, F15 c, F11 c): nothing read from Redis is trusted, one bad key
is not an outage, the cache encoder cannot raise, and a Redis URL never shows its password.

Each bad value the review lists is written by hand into a real redis-server on loopback,
and both clients must still answer (from the provider, with the breaker closed or the
cache missing), with no exception out of ``complete()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from redis_helpers import free_chain, outage_records

from sarvanom_sdk import AsyncSarvanClient, SarvanClient
from sarvanom_sdk.clock import SystemClock
from sarvanom_sdk.errors import ConfigurationError
from sarvanom_sdk.layers.breaker import TRIAL, ProviderCircuit
from sarvanom_sdk.shared_state import flush
from sarvanom_sdk.shared_state.cache_backend import RedisCacheLevel, decode, encode
from sarvanom_sdk.shared_state.redis_backend import RedisLink, make_client
from sarvanom_sdk.shared_state.redis_url import redacted_url
from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.types import LLMResponse, ProviderName

DEEP = b"[" * 100_000 + b"]" * 100_000


_FIELDS = {"state": "s", "fail_counter": "f", "opened_at": "o"}


def breaker_key(emu: ProviderEmulator, redis_url: str) -> str:
    """The shared breaker's Redis key (a hash), as a client names it."""
    client = SarvanClient(env_file=None, **free_chain(emu, redis_url))
    [endpoint] = client._core.endpoints[ProviderName.OLLAMA_LOCAL]  # type: ignore[attr-defined]
    return str(endpoint.circuit._storage.key)


def corrupt_breaker(raw: Any, key: str, field: str, value: Any) -> None:
    """Write ``value`` as the breaker's ``field``; a bad ``opened_at`` comes with the
    state "open" (where it is read). A (type, payload) value replaces the whole key with
    a key of that type."""
    if isinstance(value, tuple):
        kind, payload = value
        raw.delete(key)
        {"list": raw.rpush, "string": raw.set}[kind](key, payload)
        return
    if field == "opened_at":
        raw.hset(key, "s", b"open")
    raw.hset(key, _FIELDS[field], value)


def both_clients_answer(emu: ProviderEmulator, redis_url: str, prompt: str, **extra: Any) -> None:
    """A sync and an async client on ``redis_url`` each answer from the provider."""
    options = free_chain(emu, redis_url, cache_ttl_seconds=0, **extra)
    sync = SarvanClient(env_file=None, **options)
    answer = sync.complete(prompt)
    assert answer.provider is ProviderName.OLLAMA_LOCAL, answer.attempts

    async def run() -> LLMResponse:
        async with AsyncSarvanClient(env_file=None, **options) as client:
            return await client.complete(prompt + " async")

    answer = asyncio.run(run())
    assert answer.provider is ProviderName.OLLAMA_LOCAL, answer.attempts


BAD_BREAKER_VALUES = [
    ("fail_counter", b"not-a-number"),
    ("fail_counter", b"99999999999999999999999"),
    ("fail_counter", b"-5"),
    ("state", b"\xff\xfe"),
    ("state", b"halfopen"),
    ("state", b"x" * 100_000),
    ("opened_at", b"1e9"),
    ("opened_at", b"99999999999999999999"),
    ("state", ("list", b"open")),
    ("fail_counter", ("string", b"1")),
]


@pytest.mark.parametrize(("field", "value"), BAD_BREAKER_VALUES)
def test_f9_a_malformed_breaker_value_is_a_closed_breaker_for_both_clients(
    emu: ProviderEmulator, redis_url: str, raw_redis: Any, field: str, value: Any
) -> None:
    """F9 (and F17 for the wrong-type cases): no exception, the provider answers."""
    both_clients_answer(emu, redis_url, "first")
    corrupt_breaker(raw_redis, breaker_key(emu, redis_url), field, value)
    both_clients_answer(emu, redis_url, "again")


def test_f9_an_open_breaker_with_a_malformed_opened_at_still_recovers(
    emu: ProviderEmulator, redis_url: str, raw_redis: Any
) -> None:
    """F9: a bad ``opened_at`` never wedges the breaker or the trial lock: after the value
    is repaired (or whatever it reads as), calls reach the provider again."""
    options = free_chain(emu, redis_url, cache_ttl_seconds=0, circuit_fail_max=1,
                         circuit_reset_seconds=1.0)
    client = SarvanClient(env_file=None, **options)
    emu.inject("ollama", Fault.http(503), times=1)
    assert client.complete("fail").provider is ProviderName.LOCAL_STUB
    corrupt_breaker(raw_redis, breaker_key(emu, redis_url), "opened_at", b"1e9x")
    for index in range(3):
        client.complete(f"after {index}")
    emu.clear()
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if client.complete(f"probe {time.monotonic()}").provider is ProviderName.OLLAMA_LOCAL:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the breaker never let a call through again")


class _FlakyStorage:
    """A breaker storage, open long ago (a trial is due), whose ``fail_on``-th state read
    raises (as pybreaker does for an unknown state)."""

    def __init__(self, fail_on: int) -> None:
        import pybreaker

        self._inner = pybreaker.CircuitMemoryStorage(pybreaker.STATE_OPEN)
        self._inner.opened_at = SystemClock().wall().replace(year=2000)
        self.reads = 0
        self.fail_on = fail_on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def state(self) -> str:
        self.reads += 1
        if self.reads == self.fail_on:
            raise ValueError("Unknown state")
        return str(self._inner.state)

    @state.setter
    def state(self, value: str) -> None:
        self._inner.state = value


def test_f9_the_trial_lock_is_released_when_admission_raises() -> None:
    """F9: an exception after the trial gate was taken (the second state read) releases
    the gate (``finally``), so the next caller gets the trial instead of 'trial call in
    progress' for good."""
    storage = _FlakyStorage(fail_on=2)
    circuit = ProviderCircuit(
        "p", fail_max=1, reset_seconds=1, clock=SystemClock(), storage=storage
    )
    with pytest.raises(ValueError):
        circuit.admit()
    assert circuit.admit() == TRIAL


# -- the cache ----------------------------------------------------------------------------
def _cache_record(**changes: Any) -> bytes:
    record: dict[str, Any] = {"f": 4e9, "p": "ollama_local", "c": "cached text", "m": "m",
                              "u": [1, 2], "r": None, "fr": "stop"}
    record.update(changes)
    return json.dumps(record).encode()


BAD_CACHE_VALUES = [
    b"not json",
    b"\xff\xfe\x00",
    DEEP,
    b'{"f":' * 50_000,
    b"[1,2,3]",
    b'"a string"',
    _cache_record(m={"an": "object"}),
    _cache_record(c=["list"]),
    _cache_record(p="no_such_provider"),
    _cache_record(u=[10**400, 1]),
    _cache_record(u=[-5, 1]),
    _cache_record(u={"a": 1}),
    _cache_record(f="soon"),
    _cache_record(r=7),
    _cache_record(fr=[1]),
    b"x" * (2 * 1024 * 1024),
]


@pytest.mark.parametrize("value", BAD_CACHE_VALUES, ids=range(len(BAD_CACHE_VALUES)))
def test_f9_a_malformed_cache_value_is_a_miss(redis_url: str, raw_redis: Any, value: bytes) -> None:
    """F9: garbage, wrong types, huge or deep values in a cache entry are a miss."""
    level = RedisCacheLevel(RedisLink(make_client(redis_url), "sarvanom"), 60.0)
    raw_redis.set("sarvanom:cache:" + "k" * 64, value)
    assert level.get("k" * 64) is None
    assert decode(value) is None


def test_f9_a_wrong_type_cache_key_is_a_miss_and_not_an_outage(
    redis_url: str, raw_redis: Any
) -> None:
    """F17: a cache key holding a list is that key's miss; Redis stays in use."""
    link = RedisLink(make_client(redis_url), "sarvanom")
    level = RedisCacheLevel(link, 60.0)
    raw_redis.rpush("sarvanom:cache:" + "w" * 64, b"x")
    assert level.get("w" * 64) is None
    assert link.reachable and link.outages == 0


def test_f9_clients_answer_past_a_poisoned_cache_entry(
    emu: ProviderEmulator, redis_url: str, raw_redis: Any
) -> None:
    """F9: the entry another process would find is poisoned; both clients answer."""
    options = free_chain(emu, redis_url)
    SarvanClient(env_file=None, **options).complete("poisoned question")
    assert flush()
    [key] = list(raw_redis.scan_iter(match="*:cache:*"))
    for value in (DEEP, _cache_record(m={"an": "object"}), b"\x00garbage"):
        raw_redis.set(key, value)
        fresh = SarvanClient(env_file=None, **options)
        answer = fresh.complete("poisoned question")
        assert answer.provider is ProviderName.OLLAMA_LOCAL and not answer.cached
        assert flush()
        raw_redis.set(key, value)  # the fresh answer was written back: poison again

        async def run() -> LLMResponse:
            async with AsyncSarvanClient(env_file=None, **options) as client:
                return await client.complete("poisoned question")

        answer = asyncio.run(run())
        assert answer.provider is ProviderName.OLLAMA_LOCAL and not answer.cached
        assert flush()


# -- F17: one bad key is not an outage ----------------------------------------------------
def test_f17_a_wrongtype_budget_key_does_not_turn_off_the_rest_of_the_shared_state(
    emu: ProviderEmulator, redis_url: str, raw_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """F17: a budget key of another type: paid calls reserve locally (logged once), and
    the breakers and the cache are still shared; no outage."""
    caplog.set_level(logging.INFO, "sarvanom_sdk")
    raw_redis.hset("sarvanom:{budget}:committed", "x", "1")
    options = dict(
        free_chain(emu, redis_url, providers=("openai",)),
        openai_base_url=emu.url_for("openai"),
        enable_paid_api=True,
        budget_usd=1.0,
    )
    client = SarvanClient(env_file=None, **options)
    for index in range(5):
        answer = client.complete(f"paid {index}")
        assert answer.provider is ProviderName.OPENAI, answer.attempts
    assert flush()
    link = client._core.shared.link  # type: ignore[attr-defined]
    assert link.reachable and link.outages == 0
    assert not outage_records(caplog, "down")
    faults = [r for r in caplog.records if getattr(r, "shared_state", None) == "key_fault"]
    assert len(faults) == 1, [r.getMessage() for r in faults]
    other = SarvanClient(env_file=None, **options)
    assert other.complete("paid 0").cached, "the cache is still shared"


# -- F15 c: the encoder cannot raise ------------------------------------------------------
def test_f15c_an_answer_that_does_not_encode_is_simply_not_stored(
    redis_url: str, raw_redis: Any
) -> None:
    """F15 c: a lone surrogate (or an odd type) in an answer: put() does not raise and
    stores nothing."""
    level = RedisCacheLevel(RedisLink(make_client(redis_url), "sarvanom"), 60.0)
    surrogate = LLMResponse(success=True, provider=ProviderName.OLLAMA_LOCAL,
                            content="half \ud800 pair")
    odd = LLMResponse(success=True, provider=ProviderName.OLLAMA_LOCAL, content="ok",
                      model=object())  # type: ignore[arg-type]
    assert encode(1.0, surrogate) is None and encode(1.0, odd) is None
    level.put("s" * 64, 1.0, surrogate)
    level.put("o" * 64, 1.0, odd)
    assert flush()
    assert list(raw_redis.scan_iter(match="*:cache:*")) == []


# -- F11 c: the Redis URL never shows its password ----------------------------------------
SECRET = "Ab3/xY+z=="
URLS = [
    f"redis://:{SECRET}@127.0.0.1:6379/0",
    f"redis://user:{SECRET}@127.0.0.1:6379/0",
    "redis://127.0.0.1:6379/0?password=Ab3QueryPw",
    f"rediss://u:{SECRET}@cache.example:6380/2?ssl_cert_reqs=none",
    f"redis+sentinel://:{SECRET}@127.0.0.1:26379,127.0.0.1:26380/mymaster",
    f"redis+cluster://:{SECRET}@127.0.0.1:7000,127.0.0.1:7001",
    f"unix://:{SECRET}@/tmp/redis.sock?db=1",
]


@pytest.mark.parametrize("url", URLS)
def test_f11c_redacted_url_never_shows_the_password(url: str) -> None:
    shown = redacted_url(url)
    assert "Ab3" not in shown and "QueryPw" not in shown and "@" not in shown, shown
    assert "127.0.0.1" in shown or "example" in shown or "/tmp/redis.sock" in shown


@pytest.mark.parametrize(
    "url",
    [
        "redis://u:Ab3/xyz@127.0.0.1:notaport/0",
        "htps://u:Ab3TypoPw@127.0.0.1:6379/0",
        "redis://u:Ab3pw@127.0.0.1:6379/zero",
        "redis://u:Ab3pw@bad host:6379/0",
        "redis://u:Ab3pw@127.0.0.1:99999/0",
    ],
)
def test_f11c_a_malformed_redis_url_is_a_configuration_error_without_the_value(
    url: str,
) -> None:
    assert "Ab3" not in redacted_url(url)
    with pytest.raises(ConfigurationError) as raised:
        make_client(url)
    assert "Ab3" not in str(raised.value) and "Ab3" not in repr(raised.value)
    cause = raised.value
    assert cause.__cause__ is None and (cause.__context__ is None or cause.__suppress_context__)


def test_f11c_a_password_with_an_unencoded_slash_authenticates(redis_server: Any) -> None:
    """F11 c: an unencoded ``/`` in the password no longer breaks the URL: the client
    authenticates with it (the server requires it)."""
    import redis

    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("requirepass", SECRET)
    try:
        client = make_client(f"redis://:{SECRET}@127.0.0.1:{redis_server.port}/0")
        assert client.ping()
        client.close()
    finally:
        with_pw = redis.Redis(host="127.0.0.1", port=redis_server.port, password=SECRET)
        with_pw.config_set("requirepass", "")
        with_pw.close()
        admin.close()

"""Issue 16 item 5: the shared rate limiter for gateway tokens (requests per minute,
tokens per minute, spend) in one Lua call, with per-process limits without Redis."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid

import pytest
from limiter_worker import hammer
from redis_server import free_port

from sarvanom_sdk.errors import ConfigurationError
from sarvanom_sdk.shared_state.limiter import RateLimiter, TokenLimits, decide
from sarvanom_sdk.shared_state.redis_backend import RedisLink, make_clients


def shared(url: str, window: float = 60.0) -> RateLimiter:
    client, make_async = make_clients(url)
    return RateLimiter(
        RedisLink(client, "sarvanom", async_client=make_async), window_seconds=window
    )


def test_issue16_5_four_processes_on_one_key_stay_within_one_window_of_the_limit(
    redis_url: str,
) -> None:
    """4 processes hammer one name for 3 windows: the total admitted is within one
    window's slack of limit x windows (and the limit is not far too strict)."""
    rpm, window, seconds = 40, 1.0, 3.0
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start = time.time() + 4.0  # every process is up and connected by then
    name = f"team-{uuid.uuid4().hex}"
    procs = [
        ctx.Process(target=hammer, args=(redis_url, name, rpm, window, seconds, start, out))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
    allowed = sum(a for a, _ in results)
    refused = sum(r for _, r in results)
    expected = rpm * seconds / window
    assert refused > allowed, "the processes asked far more than the limit"
    assert allowed <= expected + rpm, (allowed, expected)
    assert allowed >= 0.7 * expected, (allowed, expected)
    assert all(a > 0 for a, _ in results), "every process got a share"


def test_issue16_5_tokens_per_minute_and_budget_are_shared(redis_url: str) -> None:
    one, other = shared(redis_url), shared(redis_url)  # two processes' limiters
    limits = TokenLimits(tokens_per_minute=1000, budget_usd=0.01)
    assert one.check("t", limits, tokens=600).allowed
    refused = other.check("t", limits, tokens=600)
    assert not refused.allowed and refused.limit == "tokens_per_minute"
    assert refused.retry_after is not None and 0 < refused.retry_after <= 60
    assert other.check("t", limits, tokens=300).allowed
    one.record("t", usd=0.02)
    from sarvanom_sdk.shared_state import flush

    assert flush()
    spent = other.check("t", TokenLimits(budget_usd=0.01))
    assert not spent.allowed and spent.limit == "budget_usd" and spent.retry_after is None
    assert other.usage("t").spent_usd == pytest.approx(0.02)
    assert other.usage("t").tokens_this_window == 900


def test_issue16_5_the_async_check_is_awaited_and_agrees(redis_url: str) -> None:
    limiter = shared(redis_url)
    limits = TokenLimits(requests_per_minute=3)

    async def run() -> list[bool]:
        return [(await limiter.check_async("a", limits)).allowed for _ in range(5)]

    assert asyncio.run(run()) == [True, True, True, False, False]
    assert not limiter.check("a", limits).allowed


def test_issue16_5_without_redis_the_limits_hold_per_process() -> None:
    limiter = RateLimiter(None)
    limits = TokenLimits(requests_per_minute=10)
    assert sum(limiter.check("x", limits).allowed for _ in range(50)) == 10
    assert limiter.check("y", limits).allowed, "names are counted apart"


def test_issue16_5_with_redis_down_the_limits_hold_per_process() -> None:
    limiter = shared(f"redis://127.0.0.1:{free_port()}/0")
    limits = TokenLimits(requests_per_minute=5)
    assert sum(limiter.check("x", limits).allowed for _ in range(20)) == 5


def test_issue16_5_the_decision_is_a_sliding_window() -> None:
    limits = TokenLimits(requests_per_minute=10)
    # half-way through a window, 10 in the previous one count as 5
    assert decide(limits, (10, 4, 0, 0, 0), 0.5, 60, 0).allowed
    assert not decide(limits, (10, 5, 0, 0, 0), 0.5, 60, 0).allowed
    refused = decide(limits, (10, 5, 0, 0, 0), 0.5, 60, 0)
    assert refused.limit == "requests_per_minute" and refused.retry_after == pytest.approx(30)
    with pytest.raises(ConfigurationError, match="requests_per_minute"):
        TokenLimits(requests_per_minute=-1)

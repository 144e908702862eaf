"""Issue 16 item 3: Retry-After and quota holds are shared through Redis: one worker's 429
keeps every worker off that provider until the reset."""

from __future__ import annotations

import time

from redis_helpers import free_chain, outcomes
from workers import Workers

from sarvanom_sdk.testing import Fault, ProviderEmulator

#: A hold reaches the other processes' mirrors by pub/sub (promise: 100 ms).
PROPAGATION_SECONDS = 0.3


def test_issue16_3_one_workers_429_keeps_every_worker_off_until_the_reset(
    workers: Workers, emu: ProviderEmulator, redis_url: str
) -> None:
    workers.all("build", **free_chain(emu, redis_url, cache_ttl_seconds=0, circuit_fail_max=5))
    workers.all("complete", prompt="warm up")  # every worker's breaker is registered
    before = emu.request_count("ollama")
    emu.inject("ollama", Fault.http(429, retry_after=3), times=1)
    answer = workers.call(0, "complete", prompt="rate limited")
    assert outcomes(answer)[0][0] == "failed"
    assert emu.request_count("ollama") == before + 1
    time.sleep(PROPAGATION_SECONDS)
    others = [workers.call(i, "complete", prompt=f"held {i}") for i in (1, 2, 3)]
    for other in others:
        [(outcome, reason)] = outcomes(other)
        assert outcome == "skipped" and reason.startswith("rate limited until"), reason
    assert emu.request_count("ollama") == before + 1, "nobody called the held provider"
    time.sleep(3.2)  # the reset passed: every worker calls it again
    answers = workers.all("complete", prompt="after the reset")
    assert [a["provider"] for a in answers] == ["ollama_local"] * 4

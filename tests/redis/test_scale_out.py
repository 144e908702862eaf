"""Four worker processes, one Redis, one emulator: breakers, cache and budget are shared."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from redis_helpers import free_chain, outcomes
from workers import Workers

from sarvanom_sdk.testing import Fault, ProviderEmulator

RESET_SECONDS = 2.0
#: A state change reaches the other processes' mirrors by pub/sub (promise: 100 ms).
PROPAGATION_SECONDS = 0.3


def test_a_breaker_opened_by_one_process_is_seen_by_all_and_one_probe_follows(
    workers: Workers, emu: ProviderEmulator, redis_url: str
) -> None:
    workers.all(
        "build",
        **free_chain(
            emu,
            redis_url,
            circuit_fail_max=3,
            circuit_reset_seconds=RESET_SECONDS,
            cache_ttl_seconds=0,
            breaker_probe_interval=0,  # the shared trial alone: no background probes
        ),
    )
    emu.inject("ollama", Fault.http(503), times=3)
    for index in range(3):  # worker 0 alone sees the three failures
        answer = workers.call(0, "complete", prompt=f"fail {index}")
        assert answer["provider"] == "local_stub"
        assert outcomes(answer)[0][0] == "failed"
    assert emu.request_count("ollama") == 3
    time.sleep(PROPAGATION_SECONDS)

    others = [workers.call(i, "complete", prompt=f"next {i}") for i in (1, 2, 3)]
    for answer in others:  # skipped without a call
        assert answer["provider"] == "local_stub"
        [(outcome, reason)] = outcomes(answer)
        assert outcome == "skipped" and reason.startswith("circuit open until"), reason
    assert emu.request_count("ollama") == 3

    emu.inject("ollama", Fault.delay(1.0), times=1)  # the trial call takes a while
    time.sleep(RESET_SECONDS + 0.2)
    answers = workers.all("together", prompt="after the reset")
    assert emu.request_count("ollama") == 4, "exactly one half-open probe across processes"
    probes = [a for a in answers if a["provider"] == "ollama_local"]
    assert len(probes) == 1
    skipped = [outcomes(a) for a in answers if a["provider"] != "ollama_local"]
    assert skipped == [[("skipped", "circuit half-open, trial call in progress")]] * 3

    time.sleep(PROPAGATION_SECONDS)
    answers = workers.all("complete", prompt="closed again")  # the probe closed it for all
    assert [a["provider"] for a in answers] == ["ollama_local"] * 4
    assert emu.request_count("ollama") == 8


def test_an_answer_cached_by_one_process_is_a_hit_in_another(
    workers: Workers, emu: ProviderEmulator, redis_url: str
) -> None:
    workers.all("build", **free_chain(emu, redis_url))
    prompt = f"cache me {uuid.uuid4().hex}"
    first = workers.call(0, "complete", prompt=prompt)
    assert first["provider"] == "ollama_local" and not first["cached"]
    assert emu.request_count("ollama") == 1
    for index in (1, 2, 3):
        hit = workers.call(index, "complete", prompt=prompt)
        assert hit["cached"] and hit["provider"] == "ollama_local"
    assert emu.request_count("ollama") == 1


@pytest.mark.parametrize("budget", [0.0005])
def test_concurrent_paid_calls_from_four_processes_stop_at_the_budget(
    workers: Workers, emu: ProviderEmulator, redis_url: str, raw_redis: Any, budget: float
) -> None:
    workers.all(
        "build",
        providers=("openai",),
        openai_base_url=emu.url_for("openai"),
        enable_paid_api=True,
        budget_usd=budget,
        cache_ttl_seconds=0,
        redis_url=redis_url,
        max_retries=0,
    )
    runs = workers.all("spend", prefix="pay", limit=400, max_tokens=8)
    answers = [a for run in runs for a in run]
    costs = [a["cost"] for a in answers if a["provider"] == "openai"]
    total = sum(costs)
    assert all(any(r.startswith("budget:") for _, _, r in run[-1]["attempts"]) for run in runs)
    assert total <= budget + max(costs), (total, budget)
    assert total > budget * 0.5, "the run should have used most of the budget"
    assert emu.request_count("openai") == len(costs)
    spent = int(raw_redis.get("sarvanom:{budget}:spent")) / 1e9
    assert spent == pytest.approx(total, abs=1e-9 * len(costs) + 1e-12)  # no lost update
    deadline = time.monotonic() + 10  # unused leases go back after an idle second
    while time.monotonic() < deadline:
        committed = int(raw_redis.get("sarvanom:{budget}:committed")) / 1e9
        if committed == pytest.approx(spent, abs=1e-9 * len(costs) + 1e-12):
            break
        time.sleep(0.1)
    assert committed == pytest.approx(spent, abs=1e-9 * len(costs) + 1e-12)  # all settled

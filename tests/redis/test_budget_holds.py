"""The cost gate's reserve/settle contract, local and shared: a paid call's worst case is
held while it runs, then settled to its real cost or given back (failure, cancellation,
a stream left early). Local cases need no Redis."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from sarvanom_sdk import AsyncSarvanClient, SarvanClient
from sarvanom_sdk.layers.cost import BudgetLedger
from sarvanom_sdk.shared_state import flush
from sarvanom_sdk.testing import Fault, ProviderEmulator

BUDGET = 1.0


@pytest.fixture(params=["local", "redis"])
def state(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Client overrides for where the ledger lives."""
    if request.param == "local":
        return {}
    return {"redis_url": request.getfixturevalue("redis_url")}


def paid(emu: ProviderEmulator, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "env_file": None,
        "providers": ("openai",),
        "openai_base_url": emu.url_for("openai"),
        "enable_paid_api": True,
        "budget_usd": BUDGET,
        "max_retries": 0,
        "cache_ttl_seconds": 0,
        **state,
    }


def ledger_of(client: Any) -> Any:
    flush()
    return client.router.gate.ledger


def test_local_reservations_from_many_threads_never_pass_the_budget() -> None:
    ledger = BudgetLedger(0.01)
    granted = []

    def worker() -> None:
        for _ in range(50):
            hold = ledger.reserve(0.0003)
            if hold is not None:
                granted.append(hold)
                ledger.settle(hold, 0.0003)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 33 and ledger.spent_usd == pytest.approx(33 * 0.0003)


def test_a_paid_answer_settles_to_its_real_cost(
    emu: ProviderEmulator, state: dict[str, Any]
) -> None:
    client = SarvanClient(**paid(emu, state))
    response = client.complete("hello", max_tokens=500)
    assert response.provider.value == "openai" and response.cost_usd > 0
    ledger = ledger_of(client)
    assert ledger.spent_usd == pytest.approx(response.cost_usd)
    assert ledger.remaining() == pytest.approx(BUDGET - response.cost_usd)  # nothing held


def test_a_failed_paid_call_gives_its_reservation_back(
    emu: ProviderEmulator, state: dict[str, Any]
) -> None:
    client = SarvanClient(**paid(emu, state))
    emu.inject("openai", Fault.http(503), times=1)
    assert client.complete("hello", max_tokens=500).provider.value == "local_stub"
    ledger = ledger_of(client)
    assert ledger.spent_usd == 0 and ledger.remaining() == pytest.approx(BUDGET)


def test_a_stream_left_early_books_its_reservation(
    emu: ProviderEmulator, state: dict[str, Any]
) -> None:
    """F8: the provider may bill what it generated after the caller left."""
    client = SarvanClient(**paid(emu, state))
    with client.stream("tell me a story", max_tokens=500) as stream:
        next(iter(stream))
    ledger = ledger_of(client)
    assert ledger.spent_usd > 0 and ledger.remaining() == pytest.approx(BUDGET - ledger.spent_usd)


async def test_a_cancelled_paid_call_books_its_reservation(
    emu: ProviderEmulator, state: dict[str, Any]
) -> None:
    client = AsyncSarvanClient(**paid(emu, state))
    emu.inject("openai", Fault.delay(5.0), times=1)
    task = asyncio.ensure_future(client.complete("hello", max_tokens=500))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.close()
    ledger = ledger_of(client)  # F8: the call was sent; the provider may bill it
    assert ledger.spent_usd > 0 and ledger.remaining() == pytest.approx(BUDGET - ledger.spent_usd)

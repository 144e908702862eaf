"""Hedging: when the first free provider is slower than its recent p95 (or
``hedge_delay``), the same request also goes to the next free provider; the first answer
wins and the other call is cancelled. Never onto a paid provider unless ``hedge_paid``."""

from __future__ import annotations

import time
from contextlib import contextmanager
from statistics import median

from sarvanom_sdk.routing import MIN_SAMPLES_FOR_HEDGE
from sarvanom_sdk.testing import Fault, ProviderEmulator

from .helpers import (
    HF,
    OLLAMA,
    OPENAI,
    STUB,
    TAIL_SLOW,
    ScriptedServer,
    both,
    client,
    percentile,
    routed,
    served_by,
    slow_tail,
    steps,
    timed,
)

LOST = (OLLAMA, "skipped", "hedge lost: cancelled")
REQUESTS = 60


@contextmanager
def racing(kind: str, first: Fault, backup: str = "huggingface", **overrides):
    """Ollama (with ``first`` on every answer) then ``backup``, hedging on: yields
    (emulator, driver)."""
    with ProviderEmulator() as emu:
        emu.inject("ollama", first)
        with client(kind, **routed(emu, "ollama", backup, hedge=True, **overrides)) as driver:
            yield emu, driver


def idle(driver, within: float = 3.0) -> bool:
    """No bulkhead slot or breaker failure left behind by a cancelled loser, once the
    losers have ended (a sync loser already running in a thread cannot be interrupted: it
    keeps its slot until its call returns)."""
    endpoints = [e for group in driver.client.router.endpoints.values() for e in group]
    deadline = time.monotonic() + within
    while True:
        if all(
            e.bulkhead.in_flight == 0 and e.circuit.view().consecutive_failures == 0
            for e in endpoints
        ):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


@both
def test_hedging_cuts_the_slow_tail_for_few_extra_requests(kind):
    results = {}
    with ProviderEmulator() as emu:
        for hedge in (False, True):
            slow_tail(emu)
            with client(kind, **routed(emu, "ollama", "huggingface", hedge=hedge)) as driver:
                took, answers = timed(driver, REQUESTS)
                results[hedge] = {
                    "p99": percentile(took, 0.99),
                    "tail": tail_latencies(emu, took),
                    "served": served_by(answers),
                    "hedges": driver.client.router.hedges,
                    "extra": emu.request_count("huggingface"),
                    "first": emu.request_count("ollama"),
                    "idle": idle(driver),
                }
    off, on = results[False], results[True]
    assert STUB not in off["served"] and STUB not in on["served"]
    # every request goes to the first provider; without hedging, nothing else
    assert off["first"] == on["first"] == REQUESTS
    assert off["extra"] == off["hedges"] == 0
    # The slow tail's requests (the same ones in both runs: a seeded draw) take TAIL_SLOW
    # without hedging, and hedging cuts them. Compared request for request, by the median:
    # on a loaded machine any request can stall, so p99 of 60 measures the load, not the
    # tail (issue 12: it failed 2 runs in 3 beside two CPU hogs).
    assert len(off["tail"]) == len(on["tail"]) >= 1
    assert min(off["tail"]) >= TAIL_SLOW * 0.9  # the slow tail shows ...
    assert median(on["tail"]) < median(off["tail"]) * 0.6, (on, off)  # ... and hedging cuts it
    # a slow tail of 5% costs few hedges (generous: 15%), each one extra request
    assert 1 <= on["hedges"] <= 0.15 * REQUESTS, on
    # each hedge sends at most one extra request (a backup cancelled at once, because the
    # primary answered just then, may never reach the wire)
    assert 1 <= on["extra"] <= on["hedges"]
    assert on["served"][HF] <= on["hedges"]
    assert on["idle"]


def tail_latencies(emu, took):
    """The seconds each request that the emulator made slow took, in order."""
    ollama = [r for r in emu.requests("ollama") if r.endpoint == "generate"]
    slow = Fault.delay(TAIL_SLOW)
    return [took[n] for n, record in enumerate(ollama) if record.fault == slow]


@both
def test_the_winner_answers_and_the_loser_is_cancelled_in_the_trail(kind):
    # room for the sync losers, which keep their slots until their calls return
    wide = "ollama_local=8,huggingface=8"
    with racing(kind, Fault.delay(1.0), hedge_delay=0.05, max_concurrency=wide) as (emu, driver):
        answers = [driver.complete(f"q{n}") for n in range(3)]
        assert driver.client.router.hedges == 3
        assert idle(driver)
    for answer in answers:
        assert answer.provider is HF
        assert steps(answer) == [(HF, "ok", "answered"), LOST]
        assert answer.latency_ms < 800  # did not wait for the slow one
        assert answer.attempts[1].latency_ms >= 40  # the loser ran its hedge delay
    assert emu.request_count("ollama") == emu.request_count("huggingface") == 3


@both
def test_no_hedge_before_the_first_provider_has_enough_samples(kind):
    few = MIN_SAMPLES_FOR_HEDGE - 1
    with ProviderEmulator() as emu:
        emu.inject("ollama", Fault.delay(0.3), on_requests=[few])
        with client(kind, **routed(emu, "ollama", "huggingface", hedge=True)) as driver:
            answers = [driver.complete(f"q{n}") for n in range(few)]
            assert driver.client.router.hedges == 0
        # slow, but the p95 of fewer samples is not trusted: nobody else was asked
        assert answers[-1].provider is OLLAMA and answers[-1].latency_ms >= 250
        assert emu.request_count("huggingface") == 0

        emu.clear()
        emu.reset()
        enough = MIN_SAMPLES_FOR_HEDGE + 1
        emu.inject("ollama", Fault.delay(0.3), on_requests=[enough])
        with client(kind, **routed(emu, "ollama", "huggingface", hedge=True)) as driver:
            answers = [driver.complete(f"q{n}") for n in range(enough)]
            assert driver.client.router.hedges == 1
        assert served_by(answers[:-1]) == {OLLAMA: MIN_SAMPLES_FOR_HEDGE}
        assert answers[-1].provider is HF and steps(answers[-1])[-1] == LOST
        assert emu.request_count("huggingface") == 1


@both
def test_the_request_flag_overrides_the_setting_both_ways(kind):
    with ProviderEmulator() as emu:
        emu.inject("ollama", Fault.delay(0.3))
        for setting, flag, hedged in ((False, True, True), (True, False, False)):
            emu.reset()
            settings = routed(emu, "ollama", "huggingface", hedge=setting, hedge_delay=0.05)
            with client(kind, **settings) as driver:
                answer = driver.complete("q", hedge=flag)
                assert driver.client.router.hedges == int(hedged)
            assert answer.provider is (HF if hedged else OLLAMA)
            assert emu.request_count("huggingface") == int(hedged)


@both
def test_never_hedged_onto_a_paid_provider_unless_allowed(kind):
    for hedge_paid in (False, True):
        late = {"hedge_delay": 0.05, "hedge_paid": hedge_paid}
        with racing(kind, Fault.delay(0.3), "openai", **late) as (emu, driver):
            answer = driver.complete("q")
            hedges = driver.client.router.hedges
            if hedge_paid:
                assert answer.provider is OPENAI and hedges == 1
                assert emu.request_count("openai") == 1
            else:
                assert answer.provider is OLLAMA and hedges == 0
                assert emu.request_count("openai") == 0


@both
def test_a_fast_failure_moves_on_at_once_and_is_not_a_hedge(kind):
    with racing(kind, Fault.http(503), hedge_delay=2.0) as (_, driver):
        answer = driver.complete("q")
        hedges = driver.client.router.hedges
    assert answer.provider is HF and hedges == 0
    assert [s[:2] for s in steps(answer)] == [(OLLAMA, "failed"), (HF, "ok")]
    assert answer.latency_ms < 1500  # did not wait out the hedge delay


@both
def test_a_cancelled_loser_no_longer_counts_against_nor_exceeds_the_limit(kind):
    with ScriptedServer(delay=2.0) as server, ProviderEmulator() as emu:
        settings = {
            **routed(emu, "huggingface", "ollama", hedge=True, hedge_delay=0.05),
            **server.settings(),
            "max_concurrency": "huggingface=1",
        }
        with client(kind, **settings) as driver:
            answers = [driver.complete(f"q{n}") for n in range(6)]
    assert served_by(answers) == {OLLAMA: 6}  # every slow call lost its race
    # one in flight at a time (a closing connection may briefly overlap the next call)
    assert server.peak <= 2, server.peak
    if kind == "async":
        assert server.calls == 6  # each loser was cancelled, freeing the slot at once
    else:
        # a sync loser already running in a thread cannot be interrupted: it keeps its
        # slot until its call returns, so later requests find huggingface busy
        assert server.calls < 6


@both
def test_a_busy_backup_does_not_delay_the_primarys_answer(kind):
    limited = {"queue_timeout": 1.0, "max_concurrency": "huggingface=1"}
    with racing(kind, Fault.delay(0.1), hedge_delay=0.05, **limited) as (_, driver):
        backup = driver.client.router.endpoints[HF][0].bulkhead
        assert backup.try_enter()  # another call holds the backup's only slot
        answer = driver.complete("q")
        backup.leave()
    assert answer.provider is OLLAMA
    assert answer.latency_ms < 600  # the primary answered after 100 ms


@both
def test_F8_a_cancelled_paid_loser_books_its_reservation(kind):
    """Issue 12 F8: the paid loser's request was sent; the provider may bill it."""
    late = {"hedge_delay": 0.05, "hedge_paid": True, "budget_usd": 1.0}
    with racing(kind, Fault.delay(0.3), "openai", **late) as (emu, driver):
        emu.inject("openai", Fault.delay(3.0))
        answer = driver.complete("q", max_tokens=100)
        assert answer.provider is OLLAMA and driver.client.router.hedges == 1
        assert steps(answer)[-1] == (OPENAI, "skipped", "hedge lost: cancelled")
        ledger = driver.client.router.gate.ledger
        assert ledger.spent_usd > 0
        assert ledger.remaining() == 1.0 - ledger.spent_usd

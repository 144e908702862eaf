"""Several endpoints per provider: comma-separated base URLs, one breaker and one bulkhead
each, chosen by power of two choices over peak-EWMA latency x (in flight + 1)."""

from __future__ import annotations

import random
import time
from contextlib import contextmanager

import pytest

from sarvanom_sdk import ConfigurationError, SarvanClient
from sarvanom_sdk import endpoints as endpoints_module
from sarvanom_sdk.endpoints import Endpoint, choose
from sarvanom_sdk.layers.bulkhead import Bulkhead
from sarvanom_sdk.settings import Settings
from sarvanom_sdk.testing import Fault

from .helpers import (
    BASE,
    OLLAMA,
    STUB,
    both,
    client,
    emulators,
    ollama_at,
    served_by,
    steps,
    timed,
)


def endpoint(url: str = "http://127.0.0.1:1", latency_ms: float = 0.0, busy: int = 0) -> Endpoint:
    """An endpoint (no adapter, no breaker: :func:`choose` reads only latency and load)
    that has seen ``latency_ms`` and has ``busy`` calls in flight."""
    made = Endpoint(OLLAMA, None, None, Bulkhead(64), url)  # type: ignore[arg-type]
    if latency_ms:
        made.observe(latency_ms, 0.0)
    for _ in range(busy):
        assert made.bulkhead.try_enter()
    return made


def first_choices(endpoints: list[Endpoint], rounds: int = 200) -> dict[int, int]:
    """How often each endpoint (by index) comes first over ``rounds`` seeded choices."""
    counts = dict.fromkeys(range(len(endpoints)), 0)
    rng = random.Random(5)
    for _ in range(rounds):
        counts[endpoints.index(choose(endpoints, rng, 0.0)[0])] += 1
    return counts


# -- configuration ------------------------------------------------------------------------
def test_comma_separated_urls_make_one_endpoint_each_with_its_own_breaker_and_bulkhead():
    urls = "http://127.0.0.1:7001 , http://127.0.0.1:7002/ollama"
    settings = Settings.from_env(
        env_file=None,
        ollama_base_url=urls,
        max_concurrency="ollama_local=3",
        providers="ollama_local",
    )
    assert settings.endpoint_urls(OLLAMA) == (
        "http://127.0.0.1:7001",
        "http://127.0.0.1:7002/ollama",
    )
    sdk = SarvanClient(settings)
    first, second = sdk.router.endpoints[OLLAMA]
    assert (first.label, second.label) == ("http://127.0.0.1:7001", "http://127.0.0.1:7002")
    assert first.circuit is not second.circuit and first.bulkhead is not second.bulkhead
    assert first.bulkhead.limit == second.bulkhead.limit == 3
    assert sdk.router.chain == (OLLAMA,)


def test_every_listed_url_is_validated_naming_the_variable():
    with pytest.raises(ConfigurationError, match="OLLAMA_BASE_URL"):
        SarvanClient(env_file=None, ollama_base_url="http://127.0.0.1:7001,ftp://nope")


def test_an_endpoint_label_keeps_no_credentials_or_path():
    made = endpoint("http://user:s3cret@127.0.0.1:7001/ollama?key=s3cret")
    assert made.label == "http://127.0.0.1:7001"


def test_an_ipv6_endpoint_label_keeps_its_brackets():
    assert endpoint("http://[::1]:11434/ollama").label == "http://[::1]:11434"


# -- power of two choices (unit) ----------------------------------------------------------
def test_a_single_endpoint_is_always_chosen():
    only = endpoint()
    assert choose([only], random.Random(0), 0.0) == [only]


def test_the_faster_endpoint_comes_first_and_the_other_stays_as_a_fallback():
    fast, slow = endpoint(latency_ms=5), endpoint(latency_ms=50)
    order = choose([slow, fast], random.Random(1), 0.0)
    assert order == [fast, slow]
    assert first_choices([fast, slow]) == {0: 200, 1: 0}


def test_load_counts_a_fast_but_busy_endpoint_loses_to_an_idle_slower_one():
    busy_fast = endpoint(latency_ms=5, busy=20)  # cost 5 x 21
    idle_slow = endpoint(latency_ms=50)  # cost 50 x 1
    assert first_choices([busy_fast, idle_slow]) == {0: 0, 1: 200}


def test_with_many_endpoints_the_worst_is_never_first_and_the_rest_share():
    ranked = [endpoint(latency_ms=ms) for ms in (5, 10, 20, 400)]
    counts = first_choices(ranked, rounds=600)
    assert counts[3] == 0  # the worst of any two sampled never wins
    assert counts[0] > counts[1] > counts[2] > 0  # but no healthy endpoint is starved


def test_peak_ewma_jumps_up_at_once_and_decays_towards_faster_answers():
    made = endpoint()
    made.observe(10.0, now=0.0)
    made.observe(200.0, now=1.0)
    assert made.latency_ms(1.0) == 200.0  # a slow spell shows at once
    made.observe(10.0, now=2.0)
    assert 10.0 < made.latency_ms(2.0) < 200.0
    made.observe(10.0, now=200.0)  # long after: forgotten
    assert made.latency_ms(200.0) == pytest.approx(10.0, abs=0.01)


def test_an_unmeasured_busy_endpoint_loses_to_an_unmeasured_idle_one():
    busy, idle = endpoint(busy=5), endpoint()
    assert first_choices([busy, idle]) == {0: 0, 1: 200}


# -- end to end ---------------------------------------------------------------------------
SLOW = 0.15
AFTER = 10  # requests after the fast endpoint died


@contextmanager
def two_endpoints(kind: str, **overrides):
    """One Ollama provider with two endpoints, a fast one and a slow one: yields (fast
    emulator, slow emulator, driver). The slow one is very slow, so that a hiccup of the
    fast one on a loaded machine does not make it look slower (see the starvation bug)."""
    with emulators(0.0, SLOW) as (fast, slow):
        settings = {
            **BASE,
            "providers": "ollama_local",
            **ollama_at(fast.url_for("ollama"), slow.url_for("ollama")),
            **overrides,
        }
        with client(kind, **settings) as driver:
            yield fast, slow, driver


@both
def test_most_traffic_goes_to_the_fast_endpoint_and_all_of_it_when_that_one_dies(kind):
    with two_endpoints(kind) as (fast, slow, driver):
        _, answers = timed(driver, 100)
        assert served_by(answers) == {OLLAMA: 100}
        assert fast.request_count() + slow.request_count() == 100
        assert fast.request_count() > 70, (fast.request_count(), slow.request_count())

        fast.stop()  # dies: connections refused from now on
        slow.reset()
        _, answers = timed(driver, AFTER)
        fail_max = driver.client.settings.circuit_fail_max
        lost = [a for a in answers if a.provider is not OLLAMA]
        # until the dead endpoint's breaker opens, a request on it falls over (here: to the
        # stub); after that the slow endpoint takes every request, without a failed try
        assert len(lost) <= fail_max
        assert served_by(answers[fail_max:]) == {OLLAMA: AFTER - fail_max}
        assert all(steps(a) == [(OLLAMA, "ok", "answered")] for a in answers[fail_max:])
        assert slow.request_count() >= AFTER - fail_max
        dead, alive = driver.client.router.endpoints[OLLAMA]
        # the dead endpoint either had its breaker opened or, penalised as slow by its
        # failures, stopped being chosen before that: either way it is out of the way
        assert dead.circuit.view().consecutive_failures >= 1
        assert alive.circuit.view().state == "closed"
        health = driver.health()[OLLAMA.value]
        assert health.circuit_state != "open"  # the provider is up while one endpoint is
        assert OLLAMA.value in driver.client.available_providers()


@both
def test_the_provider_is_open_only_when_every_endpoint_is(kind):
    with (
        emulators(0.0) as (emu,),
        client(
            kind,
            **BASE,
            providers="ollama_local",
            circuit_fail_max=1,
            **ollama_at(emu.refused_url("ollama"), emu.refused_url("ollama") + "/"),
        ) as driver,
    ):
        answers = [driver.complete(f"q{n}") for n in range(4)]
        assert served_by(answers) == {STUB: 4}
        assert [e.circuit.view().state for e in driver.client.router.endpoints[OLLAMA]] == [
            "open",
            "open",
        ]
        assert driver.health()[OLLAMA.value].circuit_state == "open"
        assert driver.client.available_providers() == [STUB.value]
        # both open: skipped without a call, the trail says why
        assert steps(answers[-1])[0][:2] == (OLLAMA, "skipped")
        assert "circuit open until" in steps(answers[-1])[0][2]


@both
def test_no_request_is_lost_while_a_sibling_endpoint_is_healthy(kind):
    with two_endpoints(kind, max_retries=1) as (fast, slow, driver):
        timed(driver, 10)
        fast.stop()
        _, answers = timed(driver, 10)
        assert served_by(answers) == {OLLAMA: 10}


@both
def test_a_slow_spell_is_forgotten_and_the_fast_endpoint_gets_traffic_again(kind, monkeypatch):
    monkeypatch.setattr(endpoints_module, "DECAY_SECONDS", 0.1)
    with two_endpoints(kind) as (fast, slow, driver):
        timed(driver, 5)  # both measured
        fast.inject("ollama", Fault.delay(2 * SLOW), times=1)  # one slow answer
        timed(driver, 1)
        fast.reset()
        time.sleep(1.0)  # ten decay times: the spell is long forgotten
        timed(driver, 6)
        assert fast.request_count() >= 3, (fast.request_count(), slow.request_count())


@both
def test_health_shows_each_endpoint_with_its_own_breaker(kind):
    with two_endpoints(kind, max_retries=0) as (fast, slow, driver):
        fast_url, slow_url = (e.url_for("ollama").rsplit("/", 1)[0] for e in (fast, slow))
        fast.stop()  # refused from now on
        timed(driver, 6)
        health = driver.health()[OLLAMA.value]
        by_url = {e.url: e for e in health.endpoints}
        assert set(by_url) == {fast_url, slow_url}
        dead, alive = by_url[fast_url], by_url[slow_url]
        assert dead.consecutive_failures >= 1 and alive.consecutive_failures == 0
        assert alive.circuit_state == "closed" and alive.latency_ms > 0
        assert health.circuit_state != "open"  # usable while one endpoint is


def test_D6_a_failing_endpoints_latency_penalty_is_bounded_finite_and_decays() -> None:
    """Issue 17 D6: doubling per failure reached infinity (invalid JSON) and never
    recovered; now it is at most 4 x the penalty and decays with time."""
    import json as _json

    from sarvanom_sdk.endpoints import MAX_PENALTY_FACTOR

    made = endpoint()
    for _ in range(5000):
        made.observe_failure(15_000.0, 0.0)
    worst = made.latency_ms(0.0)
    assert 0 < worst <= 15_000.0 * MAX_PENALTY_FACTOR
    _json.dumps({"latency_ms": worst}, allow_nan=False)
    assert made.latency_ms(60.0) < worst / 100


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_D7_D16_trail_and_log_name_the_endpoint_and_the_log_line_the_trace_id(kind, caplog):
    """Issue 17 D7: with several endpoints the trail and the attempt log line say which
    one failed; D16: the log line's message carries the request's trace id."""
    import logging

    with emulators(0.0) as (emu,):
        dead = emu.refused_url("ollama")
        settings = {**BASE, "providers": (OLLAMA,), **ollama_at(dead, emu.url_for("ollama"))}
        with client(kind, **settings) as driver, caplog.at_level(logging.INFO, "sarvanom_sdk"):
            for i in range(6):  # power of two choices: the dead one comes first sometimes
                response = driver.complete(f"which box {i}", trace_id=f"trace-{i}")
                failed = [a for a in response.attempts if a.outcome.value == "failed"]
                if failed:
                    break
    assert failed, "the refusing endpoint was never tried"
    dead_label = dead.rsplit("/", 1)[0] if dead.count("/") > 2 else dead
    assert failed[0].endpoint is not None and failed[0].endpoint in dead_label
    assert failed[0].to_dict()["endpoint"] == failed[0].endpoint
    lines = [r for r in caplog.records if getattr(r, "outcome", None) == "failed"]
    assert lines and lines[0].endpoint == failed[0].endpoint
    assert failed[0].endpoint in lines[0].getMessage()
    assert f"trace=trace-{i}" in lines[0].getMessage()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_D7_a_probe_says_which_endpoint_failed(kind):
    with emulators(0.0) as (emu,):
        dead = emu.refused_url("ollama")
        settings = {**BASE, "providers": (OLLAMA,), **ollama_at(dead, emu.url_for("ollama"))}
        with client(kind, **settings) as driver:
            health = driver.health(probe=True)[OLLAMA.value]
    by_url = {e.url: e.last_error for e in health.endpoints}
    refused = [url for url, error in by_url.items() if error is not None]
    assert len(refused) == 1 and refused[0] in dead
    assert [error for error in by_url.values() if error is None] == [None]
    assert health.last_error is None or refused[0] in health.last_error

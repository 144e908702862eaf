"""The SDK end to end against a real model: llama.cpp's ``llama-server`` on 127.0.0.1.

Every test runs on both clients (``SarvanClient`` over requests, ``AsyncSarvanClient``
over aiohttp; see ``drivers.py``). One server speaks every wire protocol the SDK's
adapters use, so each adapter is pointed at it in turn:

* ``openai``: ``openai_base_url={base}/v1`` (paid, so ``enable_paid_api=True``);
* ``anthropic``: ``anthropic_base_url={base}`` (``/v1/messages``);
* ``huggingface``: router mode, ``huggingface_base_url={base}/v1`` (OpenAI protocol);
* ``remote_gpu``: ``gpu_remote_url={base}`` declared ``gpu_remote_protocol="openai"``
  (the adapter appends ``/v1/chat/completions``).

The suite's conftest puts canary keys in the environment and points the default base URLs
at a dead port, so every client here names its provider(s) with ``providers=(...)`` and
its own test key: nothing but what a test configures is ever in the chain.

Facts about the server these tests rely on (see ``golden/README.md``): it answers any
model name as ``smollm2``; temperature 0 is greedy, so the same request gives the same
text; the Anthropic endpoint reports only the uncached prompt tokens in ``input_tokens``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from drivers import ASYNC, DRIVERS, SYNC, Driver, Step

from sarvanom_sdk import AttemptOutcome, HealthStatus, LLMResponse, ProviderName
from sarvanom_sdk.layers.cost import cost_usd

pytestmark = pytest.mark.real_model

PROMPT = "Say hello in one short sentence."
MAX_TOKENS = 16
#: A short, greedy, uncached request: the same text every time.
REQUEST: dict[str, Any] = {
    "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0, "cache": False,
}
#: Finish reasons a complete answer may carry, per protocol family.
FINISH_REASONS = frozenset({"stop", "length", "end_turn", "max_tokens"})

OPENAI_KEY = "sk-real-model-test-openai"
ANTHROPIC_KEY = "sk-real-model-test-anthropic"
HF_KEY = "hf_real_model_test"
GPU_TOKEN = "real-model-test-gpu-token"


@dataclass(frozen=True)
class Protocol:
    """One adapter pointed at the real server."""

    provider: ProviderName
    #: The path the adapter must POST to on the server (stream or not).
    path: str
    #: Client overrides for a server at ``base`` (``http://127.0.0.1:PORT``).
    overrides: Callable[[str], dict[str, Any]]

    def settings(self, base: str, **extra: Any) -> dict[str, Any]:
        return {**self.overrides(base), "providers": (self.provider.value,), **extra}

    def url(self, base: str) -> str:
        return f"{base}{self.path}"


OPENAI = Protocol(
    ProviderName.OPENAI,
    "/v1/chat/completions",
    lambda base: {
        "openai_base_url": f"{base}/v1", "openai_api_key": OPENAI_KEY,
        "openai_model": "gpt-4o-mini", "enable_paid_api": True,
    },
)
ANTHROPIC = Protocol(
    ProviderName.ANTHROPIC,
    "/v1/messages",
    lambda base: {
        "anthropic_base_url": base, "anthropic_api_key": ANTHROPIC_KEY,
        "enable_paid_api": True,
    },
)
HUGGINGFACE = Protocol(
    ProviderName.HUGGINGFACE,
    "/v1/chat/completions",
    lambda base: {
        "huggingface_base_url": f"{base}/v1", "huggingface_api_key": HF_KEY,
        "huggingface_api": "router",
    },
)
REMOTE_GPU = Protocol(
    ProviderName.REMOTE_GPU,
    "/v1/chat/completions",
    lambda base: {
        "gpu_remote_url": base, "gpu_remote_protocol": "openai",
        "gpu_remote_token": GPU_TOKEN,
    },
)
PROTOCOLS = (OPENAI, ANTHROPIC, HUGGINGFACE, REMOTE_GPU)

by_driver = pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
by_protocol = pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.provider.value)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where a connection is refused, for the whole test.

    The port is bound but never listened on: connecting gets a RST (connection refused),
    and no other process can take the port while the test runs.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def trail(response: LLMResponse) -> list[tuple[str, str]]:
    """The attempt trail as ``(provider, outcome)`` pairs, for readable comparisons."""
    return [(a.provider.value, a.outcome.value) for a in response.attempts]


def assert_real_answer(response: LLMResponse, provider: ProviderName, model: str) -> None:
    """``response`` is a complete answer from the real model through ``provider`` alone."""
    assert response.success, response.error_message
    assert response.provider is provider
    assert response.content.strip(), "empty answer"
    assert not response.cached and not response.stale
    assert response.model == model  # the server's own name for it, not the configured one
    assert response.usage is not None
    assert response.usage.prompt_tokens > 0
    assert 0 < response.usage.completion_tokens <= MAX_TOKENS
    assert response.finish_reason in FINISH_REASONS
    assert response.latency_ms > 0
    assert trail(response) == [(provider.value, "ok")]


# -- one answer through each adapter ---------------------------------------------------


@by_driver
@by_protocol
def test_complete_through_each_adapter(
    driver: Driver, protocol: Protocol, llama_base_url: str, llama_model_name: str
) -> None:
    run = driver.complete(protocol.settings(llama_base_url), [REQUEST])

    (response,) = run.responses
    assert_real_answer(response, protocol.provider, llama_model_name)
    assert run.urls == [protocol.url(llama_base_url)]
    health = run.health[protocol.provider.value]
    assert health.status is HealthStatus.HEALTHY
    assert (health.success_count, health.error_count) == (1, 0)


@by_driver
@by_protocol
def test_stream_through_each_adapter(
    driver: Driver, protocol: Protocol, llama_base_url: str, llama_model_name: str
) -> None:
    settings = protocol.settings(llama_base_url)
    streamed = driver.stream(settings, REQUEST)

    assert len(streamed.chunks) >= 2, f"not streamed: {streamed.chunks!r}"
    assert all(chunk.text for chunk in streamed.chunks), "a chunk without text"
    assert {chunk.provider for chunk in streamed.chunks} == {protocol.provider}
    response = streamed.response
    assert response is not None, "the stream ended without its final response"
    assert response.content == streamed.text
    assert_real_answer(response, protocol.provider, llama_model_name)
    assert streamed.urls == [protocol.url(llama_base_url)]
    # Greedy decoding: the streamed text is the text a plain request gets.
    (plain,) = driver.complete(settings, [REQUEST]).responses
    assert plain.content == streamed.text


# -- a dead first provider -------------------------------------------------------------


def _dead_ollama_then_openai(base: str, refused: str, **extra: Any) -> dict[str, Any]:
    """ollama_local at a refused port first, then the real server as openai."""
    return OPENAI.settings(
        base, ollama_base_url=refused, providers=("ollama_local", "openai"), **extra
    )


@by_driver
@pytest.mark.parametrize("mode", ["complete", "stream"])
def test_falls_over_from_refused_provider_to_real_model(
    driver: Driver, mode: str, llama_base_url: str, llama_model_name: str, refused_url: str
) -> None:
    settings = _dead_ollama_then_openai(llama_base_url, refused_url)
    response: LLMResponse | None
    if mode == "complete":
        run = driver.complete(settings, [REQUEST])
        (response,), urls = run.responses, run.urls
    else:
        streamed = driver.stream(settings, REQUEST)
        response, urls = streamed.response, streamed.urls
        assert response is not None and response.content == streamed.text

    assert response is not None
    assert response.success and response.provider is ProviderName.OPENAI
    assert response.content.strip() and response.model == llama_model_name
    # Connection refused is transient: one retry of ollama (the default), then openai.
    assert trail(response) == [
        ("ollama_local", "failed"), ("ollama_local", "failed"), ("openai", "ok"),
    ]
    for attempt in response.attempts[:2]:
        assert "connection refused" in attempt.reason.lower()
        assert attempt.status is None
    ollama_url = f"{refused_url}/api/chat"
    assert urls == [ollama_url, ollama_url, OPENAI.url(llama_base_url)]


@by_driver
def test_dead_provider_is_skipped_once_its_circuit_opens(
    driver: Driver, llama_base_url: str, refused_url: str
) -> None:
    fail_max = 3
    settings = _dead_ollama_then_openai(
        llama_base_url, refused_url, max_retries=0, circuit_fail_max=fail_max,
        circuit_reset_seconds=300,
    )
    before = datetime.now(timezone.utc)
    run = driver.complete(settings, [REQUEST] * (fail_max + 2))

    assert all(r.success and r.provider is ProviderName.OPENAI for r in run.responses)
    for response in run.responses[:fail_max]:
        assert trail(response) == [("ollama_local", "failed"), ("openai", "ok")]
        assert "connection refused" in response.attempts[0].reason.lower()
    health = run.health["ollama_local"]
    assert health.status is HealthStatus.CIRCUIT_OPEN
    assert health.error_count == fail_max
    assert health.circuit_open_until is not None
    assert 299 <= (health.circuit_open_until - before).total_seconds() <= 360
    for response in run.responses[fail_max:]:
        assert trail(response) == [("ollama_local", "skipped"), ("openai", "ok")]
        skipped = response.attempts[0]
        assert skipped.outcome is AttemptOutcome.SKIPPED
        until = health.circuit_open_until.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert skipped.reason == f"circuit open until {until}"
    # Skipped means no network call: the dead port was tried only fail_max times.
    assert run.urls.count(f"{refused_url}/api/chat") == fail_max
    assert run.urls.count(OPENAI.url(llama_base_url)) == fail_max + 2


# -- determinism and cost --------------------------------------------------------------


@by_driver
def test_temperature_zero_gives_the_same_answer_twice(
    driver: Driver, llama_base_url: str
) -> None:
    request = {
        "prompt": "Name three colors of the rainbow.", "max_tokens": 24, "temperature": 0,
        "cache": False,
    }
    run = driver.complete(OPENAI.settings(llama_base_url), [request, request])

    first, second = run.responses
    assert first.success and second.success
    assert first.content.strip()
    assert second.content == first.content
    assert not first.cached and not second.cached
    assert len(run.urls) == 2, "cache=False must reach the model both times"


@by_driver
def test_openai_books_cost_from_real_usage(driver: Driver, llama_base_url: str) -> None:
    settings = OPENAI.settings(llama_base_url, budget_usd=1.0)
    run = driver.complete(settings, [REQUEST, REQUEST])

    for response in run.responses:
        assert response.success and response.usage is not None
        # Priced by the configured model (the server's "smollm2" has no price).
        expected = cost_usd(settings["openai_model"], response.usage)
        assert expected > 0
        assert response.cost_usd == pytest.approx(expected)
    assert run.spent_usd == pytest.approx(sum(r.cost_usd for r in run.responses))


@by_driver
def test_anthropic_prompt_tokens_include_cached_tokens(
    driver: Driver, llama_base_url: str
) -> None:
    # The second identical request is served from the server's prompt cache.
    anthropic = driver.complete(ANTHROPIC.settings(llama_base_url), [REQUEST, REQUEST])
    (openai,) = driver.complete(OPENAI.settings(llama_base_url), [REQUEST]).responses

    cached, reference = anthropic.responses[1].usage, openai.usage
    assert cached is not None and reference is not None
    assert cached.prompt_tokens == reference.prompt_tokens


@pytest.mark.parametrize(
    "driver",
    [
        SYNC,
        ASYNC,
    ],
    ids=lambda d: d.name,
)
def test_calls_after_a_stream_succeed_first_time(driver: Driver, llama_base_url: str) -> None:
    stream, plain = Step(REQUEST, stream=True), Step(REQUEST)
    steps = [stream, plain, stream, stream, plain, stream, plain, plain]
    # No retries: a call that fails on its first try falls to the stub and shows here.
    run = driver.run(OPENAI.settings(llama_base_url, max_retries=0), steps)

    for number, response in enumerate(run.responses):
        assert trail(response) == [("openai", "ok")], (
            f"step {number} ({'stream' if steps[number].stream else 'complete'}): "
            f"{[a.to_dict() for a in response.attempts]}"
        )
    assert run.health["openai"].error_count == 0
    assert len(run.urls) == len(steps)

"""Issue 13 against the real model: a prompt longer than llama-server's context is its
real ``exceed_context_size_error`` 400, which the SDK treats as a context-length refusal —
no retry, no breaker count, the next provider answers, the reason kept in the trail — on
both clients, complete and stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from llama_server import CTX_SIZE

from sarvanom_sdk import AsyncSarvanClient, LLMResponse, ProviderName, SarvanClient
from sarvanom_sdk.testing import ProviderEmulator

pytestmark = pytest.mark.real_model

#: Comfortably more tokens than the server's context holds.
TOO_LONG = "hello " * (CTX_SIZE * 2)


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def _settings(llama_base_url: str, emu: ProviderEmulator) -> dict[str, Any]:
    return {
        "env_file": None,
        "providers": ("huggingface", "ollama_local"),
        "huggingface_api": "router",
        "huggingface_base_url": f"{llama_base_url}/v1",
        "huggingface_api_key": "hf_real_model_context_test",
        "ollama_base_url": emu.url_for("ollama"),
        "max_retries": 1,
        "cache_ttl_seconds": 0,
    }


def _ask(kind: str, mode: str, settings: dict[str, Any]) -> tuple[LLMResponse, int]:
    """The response, and the real server's breaker's consecutive failures afterwards."""
    if kind == "sync":
        with SarvanClient(**settings) as client:
            if mode == "complete":
                response = client.complete(TOO_LONG, max_tokens=8)
            else:
                stream = client.stream(TOO_LONG, max_tokens=8)
                with stream:
                    for _ in stream:
                        pass
                response = stream.response
            health = client.get_provider_health()
    else:

        async def run() -> tuple[Any, Any]:
            async with AsyncSarvanClient(**settings) as client:
                if mode == "complete":
                    answer = await client.complete(TOO_LONG, max_tokens=8)
                else:
                    async with client.stream(TOO_LONG, max_tokens=8) as stream:
                        async for _ in stream:
                            pass
                    answer = stream.response
                return answer, await client.get_provider_health()

        response, health = asyncio.run(run())
    assert response is not None
    return response, health["huggingface"].consecutive_failures


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("mode", ["complete", "stream"])
def test_issue13_item7_a_real_context_length_refusal_falls_over_without_retry_or_count(
    kind: str, mode: str, llama_base_url: str, emu: ProviderEmulator
) -> None:
    response, failures = _ask(kind, mode, _settings(llama_base_url, emu))
    assert response.provider is ProviderName.OLLAMA_LOCAL
    refused = [a for a in response.attempts if a.provider is ProviderName.HUGGINGFACE]
    assert len(refused) == 1  # never retried on the same provider
    assert refused[0].error_type == "context_length"
    assert refused[0].status == 400
    assert failures == 0  # not counted against its breaker

"""Issue 15 item 2 against a real model: the official ``anthropic`` client talks to the
gateway's ``/v1/messages``; the gateway's chain is a refused Ollama, then llama.cpp's
``llama-server`` as the remote GPU box (OpenAI protocol). So the answer is a real model's,
translated from OpenAI's protocol to Anthropic's by the gateway."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "gateway"))
from gateway_helpers import ThreadedGateway  # noqa: E402  (tests/gateway)

from sarvanom_sdk import AsyncSarvanClient, Settings  # noqa: E402
from sarvanom_sdk.gateway import create_app  # noqa: E402

pytestmark = pytest.mark.real_model

MAX_TOKENS = 16
ASK = {
    "model": "sarvanom/auto",
    "max_tokens": MAX_TOKENS,
    "system": "You are terse.",
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    "extra_body": {"temperature": 0},
}


@pytest.fixture
def gateway(llama_base_url: str) -> Iterator[ThreadedGateway]:
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))  # bound, never listening: connection refused
        settings = Settings(
            providers=("ollama_local", "remote_gpu"),
            ollama_base_url=f"http://127.0.0.1:{refused.getsockname()[1]}",
            gpu_remote_url=llama_base_url,
            gpu_remote_protocol="openai",
            gpu_remote_token="real-model-test-gpu-token",
            max_retries=0,
            fallback_to_stub=False,  # an answer here is the real model's or an error
        )
        with ThreadedGateway(create_app(AsyncSarvanClient(settings))) as served:
            yield served


def _client(gateway: ThreadedGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0, timeout=120)


def test_issue15_2_a_real_model_answers_the_anthropic_client(
    gateway: ThreadedGateway, llama_model_name: str
) -> None:
    raw = _client(gateway).messages.with_raw_response.create(**ASK)
    assert raw.headers["x-sarvanom-provider"] == "remote_gpu"
    message = raw.parse()
    assert message.model == f"sarvanom/remote_gpu/{llama_model_name}"
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0
    assert 0 < message.usage.output_tokens <= MAX_TOKENS
    # greedy decoding: the same text streamed as answered
    with _client(gateway).messages.stream(**ASK) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == message.content[0].text == final.content[0].text
    assert final.stop_reason == message.stop_reason
    assert 0 < final.usage.output_tokens <= MAX_TOKENS


async def test_issue15_2_a_real_model_answers_the_async_client(
    gateway: ThreadedGateway,
) -> None:
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key="x", max_retries=0)
    message = await client.messages.create(**ASK)
    events = [e async for e in await client.messages.create(**ASK, stream=True)]
    await client.close()
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text.strip() and text == message.content[0].text

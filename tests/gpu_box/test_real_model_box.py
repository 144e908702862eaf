"""Issue 15 part 4 against a real model: the SDK (both clients) -> ``gpu-box`` on loopback
-> a real llama.cpp server (SmolLM2-135M, embeddings on). Seed and OpenAI protocols,
streaming, queue-full spill-over, token checks, real embeddings through the box."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from sarvanom_sdk.testing import ProviderEmulator

from .box_server import BoxServer
from .test_gpu_box import GPU, OLLAMA, TOKEN, complete, sdk_settings, stream

pytestmark = pytest.mark.real_model
KINDS = ["sync", "async"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHORT = {"max_tokens": 24}


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as made:
        yield made


@pytest.fixture(scope="module")
def box(llama_backend) -> Iterator[BoxServer]:
    with BoxServer(llama_backend.base_url, token=TOKEN) as made:
        yield made


def real(settings: dict) -> dict:
    """A real model on 2 shared cores: generous time, short answers."""
    return {**settings, "attempt_timeout": 120.0, "first_token_timeout": 120.0,
            "total_timeout": 240.0}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("protocol", ["seed", "openai"])
def test_real_model_answers_through_the_box(emu, box, kind, protocol):
    settings = real(sdk_settings(box.url, emu, protocol))
    response = complete(kind, "What is the capital of France?", SHORT, **settings)
    assert response.provider is GPU, response.attempts
    assert response.content.strip()
    assert box.box.backend.model == "smollm2"


@pytest.mark.parametrize("kind", KINDS)
def test_real_model_streams_through_the_box(emu, box, kind):
    pieces, response = stream(
        kind, "Count from one to five.", SHORT, **real(sdk_settings(box.url, emu, "openai"))
    )
    assert response.provider is GPU, response.attempts
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == response.content


@pytest.mark.parametrize("kind", KINDS)
def test_real_model_full_box_spills_over(emu, llama_backend, kind):
    with BoxServer(llama_backend.base_url, token=TOKEN, gpus=1, queue=0) as full:
        body = {"prompt": "Write a long story about a dragon.", "max_tokens": 200}
        blocker = threading.Thread(
            target=requests.post, args=(f"{full.url}/generate",),
            kwargs={"json": body, "headers": AUTH, "timeout": 300},
        )
        blocker.start()
        deadline = time.monotonic() + 60
        while full.box.slots.running < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        response = complete(kind, "spill over", SHORT, **real(sdk_settings(full.url, emu)))
        still_busy = full.box.slots.running == 1
        blocker.join(300)
    assert response.provider is OLLAMA, response.attempts
    assert [a.status for a in response.attempts if a.provider is GPU] == [503]
    assert still_busy  # the 503 came while the real model was generating


@pytest.mark.parametrize("kind", KINDS)
def test_real_model_wrong_token_is_401_and_falls_back(emu, box, kind):
    response = complete(kind, "hello", SHORT, **real(sdk_settings(box.url, emu, token="wrong")))
    assert response.provider is OLLAMA
    assert [a.status for a in response.attempts if a.provider is GPU] == [401]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        reply = requests.post(f"{box.url}/generate", json={"prompt": "x"}, headers=headers,
                              timeout=30)
        assert reply.status_code == 401 and TOKEN not in reply.text


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_real_embeddings_through_the_box(box):
    texts = ["The cat sat on the mat.", "A cat was sitting on the mat.",
             "Quarterly tax filings are due in April."]
    first = requests.post(f"{box.url}/v1/embeddings", json={"input": texts}, headers=AUTH,
                          timeout=120)
    assert first.status_code == 200, first.text
    data = first.json()
    vectors = [item["embedding"] for item in data["data"]]
    assert data["model"] == "smollm2"
    assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 100
    again = requests.post(f"{box.url}/v1/embeddings", json={"input": texts[:1]},
                          headers=AUTH, timeout=120).json()["data"][0]["embedding"]
    assert _cosine(again, vectors[0]) > 0.999  # deterministic
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])


def test_real_health_reports_model_and_queue(box):
    health = requests.get(f"{box.url}/health", timeout=30).json()
    assert health == {
        "status": "healthy", "model": "smollm2", "backend": "openai-compatible",
        "queue": {"running": 0, "waiting": 0, "gpus": 1, "max_waiting": 4},
    }

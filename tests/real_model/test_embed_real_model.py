"""Issue 15 item 1: real vectors from a real llama.cpp ``llama-server`` started with
embeddings on (``EMBEDDING_ARGS``: mean pooling), reached by both clients as the remote
GPU box speaking the OpenAI protocol on loopback: shapes, determinism, and two similar
sentences closer than two unrelated ones."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import llama_server as _ls
import pytest
from required_server import RequiredServer

from sarvanom_sdk import AsyncSarvanClient, ProviderName, SarvanClient, Settings

pytestmark = pytest.mark.real_model

LLAMA_EMBED = RequiredServer(
    "real llama-server (embeddings on)",
    lambda: _ls.LlamaServer(extra_args=_ls.EMBEDDING_ARGS),
    (_ls.LlamaServerError,),
)
CAT = "The cat sat on the mat."
CAT_AGAIN = "A cat was sitting on the mat."
TAXES = "Quarterly tax filings are due in April."


@pytest.fixture(scope="module")
def embedding_server() -> Iterator[Any]:
    with LLAMA_EMBED.serving() as server:
        yield server


@pytest.fixture(params=["sync", "async"])
def embed(request: pytest.FixtureRequest, embedding_server: Any) -> Iterator[Any]:
    """``embed(texts, **options)`` on a client of this kind, the box as its only provider."""
    settings = Settings(
        providers=("remote_gpu",),
        gpu_remote_url=embedding_server.base_url,
        gpu_remote_protocol="openai",
        attempt_timeout=60.0,
        total_timeout=120.0,
    )
    if request.param == "sync":
        client = SarvanClient(settings)
        yield client.embed
        client.close()
        return
    loop = asyncio.new_event_loop()
    aclient = AsyncSarvanClient(settings)
    yield lambda *a, **k: loop.run_until_complete(aclient.embed(*a, **k))
    loop.run_until_complete(aclient.close())
    loop.close()


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_real_vectors_have_one_shape(embed: Any) -> None:
    got = embed([CAT, CAT_AGAIN, TAXES], cache=False)
    assert got.provider is ProviderName.REMOTE_GPU
    assert len(got.vectors) == 3
    sizes = {len(v) for v in got.vectors}
    assert len(sizes) == 1 and 64 <= got.dimensions <= 8192
    assert all(math.isfinite(x) for v in got.vectors for x in v)
    assert any(abs(x) > 1e-6 for x in got.vectors[0])


def test_real_vectors_are_deterministic(embed: Any) -> None:
    first = embed([CAT, TAXES], cache=False).vectors
    second = embed([CAT, TAXES], cache=False).vectors
    for a, b in zip(first, second, strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones(embed: Any) -> None:
    cat, cat_again, taxes = embed([CAT, CAT_AGAIN, TAXES]).vectors
    assert cosine(cat, cat_again) > cosine(cat, taxes)
    assert cosine(cat, cat_again) > cosine(cat_again, taxes)

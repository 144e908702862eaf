"""Issue 15 item 1: the emulator's embedding endpoints speak the real shapes."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator

import pytest
import requests

from sarvanom_sdk.testing import Fault, ProviderEmulator
from sarvanom_sdk.testing._embed_wire import vector_for

AUTH = {"Authorization": "Bearer k"}


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def post(url: str, body: object) -> requests.Response:
    return requests.post(url, json=body, headers=AUTH, timeout=30)


def test_ollama_api_embed(emu: ProviderEmulator) -> None:
    got = post(f"{emu.url_for('ollama')}/api/embed", {"model": "nomic-embed-text", "input": "a"})
    body = got.json()
    assert got.status_code == 200 and body["model"] == "nomic-embed-text"
    assert len(body["embeddings"]) == 1 and len(body["embeddings"][0]) == 768
    assert math.isclose(math.fsum(x * x for x in body["embeddings"][0]), 1.0, rel_tol=1e-4)
    assert body["prompt_eval_count"] > 0
    empty = post(f"{emu.url_for('ollama')}/api/embed", {"model": "m", "input": []})
    assert empty.status_code == 400


def test_openai_embeddings_float_base64_and_dimensions(emu: ProviderEmulator) -> None:
    url = f"{emu.url_for('openai')}/embeddings"
    floats = post(url, {"model": "text-embedding-3-small", "input": ["a", "b"]}).json()
    assert floats["object"] == "list" and [d["index"] for d in floats["data"]] == [0, 1]
    assert len(floats["data"][0]["embedding"]) == 1536
    assert floats["usage"]["prompt_tokens"] == floats["usage"]["total_tokens"] > 0
    packed = post(url, {"model": "text-embedding-3-small", "input": "a",
                        "encoding_format": "base64", "dimensions": 64}).json()
    raw = base64.b64decode(packed["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(vector_for("text-embedding-3-small", "a", 64), abs=1e-6)
    bad = post(url, {"model": "text-embedding-3-small", "input": "a", "dimensions": 0})
    assert bad.status_code == 400 and "error" in bad.json()


def test_hf_feature_extraction(emu: ProviderEmulator) -> None:
    url = f"{emu.url_for('huggingface_task')}/models/org/model/pipeline/feature-extraction"
    assert post(url, {"inputs": ["a", "b"]}).json() == [vector_for("org/model", t) for t in "ab"]
    assert post(url, {"inputs": "a"}).json() == vector_for("org/model", "a")


def test_faults_apply_to_embeddings(emu: ProviderEmulator) -> None:
    emu.inject("ollama", Fault.http(503), times=1)
    url = f"{emu.url_for('ollama')}/api/embed"
    assert post(url, {"model": "m", "input": "a"}).status_code == 503
    assert post(url, {"model": "m", "input": "a"}).status_code == 200
    emu.clear()

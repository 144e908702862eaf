"""Issue 15 part 4: ``sarvanom gpu-box`` against the in-repo emulator as its backend (the
OpenAI protocol of ``remote_gpu_openai``), driven by the SDK's two clients: the seed and
OpenAI protocols, streaming, queue-full spill-over, token checks, health."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sarvanom_sdk import AsyncSarvanClient, ProviderName, SarvanClient
from sarvanom_sdk.testing import Fault, ProviderEmulator

from .box_server import BoxServer

TOKEN = "box-token-7f3a9c"
GPU, OLLAMA = ProviderName.REMOTE_GPU, ProviderName.OLLAMA_LOCAL


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as made:
        yield made


@pytest.fixture
def box(emu) -> Iterator[BoxServer]:
    emu.clear()
    emu.reset()
    with BoxServer(emu.url_for("remote_gpu_openai"), token=TOKEN) as made:
        yield made


def sdk_settings(box_url: str, emu: ProviderEmulator, protocol: str = "seed",
                 token: str | None = TOKEN) -> dict[str, Any]:
    """remote_gpu = the box, then ollama (the emulator) to spill over to."""
    return {
        "env_file": None,
        "providers": (GPU, OLLAMA),
        "gpu_remote_url": box_url,
        "gpu_remote_protocol": protocol,
        "gpu_remote_token": token,
        "ollama_base_url": emu.url_for("ollama"),
        "max_retries": 0,
        "attempt_timeout": 20.0,
        "first_token_timeout": 20.0,
        "total_timeout": 40.0,
    }


def complete(kind: str, prompt: str, ask: dict[str, Any] | None = None, **settings: Any) -> Any:
    """One ``complete()`` by a fresh client of ``kind`` (``ask``: request options)."""
    ask = {"cache": False, **(ask or {})}
    if kind == "sync":
        with SarvanClient(**settings) as client:
            return client.complete(prompt, **ask)

    async def go() -> Any:
        async with AsyncSarvanClient(**settings) as client:
            return await client.complete(prompt, **ask)

    return asyncio.run(go())


def stream(
    kind: str, prompt: str, ask: dict[str, Any] | None = None, **settings: Any
) -> tuple[list[str], Any]:
    ask = {"cache": False, **(ask or {})}
    if kind == "sync":
        with SarvanClient(**settings) as client, client.stream(prompt, **ask) as s:
            return [c.text for c in s], s.response

    async def go() -> tuple[list[str], Any]:
        async with AsyncSarvanClient(**settings) as client:
            async with client.stream(prompt, **ask) as s:
                pieces = [c.text async for c in s]
            return pieces, s.response

    return asyncio.run(go())


KINDS = ["sync", "async"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("protocol", ["seed", "openai"])
def test_sdk_is_answered_through_the_box(emu, box, kind, protocol):
    response = complete(kind, "capital of France?", **sdk_settings(box.url, emu, protocol))
    assert response.provider is GPU, response.attempts
    assert "capital of France?" in response.content
    assert emu.request_count("remote_gpu_openai", endpoint="generate") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_sdk_streams_through_the_box(emu, box, kind):
    pieces, response = stream(kind, "stream me please", **sdk_settings(box.url, emu, "openai"))
    assert response.provider is GPU, response.attempts
    assert len(pieces) > 1  # really streamed, not one buffered piece
    assert "stream me please" in "".join(pieces) == response.content


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_box_answers_503_and_the_sdk_spills_over(emu, kind):
    emu.clear()
    emu.inject("remote_gpu_openai", Fault.delay(3.0), endpoint="generate")
    try:
        with BoxServer(emu.url_for("remote_gpu_openai"), token=TOKEN, gpus=1, queue=0) as box:
            blocker = threading.Thread(
                target=requests.post,
                args=(f"{box.url}/generate",),
                kwargs={"json": {"prompt": "hold the GPU"}, "timeout": 30,
                        "headers": {"Authorization": f"Bearer {TOKEN}"}},
            )
            blocker.start()
            deadline = time.monotonic() + 20
            while box.box.slots.running < 1:
                assert time.monotonic() < deadline, "the blocking request never started"
                time.sleep(0.02)
            response = complete(kind, "spill over", **sdk_settings(box.url, emu))
            blocker.join(30)
    finally:
        emu.clear()
    assert response.provider is OLLAMA
    gpu = [a for a in response.attempts if a.provider is GPU]
    assert gpu and gpu[0].status == 503, response.attempts


def test_busy_reply_carries_retry_after(emu):
    emu.clear()
    emu.inject("remote_gpu_openai", Fault.delay(2.0), endpoint="generate")
    try:
        with BoxServer(emu.url_for("remote_gpu_openai"), gpus=1, queue=1, retry_after=7) as box:
            url = f"{box.url}/generate"
            threads = [threading.Thread(target=requests.post, args=(url,),
                                        kwargs={"json": {"prompt": "x"}, "timeout": 30})
                       for _ in range(2)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while box.box.slots.running + box.box.slots.waiting < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            health = requests.get(f"{box.url}/health", timeout=10).json()
            busy = requests.post(url, json={"prompt": "third"}, timeout=10)
            for thread in threads:
                thread.join(30)
    finally:
        emu.clear()
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "7"
    assert busy.json()["error"]["type"] == "overloaded"
    assert health["queue"] == {"running": 1, "waiting": 1, "gpus": 1, "max_waiting": 1}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "no-scheme", "basic"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/generate"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
     ("POST", "/v1/embeddings")],
)
def test_every_endpoint_but_health_needs_the_token(box, headers, method, path):
    reply = requests.request(method, box.url + path, json={}, headers=headers, timeout=10)
    assert reply.status_code == 401
    assert TOKEN not in reply.text
    assert requests.get(f"{box.url}/health", timeout=10).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_sdk_with_a_wrong_token_gets_401_and_falls_back(emu, box, kind):
    response = complete(kind, "who are you", **sdk_settings(box.url, emu, token="not-it"))
    assert response.provider is OLLAMA
    assert [a.status for a in response.attempts if a.provider is GPU] == [401]


def test_health_reports_model_and_queue(box):
    health = requests.get(f"{box.url}/health", timeout=10).json()
    assert health["status"] == "healthy"
    assert health["model"] == "default"  # the emulator's first model
    assert health["queue"] == {"running": 0, "waiting": 0, "gpus": 1, "max_waiting": 4}


def test_health_is_503_when_the_backend_is_down(emu):
    with BoxServer(emu.refused_url("remote_gpu_openai"), model="m") as box:
        reply = requests.get(f"{box.url}/health", timeout=10)
        answer = requests.post(f"{box.url}/generate", json={"prompt": "x"}, timeout=10)
    assert reply.status_code == 503 and reply.json()["status"] == "unhealthy"
    assert answer.status_code == 502


def test_sdk_health_probe_sees_the_box_healthy(emu, box):
    with SarvanClient(**sdk_settings(box.url, emu)) as client:
        health = client.get_provider_health(probe=True)
    assert health["remote_gpu"].status.value == "healthy", health["remote_gpu"]
    assert health["remote_gpu"].last_error is None


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "prompt"), ({"prompt": ""}, "prompt"), ({"prompt": 3}, "prompt"),
     ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
     ({"prompt": "x", "max_tokens": True}, "max_tokens"),
     ({"prompt": "x", "temperature": 9}, "temperature")],
)
def test_bad_generate_requests_are_400_naming_the_field(box, body, field):
    reply = requests.post(f"{box.url}/generate", json=body, timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == field


def test_max_tokens_is_capped(emu):
    emu.clear()
    with BoxServer(emu.url_for("remote_gpu_openai"), max_tokens_cap=5) as box:
        requests.post(f"{box.url}/generate", json={"prompt": "x", "max_tokens": 999}, timeout=10)
    sent = emu.requests("remote_gpu_openai")[-1]
    assert sent.json["max_tokens"] == 5


def test_models_lists_the_backend_model(box):
    reply = requests.get(f"{box.url}/v1/models", timeout=10,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert [m["id"] for m in reply.json()["data"]] == ["default"]


def test_the_sdk_library_never_imports_the_box():
    import subprocess
    import sys

    code = ("import sys, sarvanom_sdk; sarvanom_sdk.SarvanClient(env_file=None); "
            "print('sarvanom_sdk.gpu_box' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_embeddings_go_to_the_embeddings_backend_with_the_box_model(emu):
    from .box_server import SEEN, ThreadedApp, embeddings_backend

    with ThreadedApp(embeddings_backend()) as vectors, BoxServer(
        emu.url_for("remote_gpu_openai"), embeddings_url=vectors.url, token=TOKEN
    ) as box:
        reply = requests.post(f"{box.url}/v1/embeddings", json={"input": ["aa", "abc"]},
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        single = requests.post(f"{box.url}/v1/embeddings", json={"input": "a"},
                               headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        bad = requests.post(f"{box.url}/v1/embeddings", json={"input": [1]},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert reply.status_code == 200
    assert [d["embedding"] for d in reply.json()["data"]] == [[2.0, 2.0, 1.0], [3.0, 1.0, 1.0]]
    assert reply.json()["model"] == "default"
    assert vectors.app[SEEN][0] == {"input": ["aa", "abc"], "model": "default"}
    assert len(single.json()["data"]) == 1
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "input"


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_backend_is_a_502_and_the_sdk_streams_from_the_next(emu, box, kind):
    emu.inject("remote_gpu_openai", Fault.http(500), endpoint="generate")
    try:
        pieces, response = stream(kind, "fall over", **sdk_settings(box.url, emu, "openai"))
    finally:
        emu.clear()
    assert response.provider is OLLAMA
    assert [a.status for a in response.attempts if a.provider is GPU] == [502]
    assert "fall over" in "".join(pieces)


def test_the_queue_is_free_again_after_streams_and_errors(emu, box):
    for kind in KINDS:
        stream(kind, "one", **sdk_settings(box.url, emu, "openai"))
    emu.inject("remote_gpu_openai", Fault.http(500), endpoint="generate")
    try:
        complete("sync", "two", **sdk_settings(box.url, emu, "openai"))
    finally:
        emu.clear()
    assert box.box.slots.report() == {"running": 0, "waiting": 0, "gpus": 1, "max_waiting": 4}


def test_a_caller_leaving_a_stream_frees_the_gpu_soon():
    """40 events, one every 0.5 s (20 s in all): the caller reads one and leaves; the box
    stops relaying and frees its slot within a few seconds, not at the stream's end."""
    with ProviderEmulator(stream_chunks=40) as slow:
        slow.inject("remote_gpu_openai", Fault.trickle(interval=0.5), endpoint="generate")
        with BoxServer(slow.url_for("remote_gpu_openai")) as box:
            body = {"messages": [{"role": "user", "content": "long"}], "stream": True}
            with requests.post(f"{box.url}/v1/chat/completions", json=body, stream=True,
                               timeout=30) as reply:
                assert reply.status_code == 200
                next(reply.iter_content(16))
                assert box.box.slots.running == 1
            left = time.monotonic()
            while box.box.slots.running:
                assert time.monotonic() - left < 8, "the slot is still held"
                time.sleep(0.05)

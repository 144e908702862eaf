"""The real llama-server speaks both wire protocols the SDK uses (no SDK code involved).

Plain requests (non-streaming) and aiohttp (streaming) against 127.0.0.1, checking the
shapes the SDK's adapters rely on. Reference captures live in ``golden/``.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
import requests

pytestmark = pytest.mark.real_model

PROMPT = [{"role": "user", "content": "Say hello in one short sentence."}]
ANTHROPIC_HEADERS = {"x-api-key": "not-checked", "anthropic-version": "2023-06-01"}
TIMEOUT = 60


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    return session


async def _sse_events(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[tuple[str | None, str]]:
    """POST and read the whole SSE stream: ``[(event name or None, data), ...]``."""
    events: list[tuple[str | None, str]] = []
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
        url, json=body, headers=headers or {}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        name: str | None = None
        async for raw in resp.content:
            line = raw.decode().rstrip("\r\n")
            if not line:
                name = None
            elif line.startswith("event:"):
                name = line[len("event:"):].strip()
            elif line.startswith("data:"):
                events.append((name, line[len("data:"):].strip()))
    return events


def test_health_and_models(llama_server: Any, llama_model_name: str) -> None:
    with _session() as s:
        health = s.get(f"{llama_server.base_url}/health", timeout=TIMEOUT)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        models = s.get(f"{llama_server.base_url}/v1/models", timeout=TIMEOUT).json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == [llama_model_name]


def test_openai_chat_non_stream(llama_server: Any, llama_model_name: str) -> None:
    body = {"model": llama_model_name, "messages": PROMPT, "max_tokens": 16, "temperature": 0}
    with _session() as s:
        resp = s.post(f"{llama_server.base_url}/v1/chat/completions", json=body,
                      timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == llama_model_name
    (choice,) = data["choices"]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_openai_chat_stream(llama_server: Any, llama_model_name: str) -> None:
    body = {
        "model": llama_model_name, "messages": PROMPT, "max_tokens": 16, "temperature": 0,
        "stream": True, "stream_options": {"include_usage": True},
    }
    events = await _sse_events(f"{llama_server.base_url}/v1/chat/completions", body)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
    assert text.strip()
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] in ("stop", "length")
    # include_usage: a last chunk with no choices carries the usage.
    assert chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 16


def test_anthropic_messages_non_stream(llama_server: Any, llama_model_name: str) -> None:
    body = {"model": llama_model_name, "messages": PROMPT, "max_tokens": 16, "temperature": 0}
    with _session() as s:
        resp = s.post(f"{llama_server.base_url}/v1/messages", json=body,
                      headers=ANTHROPIC_HEADERS, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["type"] == "message" and data["role"] == "assistant"
    assert data["model"] == llama_model_name
    assert data["content"] and data["content"][0]["type"] == "text"
    assert data["content"][0]["text"].strip()
    assert data["stop_reason"] in ("end_turn", "max_tokens")
    usage = data["usage"]
    assert usage["input_tokens"] >= 0 and 0 < usage["output_tokens"] <= 16


async def test_anthropic_messages_stream(llama_server: Any, llama_model_name: str) -> None:
    body = {"model": llama_model_name, "messages": PROMPT, "max_tokens": 16,
            "temperature": 0, "stream": True}
    events = await _sse_events(f"{llama_server.base_url}/v1/messages", body,
                               ANTHROPIC_HEADERS)
    names = [name for name, _ in events]
    payloads = [json.loads(data) for _, data in events]
    # Each SSE event name matches its payload's type.
    assert names == [p["type"] for p in payloads]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names[-2] == "message_delta"
    assert "content_block_start" in names and "content_block_stop" in names
    start = payloads[0]["message"]
    assert start["role"] == "assistant" and start["model"] == llama_model_name
    assert "input_tokens" in start["usage"]
    text = "".join(
        p["delta"]["text"] for p in payloads
        if p["type"] == "content_block_delta" and p["delta"]["type"] == "text_delta"
    )
    assert text.strip()
    delta = payloads[-2]
    assert delta["delta"]["stop_reason"] in ("end_turn", "max_tokens")
    assert 0 < delta["usage"]["output_tokens"] <= 16

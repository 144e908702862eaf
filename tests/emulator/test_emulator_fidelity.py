"""The provider emulator, as a specification.

Fidelity: the official ``openai``, ``anthropic`` and ``ollama`` clients (and plain HTTP for
the Hugging Face task API and the seed's remote-GPU box) talk to it and parse its replies.
Faults: what each one puts on the wire. Scheduling, observability and lifecycle: request
numbers, probability with a seed, prompt shutdown with requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import aiohttp
import anthropic
import ollama
import openai
import pytest
import requests

from sarvanom_sdk.testing import Fault, ProviderEmulator

USER: Any = [{"role": "user", "content": "What is the capital of France?"}]
OPENAI_BODY = {"model": "gpt-4o-mini", "messages": USER}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
ANTHROPIC_BODY = {"model": "claude-3-5-haiku-20241022", "max_tokens": 64, "messages": USER}
BEARER = {"Authorization": "Bearer k"}
#: Seconds a bound may be passed by on a busy machine (issue 12): far below what the
#: faults under test would take (a hang, a 30 s delay), far above any scheduling delay.
SLACK = 5.0


@pytest.fixture
def emu(provider_emulator: ProviderEmulator) -> ProviderEmulator:
    return provider_emulator


class Clients:
    """The official clients, pointed at the emulator and closed after the test."""

    def __init__(self, emu: ProviderEmulator) -> None:
        self.emu = emu
        self.stack = ExitStack()

    def openai(self, provider: str = "openai", api_key: str = "k") -> openai.OpenAI:
        base = self.emu.url_for(provider) + ("/v1" if provider == "remote_gpu_openai" else "")
        client = openai.OpenAI(base_url=base, api_key=api_key, max_retries=0)
        return self.stack.enter_context(client)

    def anthropic(self) -> anthropic.Anthropic:
        base = self.emu.url_for("anthropic")
        client = anthropic.Anthropic(base_url=base, api_key="k", max_retries=0)
        return self.stack.enter_context(client)

    def ollama(self, provider: str = "ollama") -> ollama.Client:
        client = ollama.Client(host=self.emu.url_for(provider))
        self.stack.callback(client.close)
        return client


@pytest.fixture
def clients(emu: ProviderEmulator) -> Iterator[Clients]:
    made = Clients(emu)
    with made.stack:
        yield made


def post(
    emu: ProviderEmulator, provider: str, path: str, body: Any, **kw: Any
) -> requests.Response:
    headers = kw.pop("headers", BEARER)
    return requests.post(emu.url_for(provider) + path, json=body, headers=headers, timeout=5, **kw)


def openai_chat(emu: ProviderEmulator, body: Any = None, **kw: Any) -> requests.Response:
    return post(emu, "openai", "/chat/completions", OPENAI_BODY if body is None else body, **kw)


def sse_data(raw: bytes) -> list[str]:
    return [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]


def sse_events(raw: bytes) -> list[str]:
    return [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]


async def fetch(url: str, body: Any, headers: dict[str, str], timeout: float = 5.0) -> Any:
    """POST with aiohttp; returns (status, headers, body) or raises the client's error."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, response.headers, await response.read()


# -- OpenAI ------------------------------------------------------------------------------


def test_openai_client_parses_a_chat_completion(clients: Clients) -> None:
    before = int(time.time())
    reply = clients.openai().chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert reply.id.startswith("chatcmpl-") and len(reply.id) == len("chatcmpl-") + 29
    assert reply.object == "chat.completion" and reply.model == "gpt-4o-mini"
    assert before <= reply.created <= time.time() + 1
    choice = reply.choices[0]
    assert choice.message.content == "Emulated openai answer to: What is the capital of France?"
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 10)
    assert reply.usage.total_tokens == 16


def test_openai_client_streams_chunks_then_the_usage_chunk(clients: Clients) -> None:
    stream = clients.openai().chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Emulated openai answer to: What is the capital of France?"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 4
    assert len({c.id for c in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 10
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_stream_wire_ends_with_done_and_omits_usage_unless_asked(
    emu: ProviderEmulator,
) -> None:
    response = openai_chat(emu, {**OPENAI_BODY, "stream": True})
    assert response.headers["Content-Type"].startswith("text/event-stream")
    data = sse_data(response.content)
    assert data[-1] == "[DONE]"
    assert all("usage" not in json.loads(d) for d in data[:-1])
    assert json.loads(data[0])["choices"][0]["delta"]["role"] == "assistant"


def test_openai_client_lists_models(clients: Clients) -> None:
    assert [m.id for m in clients.openai().models.list()] == ["gpt-4o-mini", "gpt-4o"]


def test_openai_max_tokens_truncates_the_answer_with_finish_reason_length(
    clients: Clients,
) -> None:
    reply = clients.openai().chat.completions.create(
        model="gpt-4o-mini", messages=USER, max_tokens=3
    )
    assert reply.choices[0].message.content == "Emulated openai answer"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 3


def test_openai_missing_messages_is_a_400_naming_the_parameter(emu: ProviderEmulator) -> None:
    response = openai_chat(emu, {"model": "gpt-4o-mini"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages" and error["type"] == "invalid_request_error"
    assert error["code"] == "missing_required_parameter"


def test_openai_requires_a_bearer_key(emu: ProviderEmulator) -> None:
    response = openai_chat(emu, headers={})
    assert response.status_code == 401
    assert "didn't provide an API key" in response.json()["error"]["message"]


@pytest.mark.provider_emulator(api_keys={"openai": "sk-right"})
def test_openai_wrong_configured_key_gets_invalid_api_key(clients: Clients) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        clients.openai(api_key="sk-wrong").chat.completions.create(
            model="gpt-4o-mini", messages=USER
        )
    assert caught.value.code == "invalid_api_key"
    ok = clients.openai(api_key="sk-right").chat.completions.create(
        model="gpt-4o-mini", messages=USER
    )
    assert ok.choices[0].message.content


# -- Anthropic ---------------------------------------------------------------------------


def test_anthropic_client_parses_a_message(clients: Clients) -> None:
    message = clients.anthropic().messages.create(
        model="claude-3-5-haiku-20241022", max_tokens=64, messages=USER, system="Be brief."
    )
    assert message.id.startswith("msg_01") and message.type == "message"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Emulated anthropic answer to: What is the capital of France?"
    assert message.stop_reason == "end_turn" and message.model == "claude-3-5-haiku-20241022"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (8, 10)


def test_anthropic_stream_helper_collects_text_and_final_message(clients: Clients) -> None:
    with clients.anthropic().messages.stream(
        model="claude-3-5-haiku-20241022", max_tokens=4, messages=USER
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "Emulated anthropic answer to:"
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 4


def test_anthropic_stream_wire_has_the_full_event_sequence(emu: ProviderEmulator) -> None:
    body = {**ANTHROPIC_BODY, "stream": True}
    response = post(emu, "anthropic", "/v1/messages", body, headers=ANTHROPIC_HEADERS)
    events = sse_events(response.content)
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[3:-3] == ["content_block_delta"] * 4
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    data = [json.loads(d) for d in sse_data(response.content)]
    assert [d["type"] for d in data] == events
    assert data[-2]["usage"]["output_tokens"] == 10
    assert response.headers["request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"anthropic-version": "2023-06-01"}, ANTHROPIC_BODY, 401, "x-api-key header is required"),
        ({"x-api-key": "k"}, ANTHROPIC_BODY, 400, "anthropic-version: header is required"),
        (ANTHROPIC_HEADERS, {"model": "m", "messages": USER}, 400, "max_tokens: Field required"),
    ],
)
def test_anthropic_validates_headers_and_body_like_the_api(
    emu: ProviderEmulator, headers: dict[str, str], body: Any, status: int, message: str
) -> None:
    response = post(emu, "anthropic", "/v1/messages", body, headers=headers)
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["message"] == message
    expected = "authentication_error" if status == 401 else "invalid_request_error"
    assert payload["error"]["type"] == expected


def test_anthropic_client_lists_models(clients: Clients) -> None:
    page = clients.anthropic().models.list()
    assert page.data[0].id == "claude-3-5-haiku-20241022" and page.has_more is False


# -- Ollama ------------------------------------------------------------------------------


def test_ollama_client_chat_whole_and_streamed(clients: Clients) -> None:
    client = clients.ollama("ollama_local")
    whole = client.chat(model="deepseek-r1:8b", messages=USER)
    assert whole.message.content == "Emulated ollama answer to: What is the capital of France?"
    assert whole.done and whole.done_reason == "stop"
    assert (whole.prompt_eval_count, whole.eval_count) == (6, 10)
    parts = list(client.chat(model="deepseek-r1:8b", messages=USER, stream=True))
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert [p.done for p in parts] == [False] * 4 + [True]
    assert parts[-1].eval_count == 10


def test_ollama_client_think_separates_reasoning(clients: Clients) -> None:
    client = clients.ollama()
    reply = client.chat(model="deepseek-r1:8b", messages=USER, think=True)
    assert reply.message.thinking and "France" in reply.message.thinking
    assert "<think>" not in (reply.message.content or "")


def test_ollama_client_generate_and_list(clients: Clients) -> None:
    client = clients.ollama()
    reply = client.generate(model="deepseek-r1:8b", prompt="hi", options={"num_predict": 2})
    assert reply.response == "Emulated ollama" and reply.done_reason == "length"
    assert [m.model for m in client.list().models] == ["deepseek-r1:8b", "llama3.2:3b"]


def test_ollama_streams_ndjson_when_stream_is_not_given(emu: ProviderEmulator) -> None:
    response = post(emu, "ollama", "/api/chat", {"model": "m", "messages": USER}, headers={})
    assert response.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.content.splitlines()]
    assert [line["done"] for line in lines] == [False] * 4 + [True]


def test_ollama_missing_model_is_a_400_error_string(emu: ProviderEmulator) -> None:
    response = post(emu, "ollama", "/api/chat", {"messages": USER}, headers={})
    assert (response.status_code, response.json()) == (400, {"error": "model is required"})


# -- Hugging Face ------------------------------------------------------------------------


def test_huggingface_router_speaks_openai_with_flat_errors(
    emu: ProviderEmulator, clients: Clients
) -> None:
    reply = clients.openai("huggingface").chat.completions.create(
        model="meta-llama/Llama-3.1-8B-Instruct", messages=USER
    )
    assert (reply.choices[0].message.content or "").startswith("Emulated huggingface answer")
    response = post(emu, "huggingface", "/chat/completions", OPENAI_BODY, headers={})
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid username or password."}


def test_huggingface_task_api_returns_generated_text(emu: ProviderEmulator) -> None:
    body = {"inputs": "Once upon", "parameters": {"return_full_text": False}}
    response = post(emu, "huggingface_task", "/models/openai-community/gpt2", body)
    assert response.json() == [{"generated_text": "Emulated huggingface_task answer to: Once upon"}]
    full = post(emu, "huggingface_task", "/models/gpt2", {"inputs": "Once upon"}).json()
    assert full[0]["generated_text"].startswith("Once upon Emulated")
    limited = {"inputs": "x", "parameters": {"max_new_tokens": 1, "return_full_text": False}}
    assert post(emu, "huggingface_task", "/models/gpt2", limited).json()[0] == {
        "generated_text": "Emulated"
    }


def test_huggingface_task_503_says_the_model_is_loading(emu: ProviderEmulator) -> None:
    emu.inject("huggingface_task", Fault.http(503))
    response = post(emu, "huggingface_task", "/models/gpt2", {"inputs": "x"})
    assert response.status_code == 503
    assert response.json() == {"error": "Model is currently loading", "estimated_time": 20.0}


# -- remote GPU --------------------------------------------------------------------------


def test_remote_gpu_seed_protocol(emu: ProviderEmulator) -> None:
    health = requests.get(emu.url_for("remote_gpu") + "/health", timeout=5)
    assert health.json() == {"status": "healthy", "model": "gpt2"}
    body = {"prompt": "Hello GPU", "max_tokens": 1}
    reply = post(emu, "remote_gpu", "/generate", body, headers={}).json()
    assert reply == {"content": "Emulated remote_gpu answer to: Hello GPU"}
    broken = post(emu, "remote_gpu", "/generate", {"inputs": "x"}, headers={})
    assert (broken.status_code, broken.text) == (500, "Internal Server Error")


def test_remote_gpu_openai_box_serves_openai_and_health(
    emu: ProviderEmulator, clients: Clients
) -> None:
    client = clients.openai("remote_gpu_openai")
    reply = client.chat.completions.create(model="default", messages=USER)
    assert (reply.choices[0].message.content or "").startswith("Emulated remote_gpu_openai")
    assert [m.id for m in client.models.list()] == ["default"]
    health = requests.get(emu.url_for("remote_gpu_openai") + "/health", timeout=5)
    assert health.json() == {"status": "ok"}


@pytest.mark.provider_emulator(api_keys={"remote_gpu": "tok"})
def test_remote_gpu_checks_a_bearer_token_only_when_configured(emu: ProviderEmulator) -> None:
    body = {"prompt": "x"}
    assert post(emu, "remote_gpu", "/generate", body, headers={}).status_code == 401
    ok = post(emu, "remote_gpu", "/generate", body, headers={"Authorization": "Bearer tok"})
    assert ok.status_code == 200


# -- answers, URLs -----------------------------------------------------------------------


@pytest.mark.provider_emulator(reply_text=lambda provider, prompt: f"{provider}:{prompt[::-1]}")
def test_reply_text_callable_gets_provider_and_prompt(clients: Clients) -> None:
    reply = clients.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "abc"}]
    )
    assert reply.choices[0].message.content == "openai:cba"


def test_url_for_maps_every_provider(emu: ProviderEmulator) -> None:
    root = f"http://127.0.0.1:{emu.port}"
    expected = {
        "ollama": "/ollama",
        "ollama_local": "/ollama",
        "remote_gpu": "/remote_gpu",
        "remote_gpu_openai": "/remote_gpu_openai",
        "huggingface": "/huggingface/v1",
        "huggingface_task": "/huggingface",
        "openai": "/openai/v1",
        "anthropic": "/anthropic",
    }
    assert {name: emu.url_for(name) for name in expected} == {
        name: root + path for name, path in expected.items()
    }
    with pytest.raises(ValueError, match="unknown provider 'gemini'"):
        emu.url_for("gemini")


# -- faults: error statuses --------------------------------------------------------------


def test_http_fault_uses_openai_error_shape_and_retry_after(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.http(429, retry_after=2.5))
    response = openai_chat(emu)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2.5"
    assert response.headers["retry-after-ms"] == "2500"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_http_529_is_anthropics_overloaded_error(emu: ProviderEmulator, clients: Clients) -> None:
    emu.inject("anthropic", Fault.http(529))
    with pytest.raises(anthropic.APIStatusError) as caught:
        clients.anthropic().messages.create(model="m", max_tokens=5, messages=USER)
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


@pytest.mark.parametrize(
    ("provider", "path", "body", "key", "expected"),
    [
        ("ollama", "/api/chat", {"model": "m"}, "error", "not found, try pulling it first"),
        ("remote_gpu", "/generate", {"prompt": "x"}, "detail", "Not Found"),
        ("huggingface", "/chat/completions", OPENAI_BODY, "error", "Model not found"),
    ],
)
def test_http_fault_uses_each_providers_error_shape(
    emu: ProviderEmulator, provider: str, path: str, body: Any, key: str, expected: str
) -> None:
    emu.inject(provider, Fault.http(404))
    response = post(emu, provider, path, body)
    assert response.status_code == 404 and expected in response.json()[key]


def test_http_fault_with_a_custom_body(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.http(502, body="upstream connect error"))
    response = openai_chat(emu)
    assert (response.status_code, response.text) == (502, "upstream connect error")


# -- faults: connections -----------------------------------------------------------------


async def test_refuse_closes_the_connection_without_a_response(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.refuse(), times=1)
    url = emu.url_for("openai") + "/chat/completions"
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(url, OPENAI_BODY, BEARER)
    status, _, _ = await fetch(url, OPENAI_BODY, BEARER)
    assert status == 200


async def test_refused_url_refuses_connections(emu: ProviderEmulator) -> None:
    url = emu.refused_url("openai")
    assert url.endswith("/openai/v1") and url != emu.url_for("openai")
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await fetch(url + "/chat/completions", OPENAI_BODY, BEARER)
    assert isinstance(caught.value.os_error, ConnectionRefusedError)


async def test_hang_times_out_the_client(emu: ProviderEmulator) -> None:
    emu.inject("anthropic", Fault.hang())
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await fetch(
            emu.url_for("anthropic") + "/v1/messages", ANTHROPIC_BODY, ANTHROPIC_HEADERS, 0.2
        )
    assert time.monotonic() - started < 0.2 + SLACK


async def test_delay_holds_the_status_line(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.delay(0.15))
    started = time.monotonic()
    status, _, _ = await fetch(emu.url_for("openai") + "/chat/completions", OPENAI_BODY, BEARER)
    assert status == 200 and 0.15 <= time.monotonic() - started < 0.15 + SLACK


def test_trickle_sends_the_body_at_the_given_rate(emu: ProviderEmulator) -> None:
    emu.inject("remote_gpu", Fault.trickle(bytes_per_second=200, chunk_bytes=8))
    started = time.monotonic()
    response = post(emu, "remote_gpu", "/generate", {"prompt": "x"}, headers={}, stream=True)
    headers_after = time.monotonic() - started
    body = response.raw.read()
    elapsed = time.monotonic() - started
    assert json.loads(body) == {"content": "Emulated remote_gpu answer to: x"}
    pacing = len(body) / 200  # 46 bytes: ~0.23 s
    # lower bounds only (a frozen reader may take headers and body in one go): the body
    # cannot arrive faster than its pacing, and the headers came first
    assert pacing * 0.9 <= elapsed < pacing + SLACK
    assert headers_after <= elapsed


def test_trickle_interval_paces_each_stream_event(emu: ProviderEmulator) -> None:
    emu.inject("ollama", Fault.trickle(interval=0.04))
    started = time.monotonic()
    response = post(emu, "ollama", "/api/chat", {"model": "m", "messages": USER}, stream=True)
    arrivals = [time.monotonic() - started for _ in response.iter_lines()]
    assert len(arrivals) == 5
    # No event can arrive before its pause has passed; a busy client may read several
    # at once, so only these lower bounds hold whatever the load.
    assert all(at >= (n + 1) * 0.04 * 0.9 for n, at in enumerate(arrivals)), arrivals


# -- faults: bodies ----------------------------------------------------------------------


def test_malformed_json_whole_body_does_not_parse(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.malformed_json())
    response = openai_chat(emu)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_malformed_json_breaks_only_the_first_content_event(emu: ProviderEmulator) -> None:
    emu.inject("anthropic", Fault.malformed_json())
    body = {**ANTHROPIC_BODY, "stream": True}
    data = sse_data(post(emu, "anthropic", "/v1/messages", body, headers=ANTHROPIC_HEADERS).content)
    broken = []
    for index, payload in enumerate(data):
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            broken.append(index)
    assert broken == [3]


def test_html_fault_is_a_tunnel_interstitial(emu: ProviderEmulator) -> None:
    emu.inject("remote_gpu", Fault.html())
    response = post(emu, "remote_gpu", "/generate", {"prompt": "x"}, headers={})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "ngrok-skip-browser-warning" in response.text


def test_empty_fault_is_200_with_no_body(emu: ProviderEmulator) -> None:
    emu.inject("ollama", Fault.empty())
    response = post(emu, "ollama", "/api/chat", {"model": "m", "stream": False}, headers={})
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["Content-Length"] == "0"


async def test_cut_stream_drops_the_connection_before_the_terminator(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.cut_stream())
    received = b""
    url = emu.url_for("openai") + "/chat/completions"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={**OPENAI_BODY, "stream": True}, headers=BEARER) as response,
    ):
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in response.content.iter_any():
                received += chunk
    events = sse_data(received)
    assert 2 <= len(events) <= 4 and "[DONE]" not in events


async def test_cut_stream_on_a_whole_body_falls_short_of_content_length(
    emu: ProviderEmulator,
) -> None:
    emu.inject("openai", Fault.cut_stream())
    with pytest.raises(aiohttp.ClientPayloadError, match="content length"):
        await fetch(emu.url_for("openai") + "/chat/completions", OPENAI_BODY, BEARER)


@pytest.mark.parametrize(
    ("provider", "path", "body", "headers", "terminator"),
    [
        ("openai", "/chat/completions", {**OPENAI_BODY, "stream": True}, BEARER, b"[DONE]"),
        ("anthropic", "/v1/messages", {**ANTHROPIC_BODY, "stream": True}, ANTHROPIC_HEADERS,
         b"message_stop"),
        ("ollama", "/api/chat", {"model": "m", "messages": USER}, {}, b'"done":true'),
    ],
)  # fmt: skip
def test_no_terminator_ends_the_stream_cleanly_without_its_end_marker(
    emu: ProviderEmulator,
    provider: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    terminator: bytes,
) -> None:
    normal = post(emu, provider, path, body, headers=headers).content
    emu.inject(provider, Fault.no_terminator())
    response = post(emu, provider, path, body, headers=headers)
    assert response.status_code == 200
    assert terminator in normal and terminator not in response.content
    assert normal.startswith(response.content[:10]) and len(response.content) < len(normal)


def test_stream_error_reaches_each_official_client(emu: ProviderEmulator, clients: Clients) -> None:
    for provider in ("openai", "anthropic", "ollama"):
        emu.inject(provider, Fault.stream_error())
    with pytest.raises(openai.APIError, match="server had an error"):
        list(
            clients.openai().chat.completions.create(
                model="gpt-4o-mini", messages=USER, stream=True
            )
        )
    with pytest.raises(anthropic.APIError, match="Overloaded"):  # noqa: SIM117
        with clients.anthropic().messages.stream(model="m", max_tokens=64, messages=USER) as stream:
            list(stream.text_stream)
    with pytest.raises(ollama.ResponseError, match="unexpected EOF"):
        list(clients.ollama().chat(model="m", messages=USER, stream=True))


def test_stream_error_on_anthropic_wire_is_an_error_event(emu: ProviderEmulator) -> None:
    emu.inject("anthropic", Fault.stream_error())
    body = {**ANTHROPIC_BODY, "stream": True}
    raw = post(emu, "anthropic", "/v1/messages", body, headers=ANTHROPIC_HEADERS).content
    events = sse_events(raw)
    assert events[-1] == "error" and "content_block_delta" in events
    assert "message_stop" not in events
    assert json.loads(sse_data(raw)[-1])["error"]["type"] == "overloaded_error"


def test_stream_error_on_a_whole_request_is_a_500(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.stream_error())
    response = openai_chat(emu)
    assert response.status_code == 500 and response.json()["error"]["type"] == "server_error"


def test_oversized_body_is_valid_and_at_least_n_bytes(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.oversized(200_000), times=2)
    whole = openai_chat(emu)
    assert len(whole.content) >= 200_000
    assert len(whole.json()["choices"][0]["message"]["content"]) == 200_000
    streamed = openai_chat(emu, {**OPENAI_BODY, "stream": True, "max_tokens": 1})
    data = sse_data(streamed.content)
    assert len(streamed.content) >= 200_000 and data[-1] == "[DONE]"
    assert len(data) > 200_000 // 4096


# -- scheduling --------------------------------------------------------------------------


def test_on_requests_faults_exactly_those_request_numbers(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.http(503), on_requests=[2, 3])
    statuses = [openai_chat(emu).status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert [r.fault is not None for r in emu.requests("openai")] == [False, True, True, False]


def test_times_limits_how_often_a_rule_fires(emu: ProviderEmulator) -> None:
    rule = emu.inject("openai", Fault.http(500), times=2)
    assert [openai_chat(emu).status_code for _ in range(3)] == [500, 500, 200]
    assert rule.fired == 2


def test_probability_with_a_seed_is_reproducible(emu: ProviderEmulator) -> None:
    def pattern(seed: int) -> list[int]:
        emu.clear()
        emu.inject("remote_gpu", Fault.http(503), probability=0.3, seed=seed)
        return [
            post(emu, "remote_gpu", "/generate", {"prompt": "x"}, headers={}).status_code
            for _ in range(40)
        ]

    first, again, other = pattern(7), pattern(7), pattern(8)
    assert first == again and first != other
    assert 4 <= first.count(503) <= 24


def test_endpoint_filter_spares_probes(emu: ProviderEmulator) -> None:
    emu.inject("ollama", Fault.http(500), endpoint="generate")
    assert requests.get(emu.url_for("ollama") + "/api/tags", timeout=5).status_code == 200
    assert post(emu, "ollama", "/api/generate", {"model": "m"}, headers={}).status_code == 500
    assert emu.request_count("ollama") == 2
    assert emu.request_count("ollama", endpoint="generate") == 1


def test_first_matching_rule_wins_and_clear_removes_rules(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.http(429), times=1)
    emu.inject("openai", Fault.http(503))
    emu.inject("anthropic", Fault.http(529))
    assert [openai_chat(emu).status_code for _ in range(2)] == [429, 503]
    emu.clear("openai")
    assert openai_chat(emu).status_code == 200
    body = ANTHROPIC_BODY
    assert post(emu, "anthropic", "/v1/messages", body, headers=ANTHROPIC_HEADERS).status_code == (
        529
    )


def test_fault_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Fault.trickle()
    with pytest.raises(ValueError, match="status"):
        Fault.http(42)
    with ProviderEmulator() as emu:
        with pytest.raises(ValueError, match="1-based"):
            emu.inject("openai", Fault.hang(), on_requests=[0])
        with pytest.raises(ValueError, match="seed"):
            emu.inject("openai", Fault.hang(), seed=1)


# -- observability -----------------------------------------------------------------------


def test_requests_are_recorded_with_method_path_headers_and_json(
    emu: ProviderEmulator, clients: Clients
) -> None:
    clients.openai().chat.completions.create(model="gpt-4o-mini", messages=USER)
    requests.get(emu.url_for("openai") + "/models", headers=BEARER, timeout=5)
    first, second = emu.requests("openai")
    assert (first.number, first.method, first.path) == (1, "POST", "/openai/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer k"
    assert first.json == {"model": "gpt-4o-mini", "messages": USER}
    assert (second.number, second.method, second.endpoint) == (2, "GET", "probe")
    assert emu.request_count("openai") == 2 and emu.request_count() == 2
    assert emu.requests("anthropic") == []


def test_reset_forgets_requests_and_restarts_numbering(emu: ProviderEmulator) -> None:
    emu.inject("openai", Fault.http(503), on_requests=[1])
    assert openai_chat(emu).status_code == 503
    emu.reset()
    assert emu.request_count("openai") == 0 and emu.requests() == []
    assert openai_chat(emu).status_code == 503  # request 1 again


# -- lifecycle ---------------------------------------------------------------------------


def test_sync_start_and_stop() -> None:
    emu = ProviderEmulator()
    with pytest.raises(RuntimeError, match="not running"):
        emu.url_for("openai")
    emu.start()
    try:
        assert openai_chat(emu).status_code == 200
        with pytest.raises(RuntimeError, match="already running"):
            emu.start()
    finally:
        emu.stop()
    emu.stop()  # idempotent
    assert not emu.running


async def test_async_context_manager_runs_on_the_callers_loop() -> None:
    async with ProviderEmulator(reply_text="pong") as emu:
        status, _, body = await fetch(emu.url_for("openai") + "/chat/completions", OPENAI_BODY,
                                      BEARER)  # fmt: skip
        assert status == 200
        assert json.loads(body)["choices"][0]["message"]["content"] == "pong"
        with pytest.raises(RuntimeError, match="astop"):
            emu.stop()
    assert not emu.running


def _call_in_thread(url: str, outcome: dict[str, Any]) -> threading.Thread:
    def call() -> None:
        try:
            requests.post(url, json=OPENAI_BODY, headers=BEARER, timeout=10)
        except requests.RequestException as error:
            outcome["error"] = error

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def _wait_for_requests(emu: ProviderEmulator, count: int) -> None:
    deadline = time.monotonic() + 5
    while emu.request_count() < count and time.monotonic() < deadline:
        time.sleep(0.002)
    assert emu.request_count() == count


@pytest.mark.parametrize("fault", [Fault.hang(), Fault.delay(30), Fault.trickle(interval=30)])
def test_stop_is_prompt_with_slow_requests_in_flight(fault: Fault) -> None:
    emu = ProviderEmulator().start()
    emu.inject("openai", fault)
    outcome: dict[str, Any] = {}
    thread = _call_in_thread(emu.url_for("openai") + "/chat/completions", outcome)
    _wait_for_requests(emu, 1)
    started = time.monotonic()
    emu.stop()
    thread.join(5)
    assert time.monotonic() - started < SLACK  # not the 30 s the fault would take
    assert not thread.is_alive() and "error" in outcome


async def test_astop_is_prompt_with_a_hanging_request_in_flight() -> None:
    emu = await ProviderEmulator().astart()
    emu.inject("ollama", Fault.hang())
    url = emu.url_for("ollama") + "/api/chat"
    pending = asyncio.ensure_future(fetch(url, {"model": "m"}, {}, timeout=10))
    deadline = time.monotonic() + 5
    while emu.request_count() == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    assert emu.request_count() == 1
    started = time.monotonic()
    await emu.astop()
    assert time.monotonic() - started < SLACK
    with pytest.raises(aiohttp.ClientError):
        await pending


@pytest.mark.provider_emulator(latency=0.1, stream_chunks=2)
def test_latency_and_stream_chunks_options(emu: ProviderEmulator) -> None:
    started = time.monotonic()
    response = openai_chat(emu, {**OPENAI_BODY, "stream": True})
    assert time.monotonic() - started >= 0.1
    deltas = [json.loads(d)["choices"][0]["delta"] for d in sse_data(response.content)[:-1]]
    pieces = [delta["content"] for delta in deltas if delta.get("content")]
    assert pieces == ["Emulated openai answer to: What ", "is the capital of France?"]


@pytest.mark.provider_emulator(max_records=2)
def test_max_records_keeps_the_latest_requests_but_exact_counts(emu: ProviderEmulator) -> None:
    for _ in range(3):
        openai_chat(emu)
    assert [r.number for r in emu.requests()] == [2, 3]
    assert emu.request_count("openai") == 3


def test_start_on_a_busy_port_raises_and_leaves_it_stopped(emu: ProviderEmulator) -> None:
    second = ProviderEmulator(port=emu.port)
    with pytest.raises(OSError):
        second.start()
    assert not second.running
    second.stop()  # nothing to stop


@pytest.fixture
def many_emulators() -> Iterator[list[ProviderEmulator]]:
    emulators = [ProviderEmulator().start() for _ in range(3)]
    yield emulators
    for emulator in emulators:
        emulator.stop()


def test_emulators_are_independent(many_emulators: list[ProviderEmulator]) -> None:
    ports = {e.port for e in many_emulators}
    assert len(ports) == 3
    many_emulators[0].inject("openai", Fault.http(503))
    assert [openai_chat(e).status_code for e in many_emulators] == [503, 200, 200]
    assert [e.request_count() for e in many_emulators] == [1, 1, 1]

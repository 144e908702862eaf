"""Issue 13 item 3 through the gateway: the stream recovery policy on the wire (a restart
comment OpenAI clients skip, the ``x-sarvanom-stream-recovery`` header, a seamless
continuation), and every stream that does not end complete ending with an error event in
OpenAI's shape (never ``[DONE]``); content-filter and context-length refusals as 400s."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from gateway_helpers import ThreadedGateway, openai_client
from reliability.helpers import chain
from sse_reader import post_stream

from sarvanom_sdk import AsyncSarvanClient
from sarvanom_sdk.gateway import CallerPolicy, create_app, openai_compat
from sarvanom_sdk.testing import Fault, ProviderEmulator

STORY = [{"role": "user", "content": "Tell me a story"}]
BODY = {"model": "sarvanom/auto", "messages": STORY}
OPENAI_ANSWER = "Emulated openai answer to: Tell me a story"


def _gateway(emu: ProviderEmulator, *names: str, callers: CallerPolicy | None = None,
             **overrides: Any) -> ThreadedGateway:
    settings = chain(emu, *names, cache_ttl_seconds=0, **overrides)
    return ThreadedGateway(create_app(AsyncSarvanClient(**settings, env_file=None),
                                      callers=callers))


@pytest.fixture
def restarting(emulator: ProviderEmulator) -> Iterator[ThreadedGateway]:
    """Ollama cuts its streams half-way; OpenAI answers; the client restarts."""
    emulator.inject("ollama", Fault.cut_stream())
    with _gateway(emulator, "ollama", "openai", stream_recovery="restart") as gateway:
        yield gateway


def test_issue13_restart_sends_a_restart_comment_then_the_next_providers_whole_answer(
    restarting: ThreadedGateway,
) -> None:
    raw = post_stream(restarting.url, BODY)
    assert raw.status == 200 and raw.done and raw.error is None
    assert raw.headers["x-sarvanom-stream-recovery"] == "restart"
    assert raw.restarts == [{"provider": "openai", "model": "sarvanom/openai/gpt-4o-mini"}]
    before = raw.text(honour_restart=False).removesuffix(raw.text())
    assert before.startswith("Emulated ollama")  # ollama's part, then discarded
    assert raw.text() == OPENAI_ANSWER  # a client honouring the comment has the whole answer
    models = raw.models()
    assert models[0] == "sarvanom/ollama_local/deepseek-r1:8b"
    assert models[-1] == "sarvanom/openai/gpt-4o-mini"  # after the restart: who answers


def test_issue13_the_official_client_skips_the_restart_comment(
    restarting: ThreadedGateway,
) -> None:
    """The comment is invisible to the official client (a named event would reach it as a
    broken chunk): every chunk it yields is a well-formed chunk, and the stream ends
    without an error."""
    client = openai_client(restarting)
    raw = client.chat.completions.with_raw_response.create(
        model="sarvanom/auto", messages=STORY, stream=True
    )
    chunks = list(raw.parse())
    assert chunks and all(c.object == "chat.completion.chunk" and c.choices for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.endswith(OPENAI_ANSWER) and text != OPENAI_ANSWER  # old text, then the new
    assert raw.headers["x-sarvanom-stream-recovery"] == "restart"

    async def read_async() -> list[Any]:
        async_client = openai.AsyncOpenAI(
            base_url=f"{restarting.url}/v1", api_key="unused", max_retries=0, timeout=30.0
        )
        async with async_client:
            stream = await async_client.chat.completions.create(
                model="sarvanom/auto", messages=STORY, stream=True
            )
            return [chunk async for chunk in stream]

    async_chunks = asyncio.run(read_async())
    assert all(c.choices for c in async_chunks)
    assert "".join(c.choices[0].delta.content or "" for c in async_chunks).endswith(
        OPENAI_ANSWER
    )


def test_issue13_a_request_may_ask_for_restart_when_the_caller_policy_allows_it(
    emulator: ProviderEmulator,
) -> None:
    emulator.inject("ollama", Fault.cut_stream())
    with _gateway(emulator, "ollama", "openai") as gateway:  # the client raises by default
        raw = post_stream(gateway.url, {**BODY, "stream_recovery": "restart"})
        assert raw.headers["x-sarvanom-stream-recovery"] == "restart"
        assert raw.done and raw.text() == OPENAI_ANSWER
        raw = post_stream(gateway.url, BODY)
        assert raw.headers["x-sarvanom-stream-recovery"] == "raise"
        assert not raw.done and raw.error["code"] == "stream_interrupted"
        with pytest.raises(openai.BadRequestError) as caught:
            openai_client(gateway).chat.completions.create(
                model="sarvanom/auto", messages=STORY, stream=True,
                extra_body={"stream_recovery": "resume"},
            )
        assert caught.value.param == "stream_recovery"
    with _gateway(emulator, "ollama", "openai", callers=CallerPolicy.parse("cache")) as gateway:
        with pytest.raises(openai.BadRequestError) as caught:
            openai_client(gateway).chat.completions.create(
                model="sarvanom/auto", messages=STORY, stream=True,
                extra_body={"stream_recovery": "restart"},
            )
        assert caught.value.code == "override_not_allowed"


def test_issue13_continue_appends_the_next_providers_continuation_seamlessly(
    emulator: ProviderEmulator,
) -> None:
    emulator.inject("ollama", Fault.cut_stream())
    with _gateway(emulator, "ollama", "anthropic", stream_recovery="continue") as gateway:
        raw = post_stream(gateway.url, BODY)
        assert raw.headers["x-sarvanom-stream-recovery"] == "continue"
        assert raw.done and raw.error is None and raw.restarts == []
        sent = emulator.requests("anthropic")[-1].json["messages"]
        assert sent[-1]["role"] == "assistant"
        partial = sent[-1]["content"]
        assert raw.text().startswith(partial) and len(raw.text()) > len(partial)
        assert raw.models()[-1].startswith("sarvanom/anthropic/")
        chunks = list(openai_client(gateway).chat.completions.create(
            model="sarvanom/auto", messages=STORY, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith(partial)


def test_issue13_raise_ends_a_cut_stream_with_an_error_the_official_client_raises(
    emulator: ProviderEmulator,
) -> None:
    emulator.inject("ollama", Fault.cut_stream())
    with _gateway(emulator, "ollama", "openai") as gateway, pytest.raises(
        openai.APIError
    ) as caught:
        for _ in openai_client(gateway).chat.completions.create(
            model="sarvanom/auto", messages=STORY, stream=True
        ):
            pass
    assert caught.value.code == "stream_interrupted"
    assert emulator.request_count("openai") == 0


def test_issue13_a_content_filter_mid_stream_ends_with_a_content_filter_error(
    emulator: ProviderEmulator,
) -> None:
    emulator.inject("openai", Fault.content_filter("output"))
    with _gateway(emulator, "openai", "anthropic") as gateway:
        raw = post_stream(gateway.url, BODY)
        assert raw.status == 200 and not raw.done
        assert raw.error["code"] == "content_filter"
        assert raw.error["type"] == "invalid_request_error"
        assert raw.text(honour_restart=False)  # the half the provider sent, then the error
        emulator.inject("openai", Fault.content_filter("output"))
        with pytest.raises(openai.APIError) as caught:
            for _ in openai_client(gateway).chat.completions.create(
                model="sarvanom/auto", messages=STORY, stream=True
            ):
                pass
        assert caught.value.code == "content_filter"
    assert emulator.request_count("anthropic") == 0


@pytest.mark.parametrize("stream", [False, True])
def test_issue13_a_content_filter_before_any_content_is_a_400(
    emulator: ProviderEmulator, stream: bool
) -> None:
    emulator.inject("openai", Fault.content_filter("prompt"))
    with _gateway(emulator, "openai", "anthropic") as gateway, pytest.raises(
        openai.BadRequestError
    ) as caught:
        openai_client(gateway).chat.completions.create(
            model="sarvanom/auto", messages=STORY, stream=stream
        )
    assert caught.value.status_code == 400
    assert caught.value.code == "content_filter"
    assert "safety" in caught.value.message or "content" in caught.value.message
    assert emulator.request_count("anthropic") == 0


def test_issue13_a_non_streamed_output_filter_is_a_400_too(emulator: ProviderEmulator) -> None:
    emulator.inject("openai", Fault.content_filter("output"))
    with _gateway(emulator, "openai") as gateway, pytest.raises(
        openai.BadRequestError
    ) as caught:
        openai_client(gateway).chat.completions.create(model="sarvanom/auto", messages=STORY)
    assert caught.value.code == "content_filter"


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_issue13_context_length_on_every_provider_is_a_400_context_length_exceeded(
    emulator: ProviderEmulator, stream: bool, strict: bool
) -> None:
    """Every provider refuses the request as too long: not the stub's placeholder (nor a
    strict 503) but OpenAI's 400, with each provider's reason."""
    emulator.inject("remote_gpu_openai", Fault.context_length())
    emulator.inject("anthropic", Fault.context_length())
    with _gateway(
        emulator, "remote_gpu_openai", "anthropic", fallback_to_stub=not strict
    ) as gateway, pytest.raises(openai.BadRequestError) as caught:
        openai_client(gateway).chat.completions.create(
            model="sarvanom/auto", messages=STORY, stream=stream
        )
    error = caught.value
    assert (error.status_code, error.code, error.param) == (
        400, "context_length_exceeded", "messages"
    )
    assert "remote_gpu:" in error.message and "anthropic:" in error.message
    assert "prompt is too long" in error.message


def test_issue13_context_length_on_one_provider_falls_over(emulator: ProviderEmulator) -> None:
    emulator.inject("remote_gpu_openai", Fault.context_length())
    with _gateway(emulator, "remote_gpu_openai", "openai") as gateway:
        completion = openai_client(gateway).chat.completions.create(
            model="sarvanom/auto", messages=STORY
        )
    assert completion.choices[0].message.content == OPENAI_ANSWER


def test_issue13_a_gateway_fault_mid_stream_never_looks_like_a_complete_answer(
    emulator: ProviderEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = openai_compat._delta
    calls = []

    def breaks_on_the_second_chunk(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug")
        return real(*args)

    monkeypatch.setattr(openai_compat, "_delta", breaks_on_the_second_chunk)
    with _gateway(emulator, "openai") as gateway:
        raw = post_stream(gateway.url, BODY)
    assert not raw.done
    assert raw.error["code"] == "internal_error"


def test_issue13_the_seed_query_endpoint_answers_refusals_as_400s_too(
    emulator: ProviderEmulator,
) -> None:
    import requests

    emulator.inject("openai", Fault.content_filter("prompt"))
    with _gateway(emulator, "openai", "anthropic") as gateway:
        reply = requests.post(f"{gateway.url}/api/query", json={"prompt": "x"}, timeout=30)
        assert (reply.status_code, reply.json()["error"]["code"]) == (400, "content_filter")
        emulator.clear()
        emulator.inject("openai", Fault.context_length())
        emulator.inject("anthropic", Fault.context_length())
        reply = requests.post(f"{gateway.url}/api/query", json={"prompt": "x"}, timeout=30)
        assert (reply.status_code, reply.json()["error"]["code"]) == (
            400, "context_length_exceeded"
        )

"""The /v1 endpoints with the official ``openai`` client, changing only ``base_url``."""

from __future__ import annotations

import openai
import pytest
from gateway_helpers import (
    JSON_TYPE,
    TOKEN,
    ThreadedGateway,
    ollama_client,
    openai_client,
    stub_client,
)

from sarvanom_sdk.gateway import create_app
from sarvanom_sdk.testing import Fault

HI = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def served(emulator):
    with ThreadedGateway(create_app(ollama_client(emulator))) as gateway:
        yield gateway


def test_chat_completion(served, emulator) -> None:
    client = openai_client(served)
    raw = client.chat.completions.with_raw_response.create(
        model="sarvanom/auto",
        messages=HI,
        max_tokens=50,
        temperature=0.1,
        extra_headers={"X-Request-ID": "oa-1"},
    )
    assert raw.headers["x-request-id"] == "oa-1"
    assert raw.headers["x-sarvanom-provider"] == "ollama_local"
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "sarvanom/ollama_local/deepseek-r1:8b"  # issue 13 item 2
    assert raw.headers["x-sarvanom-model"] == "deepseek-r1:8b"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Emulated ollama answer to: What is the capital of France?"
    assert choice.finish_reason == "stop"
    assert (
        completion.usage.total_tokens
        == (completion.usage.prompt_tokens + completion.usage.completion_tokens)
        > 0
    )
    sent = emulator.requests("ollama")[-1].json
    assert sent["options"]["num_predict"] == 50
    assert sent["options"]["temperature"] == 0.1


def test_streamed_chat_completion_with_usage(served) -> None:
    client = openai_client(served)
    stream = client.chat.completions.create(
        model="sarvanom/auto", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Emulated ollama answer to: What is the capital of France?"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.model == "sarvanom/ollama_local/deepseek-r1:8b" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_streamed_chat_completion_without_usage(served) -> None:
    client = openai_client(served)
    chunks = list(
        client.chat.completions.create(model="sarvanom/ollama_local", messages=HI, stream=True)
    )
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("Emulated")


def test_models_list_and_retrieve(served) -> None:
    client = openai_client(served)
    ids = [m.id for m in client.models.list()]
    assert ids == ["sarvanom/auto", "sarvanom/ollama_local", "sarvanom/local_stub"]
    model = client.models.retrieve("sarvanom/ollama_local")
    assert (model.id, model.owned_by, model.object) == (
        "sarvanom/ollama_local",
        "sarvanom",
        "model",
    )
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


@pytest.mark.parametrize(
    ("model", "why"),
    [
        ("gpt-4o-mini", "does not exist;"),
        ("sarvanom/nope", "does not exist;"),
        ("sarvanom/auto/x", "does not exist;"),
        ("sarvanom/openai", "paid API disabled"),
        ("sarvanom/huggingface", "HUGGINGFACE_API_KEY not set"),
        ("sarvanom/local_stub/m", "the stub has no models"),
    ],
)
def test_unknown_model_is_404_model_not_found(served, model, why) -> None:
    client = openai_client(served)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=model, messages=HI)
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert why in caught.value.message
    assert "sarvanom/auto, sarvanom/ollama_local, sarvanom/local_stub" in caught.value.message


def test_pinned_model_override_reaches_the_provider(served, emulator) -> None:
    client = openai_client(served)
    completion = client.chat.completions.create(
        model="sarvanom/ollama_local/llama3.2:1b", messages=HI
    )
    assert completion.model == "sarvanom/ollama_local/llama3.2:1b"
    assert emulator.requests("ollama")[-1].json["model"] == "llama3.2:1b"


def test_issue13_2_every_chunk_and_the_headers_name_the_model_that_answered(
    served, emulator
) -> None:
    """Asked for sarvanom/auto (and for a pinned override), streamed: every chunk's model
    and the x-sarvanom-model header name the provider and model that really answered."""
    client = openai_client(served)
    for asked, model in (
        ("sarvanom/auto", "deepseek-r1:8b"),
        ("sarvanom/ollama_local/llama3.2:1b", "llama3.2:1b"),
    ):
        with client.chat.completions.with_streaming_response.create(
            model=asked, messages=HI, stream=True
        ) as raw:
            assert raw.headers["x-sarvanom-provider"] == "ollama_local"
            assert raw.headers["x-sarvanom-model"] == model
            chunks = list(raw.parse())
        assert chunks and all(c.model == f"sarvanom/ollama_local/{model}" for c in chunks)


async def test_issue13_2_a_fallback_names_the_provider_that_answered(open_gateway, emulator):
    """remote_gpu fails, Ollama answers: the JSON names Ollama and its model."""
    from gateway_helpers import failing_gpu_then_ollama

    client = await open_gateway(failing_gpu_then_ollama(emulator))
    chat = {"model": "sarvanom/auto", "messages": HI}
    body = await (await client.post("/v1/chat/completions", json=chat)).json()
    assert body["model"] == "sarvanom/ollama_local/deepseek-r1:8b"
    stub = await open_gateway(stub_client())
    body = await (await stub.post("/v1/chat/completions", json=chat)).json()
    assert body["model"] == "sarvanom/local_stub"


def test_system_developer_and_text_parts(served, emulator) -> None:
    client = openai_client(served)
    client.chat.completions.create(
        model="sarvanom/auto",
        messages=[
            {"role": "developer", "content": "Be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
            },
        ],
    )
    sent = emulator.requests("ollama")[-1].json["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "one\ntwo"},
    ]


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"functions": [{"name": "f", "parameters": {}}]}, "functions"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
    ],
)
def test_unsupported_or_invalid_parameters_are_400(served, options, param) -> None:
    client = openai_client(served)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="sarvanom/auto", messages=HI, **options)
    assert caught.value.param == param


def test_bad_messages_are_400(served) -> None:
    client = openai_client(served)
    for messages, says in (
        ([], "non-empty array"),
        ([{"role": "function", "name": "f", "content": "x"}], "legacy function messages"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "must be an https:// URL or a data:image",
        ),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="sarvanom/auto", messages=messages)
        assert says in caught.value.message


def test_ignored_parameters_are_accepted(served) -> None:
    client = openai_client(served)
    completion = client.chat.completions.create(
        model="sarvanom/auto",
        messages=HI,
        top_p=0.9,
        stop=["\n"],
        seed=1,
        user="u",
        presence_penalty=0.1,
        n=1,
        response_format={"type": "text"},
        tool_choice="none",
    )
    assert completion.choices[0].message.content


def test_stub_answer_is_a_200_completion_marked_by_header() -> None:
    with ThreadedGateway(create_app(stub_client())) as gateway:
        client = openai_client(gateway)
        raw = client.chat.completions.with_raw_response.create(model="sarvanom/auto", messages=HI)
        assert raw.headers["x-sarvanom-provider"] == "local_stub"
        completion = raw.parse()
        assert completion.model == "sarvanom/local_stub"
        assert completion.choices[0].message.content.startswith(
            "[sarvanom local_stub] This is not a model's answer"
        )
        streamed = list(
            client.chat.completions.create(model="sarvanom/auto", messages=HI, stream=True)
        )
        assert streamed[0].model == "sarvanom/local_stub"


def test_strict_client_is_503_before_any_byte() -> None:
    with ThreadedGateway(create_app(stub_client(fallback_to_stub=False))) as gateway:
        client = openai_client(gateway)
        for stream in (False, True):
            with pytest.raises(openai.InternalServerError) as caught:
                client.chat.completions.create(model="sarvanom/auto", messages=HI, stream=stream)
            assert caught.value.status_code == 503
            assert caught.value.code == "no_provider_available"


def test_a_stream_cut_after_it_began_is_an_error_not_a_clean_end(served, emulator) -> None:
    emulator.inject("ollama", Fault.cut_stream(), times=1)
    client = openai_client(served)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(
            model="sarvanom/auto", messages=HI, stream=True
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received)  # part of the answer arrived first
    assert "failed after it began" in caught.value.message


def test_token_is_the_api_key(emulator) -> None:
    with ThreadedGateway(create_app(ollama_client(emulator), token=TOKEN)) as gateway:
        assert openai_client(gateway, api_key=TOKEN).models.list().data
        with pytest.raises(openai.AuthenticationError) as caught:
            openai_client(gateway, api_key="wrong").chat.completions.create(
                model="sarvanom/auto", messages=HI
            )
        assert caught.value.code == "invalid_api_key"
        assert emulator.request_count() == 0


async def test_async_openai_client(open_gateway, emulator) -> None:
    gateway = await open_gateway(ollama_client(emulator))
    client = openai.AsyncOpenAI(base_url=str(gateway.make_url("/v1")), api_key="x", max_retries=0)
    completion = await client.chat.completions.create(model="sarvanom/auto", messages=HI)
    assert completion.choices[0].message.content.startswith("Emulated ollama")
    stream = await client.chat.completions.create(model="sarvanom/auto", messages=HI, stream=True)
    assert [c async for c in stream]
    await client.close()


async def test_malformed_chat_bodies_are_400(open_gateway) -> None:
    client = await open_gateway(stub_client())
    for body, param in (
        ({"messages": HI}, "model"),
        ({"model": "sarvanom/auto", "messages": HI, "stream": "yes"}, "stream"),
        (
            {"model": "sarvanom/auto", "messages": HI, "stream": True, "stream_options": []},
            "stream_options",
        ),
        ({"model": "sarvanom/auto", "messages": "hi"}, "messages"),
        ({"model": "sarvanom/auto", "messages": [{"role": "user"}]}, "messages[0].content"),
    ):
        reply = await client.post("/v1/chat/completions", json=body)
        assert reply.status == 400, body
        assert (await reply.json())["error"]["param"] == param
    reply = await client.post("/v1/chat/completions", data=b"{oops", headers=JSON_TYPE)
    assert reply.status == 400
    assert (await reply.json())["error"]["code"] == "invalid_json"


async def test_max_completion_tokens_wins_over_max_tokens(open_gateway, emulator) -> None:
    client = await open_gateway(ollama_client(emulator))
    for body, expected in (
        ({"max_completion_tokens": 30, "max_tokens": 40}, 30),
        ({"max_completion_tokens": None, "max_tokens": 40}, 40),
        ({}, 512),
    ):
        reply = await client.post(
            "/v1/chat/completions", json={"model": "sarvanom/auto", "messages": HI, **body}
        )
        assert reply.status == 200
        assert emulator.requests("ollama")[-1].json["options"]["num_predict"] == expected
        emulator.reset()

"""Issue 15 item 1: ``POST /v1/embeddings`` with the official ``openai`` client
(``client.embeddings.create``), float and base64, and its refusals."""

from __future__ import annotations

import openai
import pytest
from gateway_helpers import JSON_TYPE, ThreadedGateway, ollama_client, openai_client

from sarvanom_sdk import AsyncSarvanClient, Settings
from sarvanom_sdk.gateway import create_app
from sarvanom_sdk.testing import Fault
from sarvanom_sdk.testing._embed_wire import vector_for

MODEL = "nomic-embed-text"


@pytest.fixture
def served(emulator):
    with ThreadedGateway(create_app(ollama_client(emulator))) as gateway:
        yield gateway


def test_embeddings_as_floats(served, emulator) -> None:
    client = openai_client(served)
    raw = client.embeddings.with_raw_response.create(
        model="sarvanom/auto", input=["alpha", "beta"], encoding_format="float"
    )
    assert raw.headers["x-sarvanom-provider"] == "ollama_local"
    assert raw.headers["x-sarvanom-model"] == MODEL
    got = raw.parse()
    assert got.model == f"sarvanom/ollama_local/{MODEL}"
    assert [d.index for d in got.data] == [0, 1]
    assert got.data[0].embedding == pytest.approx(vector_for(MODEL, "alpha"))
    assert got.data[1].embedding == pytest.approx(vector_for(MODEL, "beta"))
    assert got.usage.prompt_tokens == got.usage.total_tokens > 0
    assert emulator.requests("ollama")[-1].json == {"model": MODEL, "input": ["alpha", "beta"]}


def test_embeddings_as_base64_the_clients_default(served) -> None:
    got = openai_client(served).embeddings.create(model="sarvanom/ollama_local", input="alpha")
    # the client asked for base64 and decoded it: float32 precision
    assert len(got.data) == 1
    assert got.data[0].embedding == pytest.approx(vector_for(MODEL, "alpha"), abs=1e-6)


def test_a_pinned_model_reaches_the_provider(served, emulator) -> None:
    got = openai_client(served).embeddings.create(
        model="sarvanom/ollama_local/mxbai-embed-large", input="alpha", encoding_format="float"
    )
    assert got.model == "sarvanom/ollama_local/mxbai-embed-large"
    assert emulator.requests("ollama")[-1].json["model"] == "mxbai-embed-large"


def test_no_provider_is_a_503_never_a_stub_vector(served, emulator) -> None:
    emulator.inject("ollama", Fault.http(500))
    client = openai_client(served).with_options(max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.embeddings.create(model="sarvanom/auto", input="alpha")
    assert caught.value.status_code == 503
    assert "does not answer embeddings" in caught.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "sarvanom/auto", "input": []}, "input"),
        ({"model": "sarvanom/auto", "input": ["ok", ""]}, "input[1]"),
        ({"model": "sarvanom/auto", "input": [[1, 2, 3]]}, "input"),
        ({"model": "sarvanom/auto", "input": ["x"] * 2049}, "input"),
        ({"model": "sarvanom/auto", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "sarvanom/auto", "input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x"}, "model"),
    ],
)
def test_bad_requests_are_400_naming_the_field(served, emulator, body, param) -> None:
    import requests

    reply = requests.post(f"{served.url}/v1/embeddings", json=body, headers=JSON_TYPE, timeout=30)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param
    assert emulator.request_count("ollama", endpoint="generate") == 0


def test_an_unknown_model_is_404(served) -> None:
    with pytest.raises(openai.NotFoundError):
        openai_client(served).embeddings.create(model="text-embedding-3-small", input="x")


def test_the_gateway_falls_back_without_mixing_spaces(emulator) -> None:
    client = AsyncSarvanClient(
        Settings(
            providers=("ollama_local", "huggingface"),
            ollama_base_url=emulator.url_for("ollama"),
            huggingface_base_url=emulator.url_for("huggingface"),
            huggingface_api_key="hf-canary",
            max_retries=0,
        )
    )
    emulator.inject("ollama", Fault.http(503))
    with ThreadedGateway(create_app(client)) as gateway:
        got = openai_client(gateway).embeddings.create(
            model="sarvanom/auto", input=["a", "b"], encoding_format="float"
        )
    hf = "sentence-transformers/all-MiniLM-L6-v2"
    assert got.model == f"sarvanom/huggingface/{hf}"
    assert [d.embedding for d in got.data] == [
        pytest.approx(vector_for(hf, "a")), pytest.approx(vector_for(hf, "b"))
    ]


def test_the_operators_caller_policy_applies_to_pins(emulator) -> None:
    from sarvanom_sdk.gateway.callers import CallerPolicy

    app = create_app(ollama_client(emulator), callers=CallerPolicy(allowed=frozenset()))
    with ThreadedGateway(app) as gateway:
        client = openai_client(gateway)
        with pytest.raises(openai.BadRequestError, match="not allowed"):
            client.embeddings.create(model="sarvanom/ollama_local", input="x")
        got = client.embeddings.create(model="sarvanom/auto", input="x")
    assert len(got.data) == 1

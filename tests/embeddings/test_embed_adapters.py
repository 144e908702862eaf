"""Issue 15 item 1: the embedding adapters, bytes in and values out (no server), and the
request's validation before any network call."""

from __future__ import annotations

import json

import pytest

from sarvanom_sdk import InvalidRequestError, ProviderName, Settings
from sarvanom_sdk.embedding import MAX_EMBED_TEXTS, EmbeddingRequest
from sarvanom_sdk.errors import BadResponseError, ProviderError, ServerError
from sarvanom_sdk.http import HttpReply
from sarvanom_sdk.providers.embeddings import (
    HFFeatureExtractionEmbeddings,
    OllamaEmbeddings,
    OpenAIEmbeddings,
    embedding_adapter_for,
)

JSON = {"content-type": "application/json"}


def reply(body: object, status: int = 200) -> HttpReply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpReply(status, JSON, raw)


def ollama() -> OllamaEmbeddings:
    return OllamaEmbeddings(base_url="http://127.0.0.1:11434/", default_model="nomic-embed-text")


def openai() -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        base_url="https://api.openai.com/v1",
        api_key="sk-secret",
        default_model="text-embedding-3-small",
    )


# -- requests ---------------------------------------------------------------------------------
def test_ollama_builds_api_embed_with_the_texts_as_input() -> None:
    call = ollama().build_embed(EmbeddingRequest(["a", "b"]), ("a", "b"))
    assert (call.method, call.url) == ("POST", "http://127.0.0.1:11434/api/embed")
    assert call.json == {"model": "nomic-embed-text", "input": ["a", "b"]}


def test_openai_builds_embeddings_with_float_encoding_dimensions_and_the_key() -> None:
    call = openai().build_embed(EmbeddingRequest(["a"], dimensions=256), ("a",))
    assert call.url == "https://api.openai.com/v1/embeddings"
    assert call.json == {
        "model": "text-embedding-3-small", "input": ["a"], "encoding_format": "float",
        "dimensions": 256,
    }
    assert call.headers["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in repr(call)


def test_hf_task_posts_inputs_to_the_feature_extraction_pipeline() -> None:
    adapter = HFFeatureExtractionEmbeddings(
        base_url="https://router.huggingface.co/hf-inference", api_key="hf_x",
        default_model="sentence-transformers/all-MiniLM-L6-v2",
    )
    call = adapter.build_embed(EmbeddingRequest("hi"), ("hi",))
    assert call.url == (
        "https://router.huggingface.co/hf-inference/models/"
        "sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction"
    )
    assert call.json == {"inputs": ["hi"]}


# -- replies ----------------------------------------------------------------------------------
def test_ollama_reads_vectors_model_and_prompt_tokens() -> None:
    got = ollama().parse_embed(
        reply({"model": "nomic-embed-text", "embeddings": [[0.1, 2], [0.3, 0.4]],
               "prompt_eval_count": 7}), 2, None,
    )
    assert got.vectors == [[0.1, 2.0], [0.3, 0.4]]
    assert got.model == "nomic-embed-text"
    assert got.usage is not None and got.usage.prompt_tokens == 7


def test_openai_orders_vectors_by_index() -> None:
    body = {"data": [{"embedding": [2.0], "index": 1}, {"embedding": [1.0], "index": 0}],
            "model": "text-embedding-3-small", "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    got = openai().parse_embed(reply(body), 2, None)
    assert got.vectors == [[1.0], [2.0]]
    assert got.usage is not None and got.usage.prompt_tokens == 3


def test_hf_task_reads_a_list_of_vectors() -> None:
    adapter = HFFeatureExtractionEmbeddings(base_url="https://x", api_key=None, default_model="m")
    assert adapter.parse_embed(reply([[1, 2], [3, 4]]), 2, None).vectors == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("body", "count", "dimensions", "why"),
    [
        ({"embeddings": [[0.1]]}, 2, None, "1 vectors for 2 texts"),
        ({"embeddings": [[0.1, 0.2], [0.1]]}, 2, None, "ragged"),
        ({"embeddings": [[0.1, "x"]]}, 1, None, "finite number"),
        ({"embeddings": [[]]}, 1, None, "a vector of 0 numbers"),
        ({"embeddings": [[0.0] * 20_000]}, 1, None, "a vector of 20000"),
        ({"embeddings": [[0.1, 0.2]]}, 1, 3, "where 3 were asked"),
        ({"embeddings": [[None, 0.2]]}, 1, None, "finite number"),
        ({"embeddings": [[1e308, 1e308]]}, 1, None, "finite number"),
        ({"model": "m"}, 1, None, "no embeddings"),
    ],
)
def test_a_reply_that_is_not_the_asked_vectors_is_a_provider_failure(
    body: object, count: int, dimensions: int | None, why: str
) -> None:
    with pytest.raises(BadResponseError, match=why):
        ollama().parse_embed(reply(body), count, dimensions)


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_refused(number: bytes) -> None:
    raw = b'{"data":[{"index":0,"embedding":[0.5,' + number + b"]}]}"
    with pytest.raises(BadResponseError, match="finite"):
        openai().parse_embed(reply(raw), 1, None)


def test_openai_repeated_index_is_refused() -> None:
    body = {"data": [{"embedding": [1.0], "index": 0}, {"embedding": [1.0], "index": 0}]}
    with pytest.raises(BadResponseError, match="repeated index"):
        openai().parse_embed(reply(body), 2, None)


def test_hf_token_level_features_are_not_sentence_vectors() -> None:
    adapter = HFFeatureExtractionEmbeddings(base_url="https://x", api_key=None, default_model="m")
    with pytest.raises(BadResponseError):
        adapter.parse_embed(reply([[[0.1, 0.2], [0.3, 0.4]]]), 1, None)


def test_error_statuses_map_to_provider_errors_with_the_key_kept_out() -> None:
    body = {"error": {"message": "bad key sk-secret", "type": "invalid_request_error"}}
    with pytest.raises(ProviderError) as caught:
        openai().parse_embed(reply(body, 401), 1, None)
    assert "sk-secret" not in str(caught.value)
    with pytest.raises(ServerError):
        ollama().parse_embed(reply({"error": "runner died"}, 200), 1, None)


# -- which providers embed --------------------------------------------------------------------
def test_anthropic_and_the_seed_box_have_no_embeddings_with_the_reason() -> None:
    settings = Settings(gpu_remote_url="http://127.0.0.1:9", gpu_remote_protocol="seed")
    assert "no embeddings API" in str(embedding_adapter_for(ProviderName.ANTHROPIC, settings))
    assert "seed" in str(embedding_adapter_for(ProviderName.REMOTE_GPU, settings))
    box = embedding_adapter_for(
        ProviderName.REMOTE_GPU, settings.replace(gpu_remote_protocol="openai")
    )
    assert isinstance(box, OpenAIEmbeddings)
    assert box.build_embed(EmbeddingRequest("a"), ("a",)).url == "http://127.0.0.1:9/v1/embeddings"


def test_settings_name_each_providers_embedding_model() -> None:
    settings = Settings.from_env({"OLLAMA_EMBEDDING_MODEL": "mxbai-embed-large"}, env_file=None)
    assert settings.ollama_embedding_model == "mxbai-embed-large"
    assert Settings().openai_embedding_model == "text-embedding-3-small"
    assert Settings().huggingface_embedding_model == "sentence-transformers/all-MiniLM-L6-v2"


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("texts", "options", "field"),
    [
        ([], {}, "texts"),
        ("", {}, "texts[0]"),
        (["ok", "  "], {}, "texts[1]"),
        (["ok", 3], {}, "texts[1]"),
        (b"bytes", {}, "texts"),
        (None, {}, "texts"),
        (["x"] * (MAX_EMBED_TEXTS + 1), {}, "texts"),
        (["x" * 40_000], {}, "texts[0]"),
        (["x" * 30_000] * 20, {}, "texts"),
        (["\ud83d"], {}, "texts[0]"),
        (["ok"], {"dimensions": 0}, "dimensions"),
        (["ok"], {"dimensions": True}, "dimensions"),
        (["ok"], {"dimensions": 1.5}, "dimensions"),
        (["ok"], {"model": "m"}, "model"),
        (["ok"], {"provider": "nope"}, "provider"),
        (["ok"], {"timeout": -1}, "timeout"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(
    texts: object, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        EmbeddingRequest(texts, **options)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_one_string_is_one_text() -> None:
    request = EmbeddingRequest("hello", model="m", provider="openai")
    assert request.texts == ("hello",) and request.single
    assert request.provider is ProviderName.OPENAI

"""Embedding adapters (issue 15 item 1): one sans-IO adapter per wire protocol, built from
the same settings as the chat adapters (URLs, keys, tunnel headers), with each provider's
``*_EMBEDDING_MODEL``.

=================  ===================================================================
protocol           wire
=================  ===================================================================
Ollama             ``POST {base}/api/embed`` ``{"model", "input": [...]}``
                   -> ``{"model", "embeddings": [[...]], "prompt_eval_count"}``
OpenAI             ``POST {base}/embeddings`` ``{"model", "input": [...], "encoding_format":
                   "float", "dimensions"?}`` -> ``{"data": [{"embedding", "index"}],
                   "model", "usage": {"prompt_tokens", "total_tokens"}}`` — OpenAI, the
                   remote GPU box with ``GPU_REMOTE_PROTOCOL=openai`` (llama.cpp, vLLM,
                   TEI) and Hugging Face's router
HF task API        ``POST {base}/models/{model}/pipeline/feature-extraction``
                   ``{"inputs": [...]}`` -> ``[[...], ...]`` (one pooled vector per input;
                   the path names the task, as ``huggingface_hub`` does)
=================  ===================================================================

Anthropic has no embeddings API and the seed's ``/generate`` box none either:
:func:`embedding_adapter_for` returns the reason instead of an adapter.

Every reply is checked before it is believed — one vector per text, every number finite,
every vector the same length (and ``dimensions`` long when asked for), no absurd size —
and anything else is a :class:`BadResponseError`: a provider failure, so the call moves
on to the next provider, never a wrong answer. ``dimensions`` is sent only by the OpenAI
protocol; a provider that cannot shorten vectors is skipped when it is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..embedding import MAX_EMBED_DIMENSIONS, Embedded, EmbeddingRequest, finite_vector
from ..errors import BadResponseError
from ..http import HttpCall, HttpReply
from ..settings import Settings
from ..types import ProviderName
from ._model_path import model_path
from ._wire import WireAdapter, as_dict, as_str, bearer, reported_error, usage_of
from .huggingface import ROUTER_BASE_URL, TASK_BASE_URL
from .remote_gpu import TUNNEL_HEADERS, check_tunnel_url

__all__ = [
    "EmbeddingAdapter",
    "HFFeatureExtractionEmbeddings",
    "OllamaEmbeddings",
    "OpenAIEmbeddings",
    "embedding_adapter_for",
]


class EmbeddingAdapter(Protocol):
    """A provider's embedding protocol; attributes fixed at construction."""

    name: ProviderName
    paid: bool
    default_model: str
    secrets: tuple[str, ...]
    #: Whether the protocol can ask for shorter vectors (``dimensions``).
    supports_dimensions: bool

    def build_embed(self, request: EmbeddingRequest, texts: tuple[str, ...]) -> HttpCall:
        """The call embedding ``texts`` (a subset of the request's: the cache misses)."""

    def parse_embed(self, reply: HttpReply, count: int, dimensions: int | None) -> Embedded:
        """``count`` checked vectors; ProviderError for anything else."""

    def health_call(self) -> HttpCall | None: ...


class _EmbedWire(WireAdapter):
    """The checks every embedding protocol applies to what it read."""

    supports_dimensions = False

    def _checked(
        self,
        vectors: Any,
        count: int,
        dimensions: int | None,
        reply: HttpReply,
        model: str | None = None,
        usage: Any = None,
    ) -> Embedded:
        def bad(why: str) -> BadResponseError:
            return BadResponseError(why, provider=self._provider, status=reply.status)

        if not isinstance(vectors, list):
            raise bad("no list of vectors in the reply")
        if len(vectors) != count:
            raise bad(f"{len(vectors)} vectors for {count} texts")
        size = len(vectors[0]) if vectors and isinstance(vectors[0], list) else 0
        if not 1 <= size <= MAX_EMBED_DIMENSIONS:
            raise bad(f"a vector of {size} numbers (allowed 1..{MAX_EMBED_DIMENSIONS})")
        out = []
        for index, vector in enumerate(vectors):
            if not isinstance(vector, list) or len(vector) != size:
                raise bad(f"ragged vectors: vector {index} is not {size} numbers long")
            numbers = finite_vector(vector)
            if numbers is None:
                raise bad(f"vector {index} holds something that is not a finite number")
            out.append(numbers)
        if dimensions is not None and size != dimensions:
            raise bad(f"{size}-dimensional vectors where {dimensions} were asked for")
        return Embedded(out, model, usage)


class OllamaEmbeddings(_EmbedWire):
    """``POST {base}/api/embed``; free; health ``GET {base}/api/tags``."""

    __slots__ = ("_url",)

    def __init__(self, *, base_url: str, default_model: str) -> None:
        base = base_url.rstrip("/")
        super().__init__(
            name=ProviderName.OLLAMA_LOCAL,
            paid=False,
            default_model=default_model,
            health_url=f"{base}/api/tags",
        )
        self._url = f"{base}/api/embed"

    def build_embed(self, request: EmbeddingRequest, texts: tuple[str, ...]) -> HttpCall:
        return self._post_call(
            self._url, {"model": request.model or self.default_model, "input": list(texts)}
        )

    def parse_embed(self, reply: HttpReply, count: int, dimensions: int | None) -> Embedded:
        data = self._reply_json(reply)
        body = as_dict(data)
        if body.get("error"):
            raise reported_error(body, self._provider, self.secrets)
        if "embeddings" not in body:
            raise self._no_answer(data, "embeddings", reply)
        usage = usage_of(body.get("prompt_eval_count"), 0)
        return self._checked(
            body["embeddings"], count, dimensions, reply, as_str(body.get("model")), usage
        )


class OpenAIEmbeddings(_EmbedWire):
    """``POST {base_url}/embeddings`` (``base_url`` ends before it, e.g. ``.../v1``)."""

    __slots__ = ("_url",)
    supports_dimensions = True

    def __init__(
        self,
        *,
        name: ProviderName = ProviderName.OPENAI,
        base_url: str,
        api_key: str | None = None,
        default_model: str,
        paid: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        health_url: str | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        super().__init__(
            name=name,
            paid=paid,
            default_model=default_model,
            secret=api_key,
            headers={**(extra_headers or {}), **bearer(api_key)},
            health_url=health_url or f"{base}/models",
        )
        self._url = f"{base}/embeddings"

    def build_embed(self, request: EmbeddingRequest, texts: tuple[str, ...]) -> HttpCall:
        body: dict[str, Any] = {
            "model": request.model or self.default_model,
            "input": list(texts),
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        return self._post_call(self._url, body)

    def parse_embed(self, reply: HttpReply, count: int, dimensions: int | None) -> Embedded:
        data = self._reply_json(reply)
        body = as_dict(data)
        items = body.get("data")
        if not isinstance(items, list):
            raise self._no_answer(data, "data", reply)
        vectors: list[Any] = [None] * len(items)
        for position, item in enumerate(items):
            entry = as_dict(item)
            index = entry.get("index", position)
            if type(index) is not int or not 0 <= index < len(items) or vectors[index] is not None:
                raise BadResponseError(
                    f"data[{position}] has a bad or repeated index {index!r}",
                    provider=self._provider,
                    status=reply.status,
                )
            vectors[index] = entry.get("embedding")
        usage = as_dict(body.get("usage"))
        return self._checked(
            vectors, count, dimensions, reply, as_str(body.get("model")),
            usage_of(usage.get("prompt_tokens"), 0),
        )


class HFFeatureExtractionEmbeddings(_EmbedWire):
    """Hugging Face's task API: ``POST {base}/models/{model}/pipeline/feature-extraction``.
    A model that answers token-level features (a list of lists of vectors per text) is not
    a sentence-embedding model: a :class:`BadResponseError`."""

    __slots__ = ("_base",)

    def __init__(self, *, base_url: str, api_key: str | None, default_model: str) -> None:
        self._base = base_url.rstrip("/")
        super().__init__(
            name=ProviderName.HUGGINGFACE,
            paid=False,
            default_model=default_model,
            secret=api_key,
            headers=bearer(api_key),
        )

    def build_embed(self, request: EmbeddingRequest, texts: tuple[str, ...]) -> HttpCall:
        path = model_path(request.model or self.default_model)
        url = f"{self._base}/models/{path}/pipeline/feature-extraction"
        return self._post_call(url, {"inputs": list(texts)})

    def parse_embed(self, reply: HttpReply, count: int, dimensions: int | None) -> Embedded:
        data = self._reply_json(reply)
        if isinstance(data, dict):
            raise self._no_answer(data, "list of vectors", reply)
        return self._checked(data, count, dimensions, reply)


def embedding_adapter_for(provider: ProviderName, settings: Settings) -> EmbeddingAdapter | str:
    """The embedding adapter of ``provider`` configured from ``settings`` (the same URL,
    key and headers as its chat adapter), or why it has none."""
    if provider is ProviderName.OLLAMA_LOCAL:
        return OllamaEmbeddings(
            base_url=settings.ollama_base_url or "", default_model=settings.ollama_embedding_model
        )
    if provider is ProviderName.REMOTE_GPU:
        if settings.gpu_remote_protocol != "openai":
            return "no embeddings in the seed /generate protocol (GPU_REMOTE_PROTOCOL=openai has)"
        url = settings.gpu_remote_url or ""
        check_tunnel_url(
            url, token=settings.gpu_remote_token, allow_http=settings.allow_http_keyed_urls
        )
        root = url.rstrip("/").removesuffix("/v1")
        return OpenAIEmbeddings(
            name=ProviderName.REMOTE_GPU,
            base_url=f"{root}/v1",
            api_key=settings.gpu_remote_token,
            default_model=settings.gpu_remote_embedding_model,
            paid=False,
            extra_headers=TUNNEL_HEADERS,
            health_url=f"{root}/health",
        )
    if provider is ProviderName.HUGGINGFACE:
        if settings.huggingface_api == "task":
            base = settings.huggingface_base_url
            if base.rstrip("/") == ROUTER_BASE_URL:
                base = TASK_BASE_URL
            return HFFeatureExtractionEmbeddings(
                base_url=base,
                api_key=settings.huggingface_api_key,
                default_model=settings.huggingface_embedding_model,
            )
        return OpenAIEmbeddings(
            name=ProviderName.HUGGINGFACE,
            base_url=settings.huggingface_base_url,
            api_key=settings.huggingface_api_key,
            default_model=settings.huggingface_embedding_model,
            paid=False,
        )
    if provider is ProviderName.OPENAI:
        return OpenAIEmbeddings(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            default_model=settings.openai_embedding_model,
        )
    if provider is ProviderName.ANTHROPIC:
        return "anthropic has no embeddings API"
    return f"{provider.value} does not answer embeddings"

"""The emulated embedding endpoints (issue 15 item 1), added to the protocols that have one:

=====================  ============================================================
protocol               route (under the protocol's base path)
=====================  ============================================================
Ollama                 ``POST /api/embed`` ``{"model", "input"}`` -> ``{"model",
                       "embeddings", "total_duration", "load_duration",
                       "prompt_eval_count"}``
OpenAI-compatible      ``POST {prefix}/embeddings`` ``{"model", "input",
                       "encoding_format"?, "dimensions"?}`` -> ``{"object": "list",
                       "data": [{"object": "embedding", "index", "embedding"}], "model",
                       "usage"}`` (``base64``: little-endian float32, as OpenAI's)
HF task API            ``POST /models/{model}/pipeline/feature-extraction``
                       ``{"inputs"}`` -> a list of vectors (one vector for a string)
=====================  ============================================================

Vectors are deterministic — a hash of (model, text), normalised to length 1 — with the
real sizes of the well-known models (768 for ``nomic-embed-text``, 1536 for
``text-embedding-3-small``, 384 otherwise); ``dimensions`` shortens OpenAI's. Anthropic and
the seed's box have no embeddings, as the real ones.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from ._answer import AnswerSettings
from ._huggingface_wire import HuggingFaceTask
from ._ollama_wire import Ollama
from ._openai_wire import OpenAICompatible
from ._protocol import Incoming, Protocol, Route
from ._reply import Reply, json_reply

MODEL_DIMENSIONS = {
    "nomic-embed-text": 768,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
DEFAULT_DIMENSIONS = 384


def embedding_routes(protocol: Protocol) -> tuple[Route, ...]:
    """The embedding routes ``protocol`` serves (register them before its own routes:
    the task API's ``/models/{model}`` would match the feature-extraction path)."""
    if isinstance(protocol, Ollama):
        return (Route("POST", "/api/embed", "generate", _ollama(protocol)),)
    if isinstance(protocol, OpenAICompatible):
        path = f"{protocol.api_prefix}/embeddings"
        return (Route("POST", path, "generate", _openai(protocol)),)
    if isinstance(protocol, HuggingFaceTask):
        path = "/models/{model:.+}/pipeline/feature-extraction"
        return (Route("POST", path, "generate", _feature_extraction(protocol)),)
    return ()


def vector_for(model: str, text: str, dimensions: int | None = None) -> list[float]:
    """The emulator's vector for ``text`` under ``model``: unit length, deterministic."""
    size = dimensions or MODEL_DIMENSIONS.get(model, DEFAULT_DIMENSIONS)
    raw = hashlib.shake_256(f"{model}\0{text}".encode()).digest(2 * size)
    values = [v / 32767.5 - 1.0 for v in struct.unpack(f"<{size}H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 7) for v in values]


def _texts(value: Any) -> list[str] | None:
    """The inputs as a list of non-empty strings (one string: a list of one), else None."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(t, str) and t for t in value):
        return None
    return value


def _tokens(texts: list[str]) -> int:
    return sum(len(t) // 4 + 1 for t in texts)


def _ollama(protocol: Ollama) -> Any:
    def embed(incoming: Incoming, _settings: AnswerSettings) -> Reply:
        body = incoming.json if isinstance(incoming.json, dict) else {}
        model, texts = body.get("model"), _texts(body.get("input"))
        if not isinstance(model, str) or not model:
            return protocol.error(400, "model is required")
        if texts is None:
            return protocol.error(400, "invalid input type")
        return json_reply(
            200,
            {
                "model": model,
                "embeddings": [vector_for(model, t) for t in texts],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": _tokens(texts),
            },
        )

    return embed


def _openai(protocol: OpenAICompatible) -> Any:
    def embed(incoming: Incoming, _settings: AnswerSettings) -> Reply:
        body = incoming.json if isinstance(incoming.json, dict) else {}
        model, texts = body.get("model"), _texts(body.get("input"))
        if not isinstance(model, str) or not model:
            return protocol.error(400, "you must provide a model parameter")
        if texts is None:
            return protocol.error(400, "'input' must be a string or a list of strings")
        dimensions = body.get("dimensions")
        if dimensions is not None and (type(dimensions) is not int or dimensions < 1):
            return protocol.error(400, "'dimensions' must be a positive integer")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return protocol.error(400, "'encoding_format' must be float or base64")
        data = []
        for index, text in enumerate(texts):
            vector: Any = vector_for(model, text, dimensions)
            if encoding == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = _tokens(texts)
        return json_reply(
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    return embed


def _feature_extraction(protocol: HuggingFaceTask) -> Any:
    def embed(incoming: Incoming, _settings: AnswerSettings) -> Reply:
        body = incoming.json if isinstance(incoming.json, dict) else {}
        model = incoming.match.get("model", "")
        inputs = body.get("inputs")
        texts = _texts(inputs)
        if texts is None:
            return protocol.error(400, "inputs must be a string or a list of strings")
        vectors = [vector_for(model, t) for t in texts]
        return json_reply(200, vectors[0] if isinstance(inputs, str) else vectors)

    return embed

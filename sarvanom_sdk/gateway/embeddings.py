"""``POST /v1/embeddings`` in OpenAI's shape (issue 15 item 1), so the official ``openai``
client's ``client.embeddings.create(...)`` works against the gateway.

Request: ``model`` (``sarvanom/auto`` for the chain, free first; ``sarvanom/<provider>``
pinned; ``sarvanom/<provider>/<model>`` with that provider's embedding model — the names
of ``/v1/chat/completions``), ``input`` (a string or a list of strings; token arrays are
refused with 400), ``encoding_format`` (``float``, the default, or ``base64``: the
vector's little-endian float32 bytes, what the ``openai`` client asks for and decodes),
``dimensions`` (a positive int), ``user`` (ignored). A batch holds at most
:data:`MAX_INPUTS` texts, each and all together within the SDK's size bounds; anything
else is a 400 naming the field (``input[3]``). A pinned provider or model follows the
operator's caller policy (``--caller-overrides``), as on ``/v1/chat/completions``.

Answer: ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
"model": "sarvanom/<provider>/<model>", "usage": {"prompt_tokens", "total_tokens"}}`` —
every vector from that one provider and model (also named in ``x-sarvanom-provider`` and
``x-sarvanom-model``). No provider answered: 503 ``no_provider_available`` (the stub
never answers embeddings, strict or not). ``Cache-Control: no-cache`` bypasses the cache.
"""

from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..embedding import MAX_EMBED_TEXTS, EmbeddingResponse
from ..errors import AllProvidersFailed, InvalidRequestError
from .limits import GatewayError, read_json
from .openai_compat import PREFIX, resolve_model

if TYPE_CHECKING:
    from .app import Gateway

#: The most texts one gateway request may embed.
MAX_INPUTS = MAX_EMBED_TEXTS
ENCODINGS = ("float", "base64")


def parse_embedding_call(body: dict[str, Any], gateway: Gateway) -> dict[str, Any]:
    """``embed()`` keyword arguments from an OpenAI embeddings body; 400/404 otherwise."""
    provider, model = resolve_model(body.get("model"), gateway.client.settings)
    texts = body.get("input")
    if isinstance(texts, list) and len(texts) > MAX_INPUTS:
        raise GatewayError.bad_request("input", f"input: at most {MAX_INPUTS} texts per request")
    if isinstance(texts, list) and any(not isinstance(t, str) for t in texts):
        raise GatewayError.bad_request(
            "input", "input: a string or a list of strings (token arrays are not supported)"
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ENCODINGS:
        raise GatewayError.bad_request(
            "encoding_format", f"encoding_format: one of {', '.join(ENCODINGS)}"
        )
    pins = {k: v for k, v in (("provider", provider), ("model", model)) if v is not None}
    # the operator's rule for per-request overrides, as on /v1/chat/completions
    pins = gateway.callers.apply(pins, {"provider": "model", "model": "model"})
    return {"texts": texts, "model": pins.get("model"), "provider": pins.get("provider"),
            "dimensions": body.get("dimensions"), "encoding": encoding}


async def create_embeddings(
    request: web.Request, gateway: Gateway, trace_id: str
) -> web.StreamResponse:
    body = await read_json(request, gateway.limits, gateway.reads)
    call = parse_embedding_call(body, gateway)
    directives = {d.strip().lower() for d in request.headers.get("Cache-Control", "").split(",")}
    cache = not directives & {"no-cache", "no-store"}
    async with gateway.gate.slot():
        try:
            response = await gateway.client.embed(
                call["texts"], call["model"], call["dimensions"],
                provider=call["provider"], cache=cache, trace_id=trace_id,
            )
        except InvalidRequestError as error:
            field = error.field.replace("texts", "input", 1)
            message = str(error).replace("texts", "input", 1)
            raise GatewayError.bad_request(field, message) from None
        except AllProvidersFailed as error:
            raise await gateway.no_provider(error) from None
    headers = {
        **gateway.answer_headers(response.provider, model=response.model),
        "x-sarvanom-cache": "hit" if response.cached == len(response.vectors) else "miss",
        **gateway.overhead_headers(request),
    }
    return web.json_response(embeddings_body(response, call["encoding"]), headers=headers)


def embeddings_body(response: EmbeddingResponse, encoding: str) -> dict[str, Any]:
    """The OpenAI ``list`` object of ``response``'s vectors."""
    data = [
        {"object": "embedding", "index": index, "embedding": _encoded(vector, encoding)}
        for index, vector in enumerate(response.vectors)
    ]
    tokens = response.usage.prompt_tokens if response.usage else 0
    return {
        "object": "list",
        "data": data,
        "model": f"{PREFIX}{response.provider.value}/{response.model}",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encoded(vector: list[float], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


ROUTES = (("POST", "/v1/embeddings", create_embeddings),)

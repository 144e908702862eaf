"""OpenAI-compatible endpoints: ``POST /v1/chat/completions`` (JSON, and SSE with
``stream: true``) and ``GET /v1/models[/{model}]``, so the official ``openai`` client,
LangChain's ``ChatOpenAI`` and other OpenAI clients work by changing only ``base_url``
(``http://127.0.0.1:8000/v1``; ``api_key`` is the gateway token, or any string without one).

Model names
-----------
``sarvanom/auto`` (the whole chain), ``sarvanom/<provider>`` (a pin),
``sarvanom/<provider>/<model>`` (a pin with the model overridden), the operator's aliases
(``SARVANOM_MODEL_ALIASES="gpt-4o-mini=sarvanom/auto"``) and, when the operator set one, a
default for every other name (``sarvanom serve --default-model sarvanom/auto``); anything
else is 404 ``model_not_found``. :mod:`.models` decides (one place for every ingress).

``GET /v1/models`` lists ``sarvanom/auto`` and ``sarvanom/<provider>`` for every provider of
the chain, the stub last, then the aliases (their cards carry ``alias_of``: the target). A
response's ``model``, in the JSON answer and in every stream chunk, names the provider and
model that really answered:
``sarvanom/<provider>/<model>`` (e.g. ``sarvanom/huggingface/meta-llama/Llama-3.1-8B-Instruct``;
``sarvanom/local_stub`` for the stub), whatever the caller asked for (``sarvanom/auto``
included). The headers ``x-sarvanom-provider`` and ``x-sarvanom-model`` say the same, on
streams too. A stream's model is known when it opens: the caller's override, else the
provider's configured model.

Requests
--------
``messages`` (roles ``system``, ``developer`` (as system), ``user``, ``assistant``, ``tool``;
content a string or a list of text and ``image_url`` parts; assistant ``tool_calls``),
``max_completion_tokens`` or ``max_tokens`` (default 512), ``temperature`` (default 0.7),
``stream``, ``stream_options.include_usage``, and the chat surface (issue 14): ``tools``,
``tool_choice``, ``parallel_tool_calls``, ``response_format`` (text, json_object,
json_schema), ``stop``, ``top_p``, ``seed``, ``presence_penalty``, ``frequency_penalty``.
Answers carry ``message.tool_calls`` and ``finish_reason: "tool_calls"``; streams carry
``delta.tool_calls`` by index. The translation is :mod:`.chat_wire`'s. Refused with 400:
a field that needs a capability no provider the request may reach has (naming the
field), the legacy ``functions``/``function_call``, ``n`` other than 1, ``logprobs``.
Other OpenAI parameters (``user``, ``metadata``...) are accepted and ignored.
Not OpenAI's, through ``extra_body``: ``cache`` (a boolean) and ``stream_recovery``
(``raise``, ``restart``, ``continue``), caller overrides.

When no provider answers
------------------------
The stub's answer comes back as a normal 200 completion (``finish_reason: "stop"``), with
``model: "sarvanom/local_stub"`` and the header ``x-sarvanom-provider: local_stub``; its text
begins ``[sarvanom local_stub] This is not a model's answer``. This keeps the SDK's promise
(an answer, never none) and its single switch: a strict client (``fallback_to_stub=False``,
``SARVANOM_FALLBACK_TO_STUB=false`` or ``sarvanom serve --strict``) answers 503
``no_provider_available`` instead — the right setting when programs, not people, read the
answers, since an OpenAI client cannot tell the stub's text from a model's.

Streams: a provider is committed to on its first token, so a strict refusal is still a
clean 503 before any byte (a content filter or a context length no provider has: 400). A
stream that breaks after it began ends with an SSE event
``{"error": {...,"code": "stream_interrupted"}}`` and no ``[DONE]`` (the official client
raises ``APIError``) — never a clean finish. So does a stream still running at the
request's total deadline (its ``timeout``, else ``SARVANOM_TOTAL_TIMEOUT_SECONDS``),
whatever the provider sends (F6), and one a content filter stops (``content_filter``).
The recovery policy (``stream_recovery``: the client's setting or the request's field) is
in the ``x-sarvanom-stream-recovery`` header; a restart is the SSE comment
``: sarvanom.restart {...}`` (see :mod:`.failover`). A caller that stops reading for
``write_timeout`` seconds is dropped; one that disconnects ends the provider call at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import ContentFiltered, StreamInterrupted
from ..types import LLMRequest, LLMResponse, ProviderName, StreamChunk
from . import chat_wire, failover
from .callers import decide_cache
from .ids import new_id
from .limits import GatewayError, admit_request, read_json
from .models import AUTO, PREFIX, aliases, answered_as, listed_models, resolve, served_models
from .timing import deadline
from .writes import CallerGone, CallerWriter, EventStream

if TYPE_CHECKING:
    from ..settings import Settings
    from .app import Gateway

logger = logging.getLogger("sarvanom_sdk.gateway")

_STUB = ProviderName.LOCAL_STUB


# -- models ---------------------------------------------------------------------------------
__all__ = [
    "AUTO",
    "PREFIX",
    "ROUTES",
    "CallerGone",
    "answered_as",
    "resolve_model",
    "served_models",
]


def resolve_model(name: Any, settings: Settings) -> tuple[ProviderName | None, str | None]:
    """``(provider pin, model override)`` for a model name (:func:`.models.resolve`, kept
    for callers of the earlier name)."""
    resolved = resolve(name, settings)
    return resolved.provider, resolved.model


def _model_card(name: str, created: int, target: str | None = None) -> dict[str, Any]:
    card = {"id": name, "object": "model", "created": created, "owned_by": "sarvanom"}
    if target is not None:
        card["alias_of"] = target  # an operator's alias (SARVANOM_MODEL_ALIASES)
    return card


async def list_models(request: web.Request, gateway: Gateway, trace_id: str) -> web.Response:
    listed = listed_models(gateway.client.settings)
    cards = [_model_card(name, gateway.started, target) for name, target in listed]
    return web.json_response({"object": "list", "data": cards})


async def retrieve_model(request: web.Request, gateway: Gateway, trace_id: str) -> web.Response:
    name = request.match_info["model"]
    resolved = resolve(name, gateway.client.settings)
    target = aliases(gateway.client.settings).get(resolved.alias) if resolved.alias else None
    return web.json_response(_model_card(name, gateway.started, target))


# -- requests -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChatCall:
    """A parsed chat completion request: the LLMRequest and how to answer it."""

    request: LLMRequest
    stream: bool
    include_usage: bool


def parse_chat(
    body: Mapping[str, Any], gateway: Gateway, trace_id: str, cache_control: str | None = None
) -> ChatCall:
    """The OpenAI request body as a :class:`ChatCall`; 400/404 naming the problem (a
    provider pin or model override the caller policy forbids: 400 about ``model``).
    ``cache`` (a boolean, not OpenAI's) and ``cache_control`` (the request's
    ``Cache-Control``) follow :func:`.callers.decide_cache`."""
    chat_wire.refuse_unsupported(body)
    resolved = resolve(body.get("model"), gateway.client.settings)
    stream = body.get("stream")
    stream = False if stream is None else stream
    options = body.get("stream_options")
    options = {} if options is None else options
    if not isinstance(stream, bool):
        raise GatewayError.bad_request("stream", "stream: must be true or false")
    if not isinstance(options, dict):
        raise GatewayError.bad_request("stream_options", "stream_options: must be an object")
    fields: dict[str, Any] = {**chat_wire.request_fields(body), "trace_id": trace_id}
    fields.update(resolved.caller_fields())
    if body.get("cache") is not None:
        if not isinstance(body["cache"], bool):
            raise GatewayError.bad_request("cache", "cache: must be true or false")
        fields["cache"] = body["cache"]
    if body.get("stream_recovery") is not None:  # not OpenAI's: extra_body (issue 13 item 3)
        fields["stream_recovery"] = body["stream_recovery"]
    fields = gateway.callers.apply(fields, {"provider": "model", "model": "model"})
    fields.update(resolved.operator_fields())  # an alias's pin is the operator's choice
    fields = decide_cache(fields, cache_control)
    request = admit_request(fields, gateway.limits)
    router, provider = gateway.client.router, request.provider
    reachable = router.chain if provider is None else (() if provider is _STUB else (provider,))
    chat_wire.refuse_incapable(
        request, reachable, {p: router.adapters[p].capabilities for p in router.chain}
    )
    return ChatCall(request, stream, options.get("include_usage") is True)


# -- answers --------------------------------------------------------------------------------
def _usage(response: LLMResponse | None) -> dict[str, int]:
    if response is None or response.usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return response.usage.to_dict()


def _finish_reason(response: LLMResponse | None) -> str:
    return chat_wire.finish_reason(response)


def completion_body(response: LLMResponse, completion_id: str, created: int) -> dict[str, Any]:
    message = chat_wire.message_body(response)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": answered_as(response.provider, response.model),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish_reason(response),
                "logprobs": None,
            }
        ],
        "usage": _usage(response),
    }


async def chat_completions(
    request: web.Request, gateway: Gateway, trace_id: str
) -> web.StreamResponse:
    # the parsed body is not kept alive while the answer is awaited (issue 18 goal 5)
    body = await read_json(request, gateway.limits, gateway.reads)
    call = parse_chat(body, gateway, trace_id, request.headers.get("Cache-Control"))
    del body
    completion_id = f"chatcmpl-{new_id()}"
    created = int(time.time())
    async with gateway.gate.slot():
        if call.stream:
            return await _stream(request, gateway, call, completion_id, created)
        response = await gateway.complete(call.request)
    headers = {
        **gateway.answer_headers(response.provider, response),
        **gateway.overhead_headers(request),
    }
    return web.json_response(completion_body(response, completion_id, created), headers=headers)


class _Events:
    """Writes ``chat.completion.chunk`` server-sent events through a
    :class:`.writes.CallerWriter` (a write that does not finish within ``write_timeout``
    seconds raises :class:`CallerGone`). ``model`` is the name of what answers the chunks
    sent next (:meth:`answered_by` changes it after a failover).

    A chunk is written as ``json.dumps`` of its whole payload would write it, but only its
    ``delta`` is encoded per chunk: the bytes before it (id, created, model...) and after
    it (finish reason, ``usage: null``) are encoded once per stream (issue 18)."""

    def __init__(
        self,
        write: CallerWriter,
        completion_id: str,
        created: int,
        model: str,
        include_usage: bool,
    ) -> None:
        self.write = write
        self._head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._include_usage = include_usage
        self._end = ', "usage": null}\n\n' if include_usage else "}\n\n"
        self._open = ""
        self._close = ""
        self.answered_by(model)

    @property
    def model(self) -> str:
        return str(self._head["model"])

    def answered_by(self, model: str) -> None:
        self._head["model"] = model
        # json.dumps(head) without its closing brace, then the one choice up to its delta
        self._open = "data: " + json.dumps(self._head)[:-1] + ', "choices": [{"index": 0, "delta": '
        self._close = ', "finish_reason": null, "logprobs": null}]' + self._end

    async def send(self, payload: Mapping[str, Any]) -> None:
        await self.write(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def encoded(self, delta_json: str, finish_reason: str | None = None) -> bytes:
        """The event of one chunk whose ``delta`` is the JSON text ``delta_json``: the
        bytes ``send`` would write for the whole payload."""
        if finish_reason is None:
            return (self._open + delta_json + self._close).encode()
        close = f', "finish_reason": {json.dumps(finish_reason)}, "logprobs": null}}]'
        return (self._open + delta_json + close + self._end).encode()

    async def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> None:
        await self.write(self.encoded(json.dumps(delta), finish_reason))

    async def finish(self, response: LLMResponse | None) -> None:
        await self.chunk({}, _finish_reason(response))
        if self._include_usage:
            await self.send({**self._head, "choices": [], "usage": _usage(response)})
        await self.write(b"data: [DONE]\n\n")
        await self.write.flush()


def _delta(chunk: StreamChunk, first: bool) -> str:
    """The JSON text of the ``delta`` of ``chunk`` (:func:`.chat_wire.delta_json`)."""
    return chat_wire.delta_json(chunk, first)


async def _stream(
    request: web.Request, gateway: Gateway, call: ChatCall, completion_id: str, created: int
) -> web.StreamResponse:
    started = time.monotonic()
    settings = gateway.client.settings
    limit = call.request.timeout or settings.total_timeout
    policy = call.request.stream_recovery or settings.stream_recovery
    gone = False
    async with gateway.stream(call.request) as opened:
        model = gateway.streaming_model(opened.provider, call.request)
        out = EventStream(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                failover.RECOVERY_HEADER: policy,
                **gateway.answer_headers(opened.provider, model=model),
                **gateway.overhead_headers(request),
            }
        )
        await out.prepare(request)
        events = _Events(
            CallerWriter(out, request.transport, gateway.limits.write_timeout),
            completion_id,
            created,
            answered_as(opened.provider, model),
            call.include_usage,
        )
        try:
            async with deadline(limit - (time.monotonic() - started)):
                await _forward(opened, events, gateway, call.request)
        except ConnectionError:  # the caller went away or stopped reading
            gone = True
        except (StreamInterrupted, ContentFiltered, asyncio.TimeoutError) as error:
            gone = await _end_with_error(events, failover.ending(error, opened.provider, limit))
        except Exception as error:  # a bug must not look like a complete answer either
            logger.exception("stream failed", extra={"trace_id": call.request.trace_id})
            gone = await _end_with_error(events, failover.ending(error, opened.provider, limit))
    if gone and request.transport is not None:
        request.transport.abort()  # a caller that stopped reading must not block the end
    return out


async def _forward(opened: Any, events: _Events, gateway: Gateway, request: LLMRequest) -> None:
    """Relay the chunks, then the finish; a restart marker becomes the restart comment,
    and the chunks after a failover (restart or continue) name their provider's model."""
    first = True
    current = opened.provider
    async for chunk in opened.chunks():
        if chunk.provider is not None and chunk.provider is not current:
            current = chunk.provider
            events.answered_by(answered_as(current, gateway.streaming_model(current, request)))
        if chunk.restart:
            await events.write(failover.restart_comment(current, events.model))
            first = True
            continue
        await events.write(events.encoded(_delta(chunk, first)))
        first = False
    await events.finish(opened.response)


async def _end_with_error(events: _Events, error: GatewayError) -> bool:
    """Send the error event that ends a begun stream; True when the caller is gone."""
    try:
        await events.send(error.body())
        await events.write.flush()
    except ConnectionError:
        return True
    return False


ROUTES = (
    ("POST", "/v1/chat/completions", chat_completions),
    ("GET", "/v1/models", list_models),
    ("GET", "/v1/models/{model:.+}", retrieve_model),
)

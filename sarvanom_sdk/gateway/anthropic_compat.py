"""Anthropic-compatible endpoints: ``POST /v1/messages`` (JSON, and server-sent events with
``stream: true``) and ``POST /v1/messages/count_tokens``, so the official ``anthropic``
client and tools built on it work by changing only ``base_url``
(``http://127.0.0.1:8000``; ``api_key`` is the gateway token, sent as ``x-api-key``, or
any string without one). Any provider of the chain answers; the request and answer shapes
are in :mod:`.anthropic_wire`.

* Authentication: the gateway token in ``x-api-key`` or ``Authorization: Bearer``.
  ``anthropic-version`` and ``anthropic-beta`` are accepted and ignored.
* Errors (on these paths, the gateway's own refusals included: Host/Origin, token, body
  size, content type, concurrency): ``{"type": "error", "error": {"type", "message"},
  "request_id"}``, with the status and type Anthropic uses (400 invalid_request_error,
  401 authentication_error, 403 permission_error, 404 not_found_error, 413
  request_too_large, 500 api_error, 503 overloaded_error for a busy gateway or a strict
  client no provider answered).
* Streams: ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``
  (``text_delta``; ``input_json_delta`` in ``tool_use`` blocks), ``content_block_stop``,
  ``message_delta`` (stop_reason, usage), ``message_stop``. A stream that breaks after it
  began, or still runs at the request's deadline, ends with an ``error`` event and no
  ``message_stop`` (the client raises). A caller that stops reading for ``write_timeout``
  seconds is dropped; one that disconnects ends the provider call at once.
* ``count_tokens`` answers ``{"input_tokens": N}``, an **estimate** (characters / 4 plus a
  few tokens a message; no tokenizer is consulted), marked ``x-sarvanom-estimate: true``.
* Every answer carries ``request-id`` (the trace id, as Anthropic's API does) beside the
  gateway's ``X-Request-ID`` and ``x-sarvanom-*`` headers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import web

from ..errors import ContentFiltered, InvalidRequestError, StreamInterrupted
from ..types import LLMResponse, ProviderName
from .anthropic_wire import (
    InterleavedToolCalls,
    MessagesCall,
    StreamEvents,
    error_body,
    estimate_input_tokens,
    message_body,
    parse_messages,
)
from .callers import decide_cache
from .failover import ContentRefused
from .ids import new_id
from .limits import GatewayError, admit_request, read_json
from .logsafe import shown
from .openai_compat import answered_as
from .timing import deadline
from .writes import CallerWriter, EventStream

if TYPE_CHECKING:
    from ..types import LLMRequest
    from .app import Gateway, OpenedStream

logger = logging.getLogger("sarvanom_sdk.gateway")

PATH = "/v1/messages"
#: Anthropic's request-id header, echoing the gateway's trace id.
REQUEST_ID = "request-id"
ESTIMATE_HEADER = "x-sarvanom-estimate"
_AUTH_MESSAGES = {
    "missing_token": "missing API key: send the gateway token as 'x-api-key: <token>' or "
    "'Authorization: Bearer <token>'",
    "invalid_api_key": "invalid API key (x-api-key or bearer token)",
}


def is_ours(path: str) -> bool:
    """Whether ``path`` is a ``/v1/messages`` path (its refusals: :func:`refused_response`)."""
    return path == PATH or path.startswith(PATH + "/")


def _trace_id(request: web.Request) -> str | None:
    from .app import TRACE_ID

    return request.get(TRACE_ID)


def error_response(request: web.Request, error: GatewayError) -> web.Response:
    """``error`` in Anthropic's shape, with its status and headers."""
    trace_id = _trace_id(request)
    headers = dict(error.headers)
    if trace_id is not None:
        headers[REQUEST_ID] = trace_id
    if error.code in _AUTH_MESSAGES:  # name both ways Anthropic's clients send a key
        error = GatewayError(401, _AUTH_MESSAGES[error.code], code=error.code)
    return web.json_response(error_body(error, trace_id), status=error.status, headers=headers)


def refused_response(request: web.Request, error: Exception) -> web.Response:
    """On ``/v1/messages`` paths, the answer to an exception raised by the gateway's
    guards, its authentication or the handler: every refusal in Anthropic's error shape,
    500 (logged) for anything unexpected. The gateway's middleware (:mod:`.app`) calls it;
    it never sees a ``ConnectionError`` (the caller left: the access log says 499)."""
    if isinstance(error, GatewayError):
        return error_response(request, error)
    if isinstance(error, InvalidRequestError):  # the SDK refused it after the gateway
        return error_response(request, GatewayError.invalid(error))
    if isinstance(error, web.HTTPException):  # aiohttp's own: no route, wrong method...
        message = f"{error.reason}: {request.method} {shown(request.raw_path)}"
        allow = {k: v for k, v in error.headers.items() if k == "Allow"}
        return error_response(
            request, GatewayError(error.status, message, code=f"http_{error.status}", headers=allow)
        )
    logger.exception(
        "unhandled error on %s %s",
        request.method,
        shown(request.raw_path),
        extra={"trace_id": _trace_id(request)},
        exc_info=error,
    )
    message = f"internal error (request id {_trace_id(request)})"
    return error_response(request, GatewayError(500, message, code="internal_error"))


def _admit(call: MessagesCall, gateway: Gateway, cache_control: str | None) -> LLMRequest:
    fields = gateway.callers.apply(call.fields, {"provider": "model", "model": "model"})
    return admit_request(decide_cache(fields, cache_control), gateway.limits)


async def messages(request: web.Request, gateway: Gateway, trace_id: str) -> web.StreamResponse:
    body = await read_json(request, gateway.limits, gateway.reads)
    call = parse_messages(body, gateway.client.settings, trace_id)
    del body  # not kept alive while the answer is awaited (issue 18 goal 5)
    llm_request = _admit(call, gateway, request.headers.get("Cache-Control"))
    message_id = f"msg_{new_id()}"
    estimate = estimate_input_tokens(llm_request)
    async with gateway.gate.slot():
        try:
            if call.stream:
                return await _stream(request, gateway, llm_request, message_id, estimate)
            response = await gateway.complete(llm_request)
        except ContentRefused as refused:  # before any byte: Anthropic's refusal answer
            response = refusal(refused.filtered)
            if call.stream:
                out = await _open_events(request, gateway, llm_request, response.provider, None)
                events = StreamEvents(message_id, answered_as(response.provider, None), estimate)
                write = CallerWriter(out, request.transport, gateway.limits.write_timeout)
                await write(events.start() + events.text(response.content))
                await write(events.finish(response))
                await write.flush()
                return out
    headers = {
        REQUEST_ID: trace_id,
        **gateway.answer_headers(response.provider, response),
        **gateway.overhead_headers(request),
    }
    return web.json_response(message_body(response, message_id, estimate), headers=headers)


async def count_tokens(request: web.Request, gateway: Gateway, trace_id: str) -> web.Response:
    body = await read_json(request, gateway.limits, gateway.reads)
    body = {**body, "max_tokens": 1, "stream": False}
    llm_request = _admit(parse_messages(body, gateway.client.settings, trace_id), gateway, None)
    return web.json_response(
        {"input_tokens": estimate_input_tokens(llm_request)},
        headers={REQUEST_ID: trace_id, ESTIMATE_HEADER: "true"},
    )


async def _stream(
    request: web.Request,
    gateway: Gateway,
    llm_request: LLMRequest,
    message_id: str,
    estimate: int,
) -> web.StreamResponse:
    started = time.monotonic()
    limit = llm_request.timeout or gateway.client.settings.total_timeout
    gone = False
    async with gateway.stream(llm_request) as opened:
        model = gateway.streaming_model(opened.provider, llm_request)
        out = await _open_events(request, gateway, llm_request, opened.provider, model)
        write = CallerWriter(out, request.transport, gateway.limits.write_timeout)
        events = StreamEvents(message_id, answered_as(opened.provider, model), estimate)
        try:
            await write(events.start())
            async with deadline(limit - (time.monotonic() - started)):
                await _forward(opened, events, write)
        except (StreamInterrupted, InterleavedToolCalls) as error:
            gone = await _end_with_error(write, events, str(error))
        except asyncio.TimeoutError:
            gone = await _end_with_error(
                write,
                events,
                f"the answer from {opened.provider.value} was still running at the "
                f"request's deadline of {limit:g}s",
            )
        except ContentFiltered as error:  # a refusal after it began: Anthropic's way
            gone = await _end(write, events.finish(refusal(error, opened.provider)))
        except ConnectionError:  # the caller went away or stopped reading
            gone = True
        except Exception:  # a bug: the stream must still not end as if complete
            logger.exception("stream failed", extra={"trace_id": llm_request.trace_id})
            message = f"internal error (request id {llm_request.trace_id})"
            gone = await _end_with_error(write, events, message)
    if gone and request.transport is not None:
        request.transport.abort()  # a caller that stopped reading must not block the end
    return out


async def _open_events(
    request: web.Request,
    gateway: Gateway,
    llm_request: LLMRequest,
    provider: ProviderName,
    model: str | None,
) -> web.StreamResponse:
    """The event stream's response, prepared (headers sent)."""
    out = EventStream(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            REQUEST_ID: llm_request.trace_id,
            **gateway.answer_headers(provider, model=model),
            **gateway.overhead_headers(request),
        }
    )
    await out.prepare(request)
    return out


def refusal(error: ContentFiltered, provider: ProviderName | None = None) -> LLMResponse:
    """A provider's content-policy refusal as the answer Anthropic gives for one: what was
    said before it, ``stop_reason: "refusal"`` (``on_content_filter="fallback"`` makes the
    SDK try the next provider instead)."""
    if provider is None:
        provider = error.attempts[-1].provider if error.attempts else ProviderName.LOCAL_STUB
    return LLMResponse(
        success=True,
        provider=provider,
        content=error.partial_text,
        finish_reason="content_filter",
        trace_id=error.trace_id,
        attempts=error.attempts,
    )


async def _forward(opened: OpenedStream, events: StreamEvents, write: CallerWriter) -> None:
    async for chunk in opened.chunks():
        await write(events.text(chunk.text))
        for delta in chunk.tool_calls:
            await write(events.tool_call(delta))
    await write(events.finish(opened.response))
    await write.flush()


async def _end_with_error(write: CallerWriter, events: StreamEvents, message: str) -> bool:
    """Send the ``error`` event (Anthropic's type for a 502: api_error); True when the
    caller is gone."""
    return await _end(write, events.error(GatewayError(502, message, code="stream_interrupted")))


async def _end(write: CallerWriter, data: bytes) -> bool:
    """Send the stream's last events; True when the caller is gone."""
    try:
        await write(data)
        await write.flush()
    except ConnectionError:
        return True
    return False


ROUTES = (
    ("POST", PATH, messages),
    ("POST", PATH + "/count_tokens", count_tokens),
)

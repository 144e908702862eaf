"""The GPU box's HTTP application (aiohttp.web) over one :class:`~.backends.Backend`.

Endpoints:

* ``GET /health`` (public): ``{"status": "healthy", "model", "backend", "queue": {...}}``,
  or 503 with ``"status": "unhealthy"`` when the backend does not answer.
* ``POST /generate``: the seed protocol, ``{"prompt", "max_tokens", "temperature"}`` ->
  ``{"content", "model"}`` (the prompt is sent as one user message).
* ``POST /v1/chat/completions`` (``stream`` too), ``GET /v1/models``,
  ``POST /v1/embeddings``: OpenAI's protocol, passed to the backend with the box's model.

With a token every endpoint but ``/health`` needs ``Authorization: Bearer <token>``
(compared in constant time); the token is never logged or echoed. Generation and
embeddings take a GPU slot (:class:`~.slots.GpuSlots`); when every GPU is busy and the
queue is full the answer is 503 with ``Retry-After``, at once, so a client spills over.
Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .backends import Backend, BackendError, error_body
from .slots import GpuSlots, QueueFull

logger = logging.getLogger("sarvanom_sdk.gpu_box")

BOX: Any = web.AppKey("sarvanom_gpu_box", object) if hasattr(web, "AppKey") else "gpu_box"
_PUBLIC = frozenset({"/health"})
MAX_PROMPT_CHARS = 200_000


class GpuBox:
    """The box's state: backend, slots, token and limits."""

    def __init__(
        self,
        backend: Backend,
        *,
        token: str | None = None,
        slots: GpuSlots | None = None,
        retry_after: int = 2,
        max_tokens_cap: int = 4096,
        backend_name: str = "openai-compatible",
    ) -> None:
        self.backend = backend
        self.token = token.encode() if token else None
        self.slots = slots or GpuSlots()
        self.retry_after = retry_after
        self.max_tokens_cap = max_tokens_cap
        self.backend_name = backend_name

    def authorized(self, header: str | None) -> bool:
        if self.token is None:
            return True
        if not header or header[:7].lower() != "bearer ":
            return False
        given = header[7:].strip().encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.token)

    def busy(self) -> web.Response:
        return _error(
            503, "every GPU is busy and the queue is full; retry later or elsewhere",
            "overloaded", headers={"Retry-After": str(self.retry_after)},
        )


def create_app(box: GpuBox, *, max_body_bytes: int = 4 * 1024 * 1024) -> web.Application:
    app = web.Application(middlewares=[_authenticate], client_max_size=max_body_bytes)
    app[BOX] = box
    app.router.add_get("/health", _health)
    app.router.add_post("/generate", _generate)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/embeddings", _embeddings)

    async def start(app: web.Application) -> None:
        await box.backend.start()

    async def stop(app: web.Application) -> None:
        await box.backend.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    box: GpuBox = request.app[BOX]
    if request.path not in _PUBLIC and not box.authorized(request.headers.get("Authorization")):
        return _error(401, "missing or wrong bearer token", "authentication_error")
    return await handler(request)


# -- endpoints ------------------------------------------------------------------------------
async def _health(request: web.Request) -> web.Response:
    box: GpuBox = request.app[BOX]
    healthy = await box.backend.healthy()
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "model": box.backend.model,
        "backend": box.backend_name,
        "queue": box.slots.report(),
    }
    return web.json_response(body, status=200 if healthy else 503)


async def _generate(request: web.Request) -> web.Response:
    box: GpuBox = request.app[BOX]
    data = await _json_object(request)
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
        raise _bad("prompt", f"must be a non-empty string of at most {MAX_PROMPT_CHARS} chars")
    body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
    body.update(_generation_params(box, data))
    try:
        async with box.slots.slot():
            reply = await box.backend.chat(body)
    except QueueFull:
        return box.busy()
    except BackendError as error:
        return web.json_response(error.body, status=error.status)
    content = _first_message(reply)
    if content is None:
        return _error(502, "the backend's reply has no message content", "server_error")
    return web.json_response({"content": content, "model": box.backend.model})


async def _chat(request: web.Request) -> web.StreamResponse:
    box: GpuBox = request.app[BOX]
    data = await _json_object(request)
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "must be a non-empty list")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "must be true or false")
    body = {**data, **_generation_params(box, data)}
    if not stream:
        try:
            async with box.slots.slot():
                reply = await box.backend.chat(body)
        except QueueFull:
            return box.busy()
        except BackendError as error:
            return web.json_response(error.body, status=error.status)
        reply["model"] = box.backend.model
        return web.json_response(reply)
    return await _chat_stream(request, box, body)


async def _chat_stream(
    request: web.Request, box: GpuBox, body: dict[str, Any]
) -> web.StreamResponse:
    try:
        async with box.slots.slot():
            chunks = box.backend.chat_stream(body)
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                first = b""
            except BackendError as error:
                return web.json_response(error.body, status=error.status)
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
            await response.prepare(request)
            try:
                await response.write(first)
                async for data in chunks:
                    await response.write(data)
            except BackendError as error:  # after the headers: an SSE error event, then end
                event = json.dumps(error.body)
                await response.write(f"data: {event}\n\n".encode())
            except ConnectionError:  # the caller left: stop generating, free the GPU
                return response
            finally:
                await chunks.aclose()  # type: ignore[attr-defined]
            await response.write_eof()
            return response
    except QueueFull:
        return box.busy()


async def _models(request: web.Request) -> web.Response:
    box: GpuBox = request.app[BOX]
    model = {"id": box.backend.model, "object": "model", "created": 0, "owned_by": "gpu-box"}
    return web.json_response({"object": "list", "data": [model]})


async def _embeddings(request: web.Request) -> web.Response:
    box: GpuBox = request.app[BOX]
    data = await _json_object(request)
    texts = data.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise _bad("input", "must be a string or a non-empty list of strings")
    if sum(len(t) for t in texts) > MAX_PROMPT_CHARS:
        raise _bad("input", f"at most {MAX_PROMPT_CHARS} characters in all")
    try:
        async with box.slots.slot():
            reply = await box.backend.embeddings({"input": texts})
    except QueueFull:
        return box.busy()
    except BackendError as error:
        return web.json_response(error.body, status=error.status)
    reply["model"] = box.backend.model
    return web.json_response(reply)


# -- helpers --------------------------------------------------------------------------------
async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.read())
    except (ValueError, RecursionError):
        raise _bad("body", "must be a JSON object") from None
    if not isinstance(data, dict):
        raise _bad("body", "must be a JSON object")
    return data


def _generation_params(box: GpuBox, data: dict[str, Any]) -> dict[str, Any]:
    """``max_tokens`` (capped) and ``temperature`` from a request, checked."""
    out: dict[str, Any] = {}
    max_tokens = data.get("max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _bad("max_tokens", "must be a positive integer")
        out["max_tokens"] = min(max_tokens, box.max_tokens_cap)
    else:
        out["max_tokens"] = min(512, box.max_tokens_cap)
    temperature = data.get("temperature")
    if temperature is not None:
        if (
            not isinstance(temperature, (int, float))
            or isinstance(temperature, bool)
            or not math.isfinite(temperature)
            or not 0 <= temperature <= 2
        ):
            raise _bad("temperature", "must be a number from 0 to 2")
        out["temperature"] = temperature
    return out


def _first_message(reply: dict[str, Any]) -> str | None:
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _bad(field: str, message: str) -> web.HTTPBadRequest:
    body = error_body(f"{field}: {message}", "invalid_request_error")
    body["error"]["param"] = field
    return web.HTTPBadRequest(text=json.dumps(body), content_type="application/json")


def _error(status: int, message: str, kind: str, headers: Any = None) -> web.Response:
    return web.json_response(error_body(message, kind), status=status, headers=headers)

"""What answers behind the GPU box: an OpenAI-compatible server (llama.cpp's
``llama-server``, vLLM, TGI...) or a transformers model (:mod:`.transformers_backend`).

A backend speaks OpenAI's JSON shapes: ``chat(body)`` returns a chat.completion object,
``chat_stream(body)`` yields the SSE bytes of a streamed one, ``embeddings(body)`` an
embeddings list. A failure is a :class:`BackendError` carrying the status and the
OpenAI-shaped error body the box sends on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from ..errors import ProviderError
from ..http import HttpCall, HttpReply


class BackendError(Exception):
    """The backend failed: ``status`` and an OpenAI-shaped error ``body`` for the caller."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if isinstance(body, dict) and "error" in body else error_body(message)


def error_body(message: str, kind: str = "server_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class Backend(Protocol):
    #: The model name the box reports (``/health``, ``/v1/models``, replies).
    model: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def healthy(self) -> bool: ...

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]: ...

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]: ...


class OpenAIBackend:
    """Forwards to an OpenAI-compatible server at ``url`` (with or without ``/v1``);
    embeddings go to ``embeddings_url`` when given (llama.cpp serves them from a second
    server started with ``--embeddings``). Uses the SDK's async transport, so a reply's
    decoded size is bounded and every call has a deadline."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        embeddings_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_response_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        from ..transports.aiohttp_transport import AiohttpTransport

        self._root = _v1(url)
        self._embeddings_root = _v1(embeddings_url) if embeddings_url else self._root
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._transport = AiohttpTransport(max_response_bytes=max_response_bytes)
        self.model = model or ""

    async def start(self) -> None:
        """Learn the model name from ``/v1/models`` unless one was given."""
        if self.model:
            return
        try:
            reply = await self._transport.send(self._get("/models"), 10.0)
            self.model = str(json.loads(reply.body)["data"][0]["id"])
        except (ProviderError, ValueError, KeyError, IndexError, TypeError):
            self.model = "default"

    async def close(self) -> None:
        await self._transport.close()

    async def healthy(self) -> bool:
        try:
            reply = await self._transport.send(self._get("/models"), 5.0)
        except ProviderError:
            return False
        return reply.status == 200

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self._send(self._post(self._root, "/chat/completions", body))
        return _json_object(reply)

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        call = self._post(self._root, "/chat/completions", body)
        try:
            opened = await self._transport.open_stream(call, self._timeout)
        except ProviderError as error:
            raise BackendError(502, f"backend unreachable: {error}") from None
        if isinstance(opened, HttpReply):
            raise _failed(opened)
        try:
            while True:
                try:
                    data = await opened.read(self._timeout)
                except ProviderError as error:
                    raise BackendError(502, f"backend stream broke: {error}") from None
                if not data:
                    return
                yield data
        finally:
            await opened.close()

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self._send(self._post(self._embeddings_root, "/embeddings", body))
        return _json_object(reply)

    async def _send(self, call: HttpCall) -> HttpReply:
        try:
            reply = await self._transport.send(call, self._timeout)
        except ProviderError as error:
            raise BackendError(502, f"backend unreachable: {error}") from None
        if not 200 <= reply.status < 300:
            raise _failed(reply)
        return reply

    def _get(self, path: str) -> HttpCall:
        return HttpCall("GET", self._root + path, self._headers)

    def _post(self, root: str, path: str, body: dict[str, Any]) -> HttpCall:
        return HttpCall("POST", root + path, self._headers, json={**body, "model": self.model})


def _v1(url: str) -> str:
    root = url.rstrip("/")
    return root if root.endswith("/v1") else f"{root}/v1"


def _json_object(reply: HttpReply) -> dict[str, Any]:
    try:
        data = json.loads(reply.body)
    except ValueError:
        raise BackendError(502, "backend sent a reply that is not JSON") from None
    if not isinstance(data, dict):
        raise BackendError(502, "backend sent a reply that is not a JSON object")
    return data


def _failed(reply: HttpReply) -> BackendError:
    """The backend's non-2xx reply, passed on (a busy backend stays a 503)."""
    try:
        body = json.loads(reply.body)
    except ValueError:
        body = None
    status = reply.status if reply.status in (400, 404, 413, 422, 429, 503) else 502
    return BackendError(status, f"backend answered HTTP {reply.status}", body)

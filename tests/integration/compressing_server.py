"""A loopback server (aiohttp.web on its own thread) that answers with compressed bodies:
valid gzip/deflate replies, and decompression bombs (issue 12, F1).

Routes (any method; the path's last part is ignored, so an SDK provider can be pointed at
``{url}/<route>`` and call ``/generate`` or ``/v1/chat/completions`` under it):

- ``/bomb/<coding>[/chunked]/...``: a body that inflates to :data:`BOMB_SIZE` bytes;
  ``chunked`` sends it without Content-Length, 64 KiB at a time.
- ``/reply/<coding>/...``: a valid JSON reply of both the seed and the OpenAI protocols,
  compressed with ``<coding>``: ``gzip``, ``gzip2`` (two gzip members), ``deflate``
  (zlib-wrapped), ``rawdeflate`` (raw, labelled deflate), ``br`` (not brotli at all: the
  client never asks for it), ``identity``.
- ``/sse/<coding>/...``: an OpenAI-protocol SSE stream, compressed.
- ``/headers``: the request's headers as JSON.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib

from aiohttp import web

BOMB_SIZE = 128 * 1024 * 1024
ANSWER = "inflated answer"


def _compress(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def _bomb(wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(BOMB_SIZE >> 20)]
    return b"".join(parts) + packer.flush()


def encode(coding: str, data: bytes) -> tuple[str, bytes]:
    """(Content-Encoding value, body) for ``data`` sent with ``coding``."""
    if coding == "gzip":
        return "gzip", _compress(data, 31)
    if coding == "gzip2":
        half = len(data) // 2
        return "gzip", _compress(data[:half], 31) + _compress(data[half:], 31)
    if coding == "deflate":
        return "deflate", _compress(data, 15)
    if coding == "rawdeflate":
        return "deflate", _compress(data, -15)
    if coding == "br":
        return "br", data
    return "identity", data


REPLY = json.dumps(
    {
        "content": ANSWER,  # the seed protocol
        "id": "c1", "object": "chat.completion", "model": "m",  # the OpenAI protocol
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
).encode()


def sse_body() -> bytes:
    def event(delta: dict[str, str], finish: str | None = None) -> bytes:
        chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    words = ANSWER.split(" ")
    parts = [event({"role": "assistant", "content": words[0]})]
    parts += [event({"content": " " + w}) for w in words[1:]]
    parts += [event({}, "stop"), b"data: [DONE]\n\n"]
    return b"".join(parts)


class CompressingServer:
    def __init__(self) -> None:
        self.url = ""
        self.bombs = {"gzip": _bomb(31), "deflate": _bomb(15)}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> CompressingServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bomb/{coding}/{rest:.*}", self._bomb)
        app.router.add_route("*", "/reply/{coding}/{rest:.*}", self._reply)
        app.router.add_route("*", "/sse/{coding}/{rest:.*}", self._sse)
        app.router.add_route("*", "/headers", self._headers)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _bomb(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        coding = request.match_info["coding"]
        body = self.bombs[coding]
        sse = request.match_info["rest"].endswith("completions")
        headers = {"Content-Encoding": coding,
                   "Content-Type": "text/event-stream" if sse else "application/json"}
        if not request.match_info["rest"].startswith("chunked"):
            return web.Response(body=body, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 65536):
            await response.write(body[start:start + 65536])
        await response.write_eof()
        return response

    async def _reply(self, request: web.Request) -> web.Response:
        await request.read()
        name, body = encode(request.match_info["coding"], REPLY)
        return web.Response(
            body=body, headers={"Content-Encoding": name, "Content-Type": "application/json"}
        )

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        name, body = encode(request.match_info["coding"], sse_body())
        response = web.StreamResponse(
            headers={"Content-Encoding": name, "Content-Type": "text/event-stream"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 7):  # small pieces: decoding across reads
            await response.write(body[start:start + 7])
        await response.write_eof()
        return response

    async def _headers(self, request: web.Request) -> web.Response:
        return web.json_response(dict(request.headers))

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

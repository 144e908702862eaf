#!/usr/bin/env python3
"""A minimal loopback HTTP/1.1 server for the benchmarks: canned provider replies, fast.

Why not the emulator: the benchmarks measure the SDK's cost per request (tens of µs), so
the server's own cost must be small next to the client's. This server is a bare asyncio
protocol — no routing framework, no request log, no fault plan — and runs in its own
process so it never competes with the measured client for the GIL. ``bench_throughput``
prints the emulator's cost beside it (``server cost`` rows) to show the difference.

It answers, on keep-alive connections with ``Content-Length`` bodies:

* ``POST .../api/chat`` — Ollama: a JSON answer, or with ``"stream":true`` in the body an
  NDJSON stream (chunked): the first content line at once, the rest after ``--gap`` s;
* ``POST .../generate`` — the seed's remote GPU protocol ``{"content": ...}``;
* ``POST .../chat/completions`` — OpenAI: a ``chat.completion`` JSON answer (the peers
  benchmark: the openai client, LiteLLM and the SDK's ``remote_gpu`` in its ``openai``
  protocol all send here);
* anything else — 404.

Every answer waits ``--delay`` seconds first (memory benchmark: requests pile up).

Run: ``python benchmarks/_server.py [--port 0] [--delay S] [--gap S] [--chunks N]``; it
prints ``READY <port>`` on stdout once listening, and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from typing import Any

ANSWER = "Hello from the benchmark server."
OLLAMA_BODY = json.dumps({
    "model": "deepseek-r1:8b", "created_at": "2026-01-01T00:00:00Z",
    "message": {"role": "assistant", "content": ANSWER}, "done": True,
    "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 8,
}).encode()
SEED_BODY = json.dumps({"content": ANSWER}).encode()
OPENAI_BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1767225600,
    "model": "default", "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": ANSWER}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
}).encode()


def _response(body: bytes, content_type: bytes = b"application/json", status: bytes = b"200 OK"
              ) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type
            + b"\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\nConnection: keep-alive\r\n\r\n" + body)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def stream_parts(chunks: int) -> tuple[bytes, bytes]:
    """An Ollama NDJSON stream as (headers + first content line, the rest + terminator)."""
    words = [f"w{i} " for i in range(chunks)]
    lines = [json.dumps({"model": "deepseek-r1:8b", "message": {"role": "assistant",
                                                               "content": w}, "done": False})
             for w in words]
    lines.append(json.dumps({"model": "deepseek-r1:8b", "message": {"role": "assistant",
                                                                   "content": ""},
                             "done": True, "done_reason": "stop", "prompt_eval_count": 12,
                             "eval_count": chunks}))
    encoded = [_chunk((line + "\n").encode()) for line in lines]
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
    return head + encoded[0], b"".join(encoded[1:]) + b"0\r\n\r\n"


class Options:
    def __init__(self, delay: float, gap: float, chunks: int) -> None:
        self.delay = delay
        self.gap = gap
        self.ollama = _response(OLLAMA_BODY)
        self.seed = _response(SEED_BODY)
        self.openai = _response(OPENAI_BODY)
        self.missing = _response(b'{"error":"not found"}', status=b"404 Not Found")
        self.stream_first, self.stream_rest = stream_parts(chunks)


class Http(asyncio.Protocol):
    """One connection: parse requests off the buffer, answer each in order."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.buffer = b""
        self.transport: Any = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = _content_length(head)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        line = head.split(b"\r\n", 1)[0]
        opts = self.options
        if b"/api/chat" in line and b'"stream":true' in body:
            parts = [(0.0, opts.stream_first), (opts.gap, opts.stream_rest)]
        elif b"/api/chat" in line:
            parts = [(0.0, opts.ollama)]
        elif b"/generate" in line:
            parts = [(0.0, opts.seed)]
        elif b"/chat/completions" in line:
            parts = [(0.0, opts.openai)]
        else:
            parts = [(0.0, opts.missing)]
        if opts.delay:
            self.loop.call_later(opts.delay, self._send, parts)
        else:
            self._send(parts)

    def _send(self, parts: list[tuple[float, bytes]]) -> None:
        if self.transport.is_closing():
            return
        (_, first), *rest = parts
        self.transport.write(first)
        for pause, data in rest:
            self.loop.call_later(pause, self._write_if_open, data)

    def _write_if_open(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


def _content_length(head: bytes) -> int:
    index = head.lower().find(b"\r\ncontent-length:")
    if index < 0:
        return 0
    start = index + len(b"\r\ncontent-length:")
    end = head.find(b"\r\n", start)
    return int(head[start : end if end >= 0 else None])


async def serve(port: int, options: Options) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(options), "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--gap", type=float, default=0.005,
                        help="seconds between a stream's first line and the rest")
    parser.add_argument("--chunks", type=int, default=8, help="content lines per stream")
    args = parser.parse_args()
    asyncio.run(serve(args.port, Options(args.delay, args.gap, args.chunks)))


if __name__ == "__main__":
    main()

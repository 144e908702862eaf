"""A sync stream's connection at close: a stream left early closes its connection, and
closing never waits for a body's end that has not come. (Issue 18 tried reading an
already-arrived chunked end at close so the connection went back to the pool; against
llama.cpp's server the next request then got no answer within its timeout, so streams
close their connection as before.)"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from sarvanom_sdk import SarvanClient, Settings

DONE = b'{"model":"m","message":{"role":"assistant","content":""},"done":true}\n'
LINE = b'{"model":"m","message":{"role":"assistant","content":"hi"},"done":false}\n'


@pytest.fixture()
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every outgoing TCP connect made from now on."""
    made: list[Any] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        made.append(address)
        original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return made


def _client(base_url: str) -> SarvanClient:
    return SarvanClient(Settings(ollama_base_url=base_url, providers=("ollama_local",)))


def _stream(client: SarvanClient) -> str:
    with client.stream("hello", cache=False) as answer:
        text = "".join(chunk.text for chunk in answer)
    assert answer.response is not None and answer.response.provider.value == "ollama_local"
    return text


def test_issue18_leaving_a_stream_early_still_closes_its_connection(
    connects: list[Any],
) -> None:
    with _Server(late=0.5) as server:
        client = _client(server.url)
        try:
            with client.stream("hello", cache=False) as answer:
                next(iter(answer))  # the caller leaves after the first chunk
            assert _stream(client) == "hi"  # on a connection of its own
        finally:
            client.close()
    assert len(connects) == 2, connects


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _NDJSONServer(asyncio.Protocol):
    """Answers every request on a keep-alive connection with a chunked Ollama stream,
    written at once; with ``late`` > 0 the body's last chunk follows ``late`` s later."""

    late = 0.0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(LINE) + _chunk(DONE)
            )
            end = b"0\r\n\r\n"
            if self.late:
                self.transport.write(head)
                asyncio.get_running_loop().call_later(self.late, self.transport.write, end)
            else:  # one write: the end arrives with the done line, as from a busy server
                self.transport.write(head + end)


class _Server:
    def __init__(self, late: float = 0.0) -> None:
        self.late = late
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    async def _start(self) -> None:
        late = self.late
        factory = type("Protocol", (_NDJSONServer,), {"late": late})
        self._server = await self._loop.create_server(factory, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _stop(self) -> None:
        self._server.close()

    def __enter__(self) -> _Server:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def test_issue18_a_body_end_not_yet_arrived_is_not_waited_for(connects: list[Any]) -> None:
    with _Server(late=3.0) as server:
        client = _client(server.url)
        try:
            started = time.monotonic()
            assert _stream(client) == "hi"
            elapsed = time.monotonic() - started
            assert _stream(client) == "hi"  # its connection was closed: a new one works
        finally:
            client.close()
    assert elapsed < 2.0  # generous: waiting for the end would take 3 s
    assert len(connects) == 2, connects

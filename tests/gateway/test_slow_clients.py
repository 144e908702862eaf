"""F7: slow and silent connections are bounded: header and body read timeouts, a
connection cap that keeps ``/health`` answering, no log flood, a prompt SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import pytest
from gateway_helpers import raw_exchange, served, stub_client

from sarvanom_sdk.gateway import Limits, create_app


async def test_f7_unfinished_headers_are_cut_at_the_header_timeout() -> None:
    app = create_app(stub_client(), limits=Limits(header_timeout=0.5))
    async with served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        started = time.monotonic()
        reply = await raw_exchange(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow", 30)
        assert reply == b""  # closed without an answer
        assert time.monotonic() - started < 10


async def test_f7_a_trickling_body_is_408_at_the_body_timeout() -> None:
    app = create_app(stub_client(), limits=Limits(body_timeout=0.5))
    async with served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        started = time.monotonic()
        reply = await raw_exchange(
            port,
            b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"prompt": ',
            30,
        )
        assert reply.startswith(b"HTTP/1.1 408 ")
        assert b'"request_timeout"' in reply
        assert time.monotonic() - started < 10


async def test_f7_past_the_connection_cap_idle_connections_make_room() -> None:
    app = create_app(stub_client(), limits=Limits(max_connections=20, header_timeout=60))
    async with served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(60)]
        for _, writer in held:
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        async with (
            aiohttp.ClientSession() as session,
            session.get(url + "/health", timeout=aiohttp.ClientTimeout(10)) as reply,
        ):
            assert reply.status == 200
        closed = 0
        for reader, writer in held:
            with contextlib.suppress(asyncio.TimeoutError):
                closed += await asyncio.wait_for(reader.read(), 0.05) == b""
            writer.close()
        assert closed >= 40  # the oldest half-open connections were dropped


# -- a real `sarvanom serve` in a child process ------------------------------------------------
@pytest.fixture
def serve_process(tmp_path) -> Iterator:
    """Start ``sarvanom serve --port 0 <args>`` (optionally under a lowered open-file
    limit); returns (process, port)."""
    started: list[subprocess.Popen] = []

    def start(*args: str, nofile: int | None = None) -> tuple[subprocess.Popen, int]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SARVANOM_", "OLLAMA"))}

        def limit() -> None:
            if nofile is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        process = subprocess.Popen(
            [sys.executable, "-m", "sarvanom_cli.main", "serve", "--port", "0", "--workers", "1",
             *args],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            preexec_fn=limit,
        )
        started.append(process)
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert found, line
        return process, int(found.group(1))

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def test_f7_300_half_open_connections_do_not_stop_health(serve_process) -> None:
    """Open-file limit 256 (the review's reproduction): 300 connections that never finish
    their headers. /health still answers, and stderr has no EMFILE flood."""
    process, port = serve_process("--header-timeout", "60", nofile=256)
    held = []
    for _ in range(300):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        held.append(writer)
    await asyncio.sleep(0.5)
    try:
        async with aiohttp.ClientSession() as session:
            timeout = aiohttp.ClientTimeout(total=15)
            async with session.get(f"http://127.0.0.1:{port}/health", timeout=timeout) as reply:
                assert reply.status == 200
    finally:
        for writer in held:
            writer.close()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    text = err.decode()
    assert text.count("Too many open files") <= 3, text[-2000:]
    assert "Traceback" not in text, text[-2000:]


async def test_f7_sigterm_does_not_wait_for_a_trickling_upload(serve_process) -> None:
    process, port = serve_process("--shutdown-timeout", "30", "--body-timeout", "60")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"prompt": "a'
    )
    await writer.drain()
    await asyncio.sleep(0.5)  # the handler is now reading the body
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    reply = await asyncio.wait_for(reader.read(), 30)
    await asyncio.get_running_loop().run_in_executor(None, process.wait, 30)
    writer.close()
    assert time.monotonic() - started < 10  # neither the 30 s shutdown nor the 60 s body wait
    assert reply.startswith(b"HTTP/1.1 503 ") and b"shutting_down" in reply
    assert process.returncode == 0

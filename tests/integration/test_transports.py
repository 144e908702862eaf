"""Both transports against a real loopback server: hard time bounds (hangs, slow headers,
trickled bodies), redirect refusal, size limits, cut connections."""

from __future__ import annotations

import asyncio
import time

import pytest

from sarvanom_sdk.errors import (
    ProviderConnectionError,
    ProviderTimeout,
    ResponseTooLarge,
)
from sarvanom_sdk.http import HttpCall
from sarvanom_sdk.transports.aiohttp_transport import AiohttpTransport
from sarvanom_sdk.transports.requests_transport import RequestsTransport

MARGIN = 1.0  # seconds of scheduling slack allowed past a bound (a loaded 2-core machine)


class SyncSide:
    def __init__(self, **kw):
        self.t = RequestsTransport(**kw)

    def send(self, call, timeout):
        return self.t.send(call, timeout)

    def stream_read_all(self, call, timeout):
        stream = self.t.open_stream(call, timeout)
        try:
            while stream.read(timeout):
                pass
        finally:
            stream.close()

    def close(self):
        self.t.close()


class AsyncSide:
    def __init__(self, **kw):
        self.t = AiohttpTransport(**kw)
        self.loop = asyncio.new_event_loop()

    def send(self, call, timeout):
        return self.loop.run_until_complete(self.t.send(call, timeout))

    def stream_read_all(self, call, timeout):
        async def go():
            stream = await self.t.open_stream(call, timeout)
            try:
                while await stream.read(timeout):
                    pass
            finally:
                await stream.close()

        return self.loop.run_until_complete(go())

    def close(self):
        self.loop.run_until_complete(self.t.close())
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def side(request):
    made = SyncSide(max_response_bytes=1_000_000) if request.param == "sync" else AsyncSide(
        max_response_bytes=1_000_000
    )
    yield made
    made.close()


def get(url: str) -> HttpCall:
    return HttpCall("GET", url)


def timed(fn, *args):
    started = time.monotonic()
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - returned for the assertions
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_plain_reply_is_read_whole(side, loopback):
    reply = side.send(get(f"{loopback.url}/ok"), 5)
    assert reply.status == 200 and b'"ok"' in reply.body
    assert reply.headers["content-type"].startswith("application/json")


def test_a_server_that_never_answers_costs_exactly_the_timeout(side, loopback):
    error, elapsed = timed(side.send, get(f"{loopback.url}/hang"), 0.4)
    assert isinstance(error, ProviderTimeout)
    assert 0.35 <= elapsed < 0.4 + MARGIN


def test_slow_headers_past_the_timeout_time_out(side, loopback):
    error, elapsed = timed(side.send, get(f"{loopback.url}/slow-headers?s=2"), 0.3)
    assert isinstance(error, ProviderTimeout)
    assert elapsed < 0.3 + MARGIN


def test_a_trickled_body_cannot_outlast_the_timeout(side, loopback):
    # Each byte arrives well within any per-read timeout; the bound is on the whole body.
    error, elapsed = timed(side.send, get(f"{loopback.url}/trickle?interval=0.02"), 0.5)
    assert isinstance(error, ProviderTimeout)
    assert 0.45 <= elapsed < 0.5 + MARGIN


def test_a_redirect_is_returned_not_followed(side, loopback):
    reply = side.send(get(f"{loopback.url}/redirect"), 5)
    assert reply.status == 302


def test_a_body_over_the_limit_is_refused(side, loopback):
    error, _ = timed(side.send, get(f"{loopback.url}/big?n=2000000"), 5)
    assert isinstance(error, ResponseTooLarge)


def test_a_chunked_body_over_the_limit_is_cut_while_reading(side, loopback):
    error, _ = timed(side.send, get(f"{loopback.url}/big-chunked?n=40"), 5)
    assert isinstance(error, ResponseTooLarge)


def test_a_stream_over_the_limit_is_cut(side, loopback):
    error, _ = timed(side.stream_read_all, get(f"{loopback.url}/big-chunked?n=40"), 5)
    assert isinstance(error, ResponseTooLarge)


def test_a_connection_cut_mid_body_is_a_connection_error(side, loopback):
    error, _ = timed(side.send, get(f"{loopback.url}/cut"), 5)
    assert isinstance(error, ProviderConnectionError)


def test_a_refused_connection_is_a_connection_error(side):
    error, elapsed = timed(side.send, get("http://127.0.0.1:9/"), 5)
    assert isinstance(error, ProviderConnectionError)
    assert "refused" in str(error).lower()
    assert elapsed < 1 + MARGIN


def test_a_stream_idle_past_its_read_timeout_times_out(side, loopback):
    error, elapsed = timed(side.stream_read_all, get(f"{loopback.url}/trickle?interval=1"), 0.3)
    assert isinstance(error, ProviderTimeout)
    assert elapsed < 0.3 + MARGIN


def test_issue18_a_long_body_with_a_declared_length_is_read_whole(side, loopback):
    # More than one 64 KiB read (sync) and one read() call (async): the body's declared
    # length ends the read, never a short body.
    reply = side.send(get(f"{loopback.url}/big?n=300000"), 5)
    assert reply.status == 200 and reply.body == b"a" * 300_000
    again = side.send(get(f"{loopback.url}/big?n=70000"), 5)  # the connection is reusable
    assert again.body == b"a" * 70_000

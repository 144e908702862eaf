"""Issue 12, F1: a reply's *decoded* size is bounded by ``max_response_bytes`` on both
clients and every path (Content-Length or chunked, gzip or deflate, whole or streamed): a
decompression bomb is a ``ResponseTooLarge`` provider failure that falls back, with the
memory it costs near the limit, not near the bomb. Valid compressed replies still decode.

Memory is measured with tracemalloc (Python allocations, where an inflated body lives):
the peak while answering a 128 MiB bomb must stay well under it (limit 1 MiB, bound 24
MiB). At commit 44ee82a the async client inflated the whole bomb (peak > 128 MiB)."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sarvanom_sdk import AsyncSarvanClient, ProviderName, SarvanClient
from sarvanom_sdk.errors import BadResponseError, ResponseTooLarge
from sarvanom_sdk.http import HttpCall
from sarvanom_sdk.transports.aiohttp_transport import AiohttpTransport
from sarvanom_sdk.transports.requests_transport import RequestsTransport

from .compressing_server import ANSWER, BOMB_SIZE, REPLY, CompressingServer, sse_body

LIMIT = 1024 * 1024
#: Peak Python memory allowed while a bomb is refused: the limit plus generous room for
#: slices, reads and the test's own objects; an inflated bomb would be 128 MiB.
PEAK_BOUND = 24 * 1024 * 1024
assert PEAK_BOUND * 4 < BOMB_SIZE

BOMBS = ["gzip", "deflate", "gzip/chunked", "deflate/chunked"]


@pytest.fixture(scope="module")
def server() -> Iterator[CompressingServer]:
    made = CompressingServer().start()
    yield made
    made.stop()


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """``with peak_memory() as peak: ...``; then ``peak[0]`` is the most Python memory
    allocated at once inside the block (bytes)."""
    out: list[int] = []
    tracemalloc.start()
    try:
        yield out
    finally:
        out.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


class Sync:
    def __init__(self) -> None:
        self.t = RequestsTransport(max_response_bytes=LIMIT)

    def send(self, call: HttpCall) -> bytes:
        return self.t.send(call, 30).body

    def stream(self, call: HttpCall) -> bytes:
        stream = self.t.open_stream(call, 30)
        assert hasattr(stream, "read"), stream
        out = []
        try:
            while data := stream.read(30):
                out.append(data)
        finally:
            stream.close()
        return b"".join(out)

    def close(self) -> None:
        self.t.close()


class Async:
    def __init__(self) -> None:
        self.t = AiohttpTransport(max_response_bytes=LIMIT)
        self.loop = asyncio.new_event_loop()

    def send(self, call: HttpCall) -> bytes:
        return self.loop.run_until_complete(self.t.send(call, 30)).body

    def stream(self, call: HttpCall) -> bytes:
        async def go() -> bytes:
            stream = await self.t.open_stream(call, 30)
            assert hasattr(stream, "read"), stream
            out = []
            try:
                while data := await stream.read(30):
                    out.append(data)
            finally:
                await stream.close()
            return b"".join(out)

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.t.close())
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def side(request: pytest.FixtureRequest) -> Iterator[Sync | Async]:
    made = Sync() if request.param == "sync" else Async()
    yield made
    made.close()


def post(url: str) -> HttpCall:
    return HttpCall("POST", url, json={"prompt": "hi"})


# -- the transports -------------------------------------------------------------------------
@pytest.mark.parametrize("bomb", BOMBS)
def test_f1_whole_reply_bomb_is_too_large_with_memory_near_the_limit(side, server, bomb):
    with peak_memory() as peak, pytest.raises(ResponseTooLarge):
        side.send(post(f"{server.url}/bomb/{bomb}/generate"))
    assert peak[0] < PEAK_BOUND, f"peak {peak[0] / 2**20:.0f} MiB for a {bomb} bomb"


@pytest.mark.parametrize("bomb", BOMBS)
def test_f1_streamed_bomb_is_too_large_with_memory_near_the_limit(side, server, bomb):
    with peak_memory() as peak, pytest.raises(ResponseTooLarge):
        side.stream(post(f"{server.url}/bomb/{bomb}/v1/chat/completions"))
    assert peak[0] < PEAK_BOUND, f"peak {peak[0] / 2**20:.0f} MiB for a {bomb} bomb"


@pytest.mark.parametrize("coding", ["gzip", "gzip2", "deflate", "rawdeflate", "identity"])
def test_compressed_whole_replies_decode(side, server, coding):
    assert side.send(post(f"{server.url}/reply/{coding}/generate")) == REPLY


@pytest.mark.parametrize("coding", ["gzip", "deflate", "identity"])
def test_compressed_streams_decode_across_small_reads(side, server, coding):
    assert side.stream(post(f"{server.url}/sse/{coding}/v1/chat/completions")) == sse_body()


def test_a_coding_never_asked_for_is_a_bad_response(side, server):
    with pytest.raises(BadResponseError, match="Content-Encoding 'br'") as caught:
        side.send(post(f"{server.url}/reply/br/generate"))
    assert not isinstance(caught.value, ResponseTooLarge)


def test_both_transports_ask_only_for_codings_they_bound(side, server):
    import json

    call = HttpCall("GET", f"{server.url}/headers", {"Accept-Encoding": "br"})
    sent = json.loads(side.send(call))
    assert {k.lower(): v for k, v in sent.items()}["accept-encoding"] == "gzip, deflate"


# -- the clients ----------------------------------------------------------------------------
def gpu_at(url: str, protocol: str = "seed") -> dict:
    return {
        "env_file": None,
        "providers": (ProviderName.REMOTE_GPU,),
        "gpu_remote_url": url,
        "gpu_remote_protocol": protocol,
        "max_response_bytes": LIMIT,
        "max_retries": 0,
        "total_timeout": 30.0,
        "attempt_timeout": 30.0,
        "first_token_timeout": 30.0,
    }


def failed_too_large(response) -> bool:
    return any(
        a.provider is ProviderName.REMOTE_GPU and "limit" in a.reason for a in response.attempts
    )


def complete(kind: str, **settings):
    if kind == "sync":
        with SarvanClient(**settings) as client:
            return client.complete("hi", cache=False)

    async def go():
        async with AsyncSarvanClient(**settings) as client:
            return await client.complete("hi", cache=False)

    return asyncio.run(go())


def stream(kind: str, **settings):
    """(text streamed, final response)."""
    if kind == "sync":
        with SarvanClient(**settings) as client, client.stream("hi", cache=False) as s:
            text = "".join(chunk.text for chunk in s)
            return text, s.response

    async def go():
        async with AsyncSarvanClient(**settings) as client:
            async with client.stream("hi", cache=False) as s:
                text = "".join([chunk.text async for chunk in s])
            return text, s.response

    return asyncio.run(go())


@pytest.mark.parametrize("bomb", ["gzip", "deflate/chunked"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_f1_client_complete_falls_back_on_a_bomb(server, kind, bomb):
    with peak_memory() as peak:
        response = complete(kind, **gpu_at(f"{server.url}/bomb/{bomb}"))
    assert response.provider is ProviderName.LOCAL_STUB
    assert failed_too_large(response), response.attempts
    assert peak[0] < PEAK_BOUND, f"peak {peak[0] / 2**20:.0f} MiB"


@pytest.mark.parametrize("bomb", ["gzip/chunked", "deflate"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_f1_client_stream_falls_back_on_a_bomb(server, kind, bomb):
    with peak_memory() as peak:
        _, response = stream(kind, **gpu_at(f"{server.url}/bomb/{bomb}", "openai"))
    assert response.provider is ProviderName.LOCAL_STUB
    assert failed_too_large(response), response.attempts
    assert peak[0] < PEAK_BOUND, f"peak {peak[0] / 2**20:.0f} MiB"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_client_answers_from_a_gzip_reply(server, kind):
    response = complete(kind, **gpu_at(f"{server.url}/reply/gzip"))
    assert (response.provider, response.content) == (ProviderName.REMOTE_GPU, ANSWER)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_client_streams_from_a_gzip_stream(server, kind):
    text, response = stream(kind, **gpu_at(f"{server.url}/sse/gzip", "openai"))
    assert (response.provider, text) == (ProviderName.REMOTE_GPU, ANSWER)

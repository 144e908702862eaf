"""One benchmarked request, four ways: through the SDK or raw, sync or async.

Each factory returns a zero-argument callable (a coroutine function for async) that sends
one request and returns an :class:`Outcome`; it never raises for a failed request (a
failure is an outcome with a reason). ``KeyboardInterrupt`` and cancellation pass through.

* SDK: ``client.complete``/``client.stream`` with the provider pinned and ``cache=False``.
  An answer from any other provider (the stub, when the pinned one failed) is an error.
  Streams: TTFT is the time to the first chunk carrying text; tokens/s is the completion
  tokens (from usage, else the chunk count) over the time from that chunk to the end.
* Raw: the same :class:`HttpCall` the SDK's adapter builds, sent with a plain
  ``requests.Session`` or ``aiohttp.ClientSession``; the body is read whole and, when not
  streaming, parsed as JSON, as hand-written client code would. A raw stream's TTFT is the
  time to the first body bytes (it does not decode the protocol).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .stats import Outcome

SyncCall = Callable[[], Outcome]
AsyncCall = Callable[[], Awaitable[Outcome]]

#: Connections the raw aiohttp session may open: the SDK's AiohttpTransport default.
RAW_CONNECTION_LIMIT = 256


# -- through the SDK ------------------------------------------------------------------------
def sdk_sync(client: Any, provider: str, options: dict[str, Any], stream: bool) -> SyncCall:
    """A request through a ``SarvanClient``; ``options`` are ``complete()`` keywords."""
    from sarvanom_sdk import SarvanError

    kwargs = {**options, "provider": provider, "cache": False}

    def complete() -> Outcome:
        tally = _Tally(provider)
        try:
            return tally.judged(client.complete(**kwargs))
        except SarvanError as error:
            return tally.failed(error)

    def streamed() -> Outcome:
        tally = _Tally(provider)
        try:
            with client.stream(**kwargs) as answer:
                for chunk in answer:
                    tally.see(chunk)
        except SarvanError as error:
            return tally.failed(error)
        return tally.judged(answer.response)

    return streamed if stream else complete


def sdk_async(client: Any, provider: str, options: dict[str, Any], stream: bool) -> AsyncCall:
    """A request through an ``AsyncSarvanClient`` (see :func:`sdk_sync`)."""
    from sarvanom_sdk import SarvanError

    kwargs = {**options, "provider": provider, "cache": False}

    async def complete() -> Outcome:
        tally = _Tally(provider)
        try:
            return tally.judged(await client.complete(**kwargs))
        except SarvanError as error:
            return tally.failed(error)

    async def streamed() -> Outcome:
        tally = _Tally(provider)
        try:
            async with client.stream(**kwargs) as answer:
                async for chunk in answer:
                    tally.see(chunk)
        except SarvanError as error:
            return tally.failed(error)
        return tally.judged(answer.response)

    return streamed if stream else complete


class _Tally:
    """One SDK request being timed: its start, its first chunk with text, its chunks."""

    __slots__ = ("provider", "started", "first", "chunks")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.started = time.perf_counter()
        self.first: float | None = None
        self.chunks = 0

    def see(self, chunk: Any) -> None:
        self.chunks += 1
        if self.first is None and chunk.text:
            self.first = time.perf_counter()

    def failed(self, error: Exception) -> Outcome:
        return Outcome(False, time.perf_counter() - self.started, reason=str(error))

    def judged(self, response: Any) -> Outcome:
        """The response as an outcome: an answer from another provider is a failure."""
        ended = time.perf_counter()
        latency = ended - self.started
        if response is None or response.provider.value != self.provider:
            return Outcome(False, latency, reason=_why_not(response, self.provider))
        if self.first is None:
            return Outcome(True, latency)
        usage = response.usage
        tokens = usage.completion_tokens if usage and usage.completion_tokens else self.chunks
        rate = tokens / (ended - self.first) if ended > self.first else None
        return Outcome(True, latency, ttft=self.first - self.started, tokens_per_s=rate)


def _why_not(response: Any, provider: str) -> str:
    """The pinned provider's last failure reason from the trail."""
    if response is None:
        return "the stream gave no final response"
    for attempt in reversed(response.attempts):
        if attempt.provider.value == provider:
            return str(attempt.reason or attempt.outcome.value)
    return f"answered by {response.provider.value}"


# -- raw ------------------------------------------------------------------------------------
def raw_session(concurrency: int) -> Any:
    """A plain ``requests.Session`` with a pool big enough for ``concurrency`` threads."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=max(10, concurrency), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def raw_sync(session: Any, call: Any, timeout: float, stream: bool) -> SyncCall:
    """``call`` (an ``HttpCall``) sent with a ``requests.Session``."""
    import requests

    body = call.body_bytes()
    headers = dict(call.headers)

    def send() -> Outcome:
        started = time.perf_counter()
        first: float | None = None
        try:
            with session.request(
                call.method, call.url, headers=headers, data=body, timeout=timeout,
                stream=stream, allow_redirects=False,
            ) as reply:
                if stream:
                    for _ in reply.raw.stream(65536, decode_content=True):
                        if first is None:
                            first = time.perf_counter()
                    content = b""
                else:
                    content = reply.content
                status = reply.status_code
        except requests.RequestException as error:
            return Outcome(False, time.perf_counter() - started, reason=type(error).__name__)
        return _raw_outcome(status, content, started, first, stream)

    return send


def raw_async_session() -> Any:
    """A plain ``aiohttp.ClientSession`` (create it inside the running event loop)."""
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=RAW_CONNECTION_LIMIT))


def raw_async(session: Any, call: Any, timeout: float, stream: bool) -> AsyncCall:
    """``call`` (an ``HttpCall``) sent with an ``aiohttp.ClientSession``."""
    import asyncio

    import aiohttp

    body = call.body_bytes()
    headers = dict(call.headers)
    limit = aiohttp.ClientTimeout(total=timeout)

    async def send() -> Outcome:
        started = time.perf_counter()
        first: float | None = None
        try:
            async with session.request(
                call.method, call.url, headers=headers, data=body, timeout=limit,
                allow_redirects=False,
            ) as reply:
                if stream:
                    async for _ in reply.content.iter_any():
                        if first is None:
                            first = time.perf_counter()
                    content = b""
                else:
                    content = await reply.read()
                status = reply.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            return Outcome(False, time.perf_counter() - started, reason=type(error).__name__)
        return _raw_outcome(status, content, started, first, stream)

    return send


def _raw_outcome(
    status: int, content: bytes, started: float, first: float | None, stream: bool
) -> Outcome:
    ended = time.perf_counter()
    if not 200 <= status < 300:
        return Outcome(False, ended - started, reason=f"HTTP {status}")
    if stream:
        if first is None:
            return Outcome(False, ended - started, reason="empty stream")
        return Outcome(True, ended - started, ttft=first - started)
    try:
        json.loads(content)
    except ValueError:
        return Outcome(False, ended - started, reason="malformed JSON")
    return Outcome(True, ended - started)

"""The async transport: one lazily created ``aiohttp.ClientSession`` per event loop.

A session cannot cross event loops, so when the client is used under a new loop (a second
``asyncio.run()``) a new session is made there; nor can it cross ``os.fork()``: a forked
child lets go of the parent's session without touching it and makes its own. Whole
replies are bounded by the caller's timeout — aiohttp's own ``total`` timeout, which
covers the connection, the request, the headers and every read of the body, with its
rounding up to whole seconds turned off (no ``asyncio.timeout`` of our own per call: one
timer per call instead of two); streamed reads by a per-read timeout.

aiohttp's own decompression is off: ``response.read()`` would inflate a whole gzip body in
memory whatever its size. Raw bytes are read with ``readany()`` and decoded by
:class:`~.decoding.BodyDecoder`, which bounds the *decoded* size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ProviderConnectionError, ProviderTimeout
from ..http import HttpCall, HttpReply, lower_headers
from .decoding import BodyDecoder
from .fork import renew_after_fork
from .headers import outgoing_headers

#: asyncio's TimeoutError is the builtin one only from Python 3.11 on.
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
#: ``ClientTimeout.ceil_threshold``: aiohttp rounds a timeout of at least this many seconds
#: up to the next whole second of loop time; never, here (a deadline is a deadline).
_NEVER = float("inf")

if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _timeout(seconds: float) -> Any:
        task = asyncio.current_task()
        assert task is not None
        handle = asyncio.get_running_loop().call_later(seconds, task.cancel)
        try:
            yield
        except asyncio.CancelledError:
            raise TimeoutError from None
        finally:
            handle.cancel()


class AiohttpTransport:
    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        max_response_bytes: int = 8 * 1024 * 1024,
        limit: int = 256,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._max_bytes = max_response_bytes
        self._limit = limit
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aiohttp: Any = None
        self._keeper: Any = None
        self._no_limit: Any = None
        self._limits: dict[float, Any] = {}  # ClientTimeout by total seconds
        renew_after_fork(self)

    def after_fork_in_child(self) -> None:
        """Let go of the parent's session in a forked child, without closing it through its
        event loop: the child's copy of that loop shares the parent's epoll set and wake-up
        socket, so closing there would stop the parent's loop watching its connections.
        The session is marked closed (its finalizers then do nothing) and dropped; the
        child makes its own session on first use."""
        session, keeper = self._session, self._keeper
        self._session = self._loop = self._keeper = None
        if session is not None:
            _disown(session, keeper)

    async def _session_for_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and self._loop is loop and not session.closed:
            return session
        if self._aiohttp is None:
            import aiohttp

            self._aiohttp = aiohttp
        aiohttp = self._aiohttp
        # sock_connect, not connect: aiohttp's ``connect`` also bounds the wait for a
        # free pooled connection, which under load is queueing, not a dead provider.
        self._no_limit = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit),
            timeout=self._no_limit,
            auto_decompress=False,  # BodyDecoder inflates, with the size bounded
        )
        # Parked on this loop: asyncio.run() closes live async generators when the loop
        # ends, which closes the session and its sockets even if nobody calls close().
        self._keeper = _close_at_loop_end(session)
        await self._keeper.__anext__()
        self._session, self._loop = session, loop
        return session

    async def send(self, call: HttpCall, timeout: float) -> HttpReply:
        try:
            return await self._whole(await self._request(call, timeout))
        except _TIMEOUTS:
            raise ProviderTimeout(f"no complete reply within {timeout:.1f}s") from None
        except self._aiohttp.ClientError as err:
            raise ProviderConnectionError(_describe(err)) from None

    async def open_stream(self, call: HttpCall, timeout: float) -> AiohttpByteStream | HttpReply:
        try:
            async with _timeout(timeout):
                response = await self._request(call)
                if not 200 <= response.status < 300:
                    return await self._whole(response)
        except _TIMEOUTS:
            raise ProviderTimeout(f"no response headers within {timeout:.1f}s") from None
        except self._aiohttp.ClientError as err:
            raise ProviderConnectionError(_describe(err)) from None
        try:
            return AiohttpByteStream(response, self._max_bytes, self._aiohttp.ClientError)
        except BaseException:
            response.close()
            raise

    async def _whole(self, response: Any) -> HttpReply:
        """Read a reply's whole body (bounded) and give its connection back. A body whose
        ``Content-Length`` is declared (and within the limit: the decoder's constructor
        refuses a larger one) is read with one ``read()``, which stops at that length;
        any other body is read piece by piece, so the limit cuts it while reading."""
        headers = lower_headers(response.headers.items())
        try:
            decoder = BodyDecoder(headers, self._max_bytes)
            if headers.get("content-length", "").isdigit():
                body = decoder.feed(await response.read())
                rest = decoder.finish()
                if rest:
                    body += rest
            else:
                body = await _read_all(response, decoder)
        finally:
            response.release()
        return HttpReply(response.status, headers, body)

    async def _request(self, call: HttpCall, timeout: float | None = None) -> Any:
        """Send ``call``; once more on a fresh connection if a pooled one turned out dead
        before the request went out (aiohttp: "Can not write request body").

        ``timeout`` (seconds) bounds the whole exchange through aiohttp's ``total``
        timeout, the body's reads included; a second try gets what is left of it. None:
        the caller bounds the call itself (streams).

        Servers such as llama.cpp close a connection after a streamed reply without saying
        so; aiohttp has pooled it by then. A request that could not be written was never
        received, so sending it again is safe even for POST (RFC 9112, 9.3.1)."""
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop() or session.closed:
            session = await self._session_for_loop()  # first: it imports aiohttp
        headers = outgoing_headers(call.headers)
        body = call.body_bytes()
        ends = None if timeout is None else self._loop.time() + timeout  # type: ignore[union-attr]
        for last_try in (False, True):
            if ends is None:
                limit = self._no_limit
            else:  # the first try: the whole timeout; a second: what is left of it
                limit = self._limit_for(ends, None if last_try else timeout)
            try:
                return await session.request(
                    call.method, call.url, headers=headers, data=body, allow_redirects=False,
                    timeout=limit,
                )
            except self._aiohttp.ClientOSError as err:
                if last_try or "Can not write request body" not in str(err):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _limit_for(self, ends: float, timeout: float | None = None) -> Any:
        """An aiohttp ``ClientTimeout`` ending at loop time ``ends`` (never rounded up).
        Given the ``timeout`` that ``ends`` was computed from just now, the limit is that
        timeout itself, made once per value (most calls get the attempt timeout)."""
        if timeout is not None:
            limit = self._limits.get(timeout)
            if limit is None:
                if len(self._limits) >= 64:
                    self._limits.clear()
                limit = self._limits[timeout] = self._aiohttp.ClientTimeout(
                    total=timeout, sock_connect=self._connect_timeout, ceil_threshold=_NEVER
                )
            return limit
        left = ends - self._loop.time()  # type: ignore[union-attr]
        if left <= 0:
            raise ProviderTimeout("no time left for the request")
        return self._aiohttp.ClientTimeout(
            total=left, sock_connect=self._connect_timeout, ceil_threshold=_NEVER
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            with contextlib.suppress(RuntimeError):  # its loop is gone (an earlier run)
                await session.close()


async def _close_at_loop_end(session: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        if not session.closed:
            await session.close()


def _disown(session: Any, keeper: Any) -> None:
    """In a forked child: make the parent's ``session`` inert without any I/O."""
    connector = session.connector
    if connector is not None:
        connector._closed = True  # its __del__ would close the sockets through the loop
    if keeper is not None:  # end the keeper here: left to the garbage collector, it would
        with contextlib.suppress(StopIteration, RuntimeError):  # wake the parent's loop
            keeper.aclose().send(None)


class AiohttpByteStream:
    """An open 2xx streamed reply (read by one task at a time)."""

    __slots__ = ("_response", "status", "headers", "_decoder", "_client_error", "_ended")

    def __init__(self, response: Any, max_bytes: int, client_error: type[Exception]) -> None:
        self._response = response
        self.status: int = response.status
        self.headers: dict[str, str] = lower_headers(response.headers.items())
        self._decoder = BodyDecoder(self.headers, max_bytes)
        self._client_error = client_error
        self._ended = False

    async def read(self, timeout: float) -> bytes:
        """The next decoded bytes (b"" only at the end), within ``timeout``. Bytes already
        received are taken without waiting (no timer); a wait is bounded by what is left
        of ``timeout``."""
        content = self._response.content
        ends: float | None = None
        try:
            while not self._ended:
                raw = content.read_nowait()
                if not raw and not content.at_eof():
                    if ends is None:
                        ends = asyncio.get_running_loop().time() + timeout
                    left = ends - asyncio.get_running_loop().time()
                    async with _timeout(max(left, 0.0)):
                        raw = await content.readany()
                if not raw:
                    self._ended = True
                    return self._decoder.finish()
                data = self._decoder.feed(raw)
                if data:
                    return data
            return b""
        except _TIMEOUTS:
            raise ProviderTimeout(f"no data for {timeout:.1f}s") from None
        except self._client_error as err:
            reason = f"connection lost while reading: {_describe(err)}"
            raise ProviderConnectionError(reason) from None

    async def close(self) -> None:
        self._response.close()


async def _read_all(response: Any, decoder: BodyDecoder) -> bytes:
    chunks: list[bytes] = []
    while True:
        raw = await response.content.readany()
        if not raw:
            chunks.append(decoder.finish())
            return b"".join(chunks)
        chunks.append(decoder.feed(raw))


def _describe(err: BaseException) -> str:
    """A short, key-free description of an aiohttp error (no URL query, no headers)."""
    name = type(err).__name__
    os_error: Any = getattr(err, "os_error", err)
    if getattr(os_error, "errno", None):
        return os.strerror(os_error.errno).lower()
    text = str(err).split(" [", 1)[0]
    if "payload" in text.lower() or "not completed" in text.lower():
        return "connection closed before the body was complete"
    return name

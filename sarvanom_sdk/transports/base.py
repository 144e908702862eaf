"""The transport contract: the only code that does network I/O.

Both transports take the same :class:`~sarvanom_sdk.http.HttpCall` and give the same
:class:`~sarvanom_sdk.http.HttpReply`; failures are mapped onto
:class:`~sarvanom_sdk.errors.ProviderTimeout` / :class:`ProviderConnectionError` /
:class:`ResponseTooLarge`. They never follow redirects (a 3xx comes back as a reply, which
the adapter turns into an error), so a key header can never follow a redirect elsewhere.

``timeout`` is a hard bound in seconds on the whole exchange — connecting, waiting for the
headers and reading every byte of the body — even against a server that trickles bytes.

Shared rules, written once: :mod:`.headers` checks the headers before anything is sent
(an unsendable value is a ``ProviderConnectionError`` naming the header, never its value)
and asks only for ``gzip, deflate``; :mod:`.decoding` bounds a reply's *decoded* size by
``max_response_bytes`` whatever its encoding; :mod:`.fork` gives each forked child its own
connection pool.
"""

from __future__ import annotations

from typing import Protocol

from ..http import HttpCall, HttpReply


class ByteStream(Protocol):
    """An open streamed reply with a 2xx status."""

    status: int
    headers: dict[str, str]

    def read(self, timeout: float) -> bytes:
        """The next bytes (b"" at the end). ProviderTimeout if none arrive in ``timeout``."""

    def close(self) -> None: ...


class AsyncByteStream(Protocol):
    status: int
    headers: dict[str, str]

    async def read(self, timeout: float) -> bytes: ...

    async def close(self) -> None: ...


class SyncTransport(Protocol):
    def send(self, call: HttpCall, timeout: float) -> HttpReply: ...

    def open_stream(self, call: HttpCall, timeout: float) -> ByteStream | HttpReply:
        """Send ``call`` and wait at most ``timeout`` for the headers. A non-2xx reply is
        read whole and returned as an HttpReply; a 2xx one as an open ByteStream."""

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def send(self, call: HttpCall, timeout: float) -> HttpReply: ...

    async def open_stream(self, call: HttpCall, timeout: float) -> AsyncByteStream | HttpReply: ...

    async def close(self) -> None: ...


__all__ = ["AsyncByteStream", "AsyncTransport", "ByteStream", "SyncTransport"]

"""The sync transport: a pooled ``requests.Session`` (a new one in each forked child).

requests' read timeout is per socket read, so a server trickling one byte a second would
pass any of them. Bodies are therefore read with ``stream=True`` in a loop that sets the
socket's timeout to what is left of the attempt before every read: the attempt never runs
past its deadline by more than one scheduler tick. The loop reads the raw bytes and
decodes them with :class:`~.decoding.BodyDecoder`, which bounds the *decoded* size.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import ProviderConnectionError, ProviderTimeout
from ..http import HttpCall, HttpReply, lower_headers
from .decoding import BodyDecoder
from .fork import renew_after_fork
from .headers import outgoing_headers

_READ_SIZE = 65536
_MIN_WAIT = 0.001


class RequestsTransport:
    """``send``/``open_stream`` over one ``requests.Session`` (thread-safe for our use)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        max_response_bytes: int = 8 * 1024 * 1024,
        pool_maxsize: int = 64,
    ) -> None:
        import requests

        self._requests = requests
        self._connect_timeout = connect_timeout
        self._max_bytes = max_response_bytes
        self._pool_maxsize = pool_maxsize
        self._session = self._new_session()
        renew_after_fork(self)

    def _new_session(self) -> Any:
        from requests.adapters import HTTPAdapter

        session = self._requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=self._pool_maxsize, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def after_fork_in_child(self) -> None:
        """A forked child gets a pool of its own. The inherited one is dropped, never used:
        its sockets are the parent's connections (dropping only closes the child's copies
        of their file descriptors)."""
        self._session = self._new_session()

    def send(self, call: HttpCall, timeout: float) -> HttpReply:
        deadline = time.monotonic() + timeout
        return self._whole(self._request(call, timeout), deadline)

    def open_stream(self, call: HttpCall, timeout: float) -> RequestsByteStream | HttpReply:
        deadline = time.monotonic() + timeout
        response = self._request(call, timeout)
        if not 200 <= response.status_code < 300:
            return self._whole(response, deadline)
        try:
            return RequestsByteStream(response, self._max_bytes)
        except BaseException:
            response.close()
            raise

    def _whole(self, response: Any, deadline: float) -> HttpReply:
        """Read a reply's whole body by ``deadline`` (bounded in size) and close it."""
        headers = lower_headers(response.headers.items())
        try:
            body = _read_all(response, deadline, BodyDecoder(headers, self._max_bytes))
        finally:
            response.close()
        return HttpReply(response.status_code, headers, body)

    def close(self) -> None:
        self._session.close()

    def _request(self, call: HttpCall, timeout: float) -> Any:
        exc = self._requests.exceptions
        headers = outgoing_headers(call.headers)
        try:
            return self._session.request(
                call.method,
                call.url,
                headers=headers,
                data=call.body_bytes(),
                timeout=(min(self._connect_timeout, timeout), max(timeout, _MIN_WAIT)),
                stream=True,
                allow_redirects=False,
            )
        except (exc.ConnectTimeout, exc.ReadTimeout):
            raise ProviderTimeout(f"no response within {timeout:.1f}s") from None
        except exc.RequestException as err:
            raise ProviderConnectionError(_describe(err)) from None


class RequestsByteStream:
    """An open 2xx streamed reply; each read is bounded by the given timeout."""

    __slots__ = ("_response", "status", "headers", "_decoder", "_ended")

    def __init__(self, response: Any, max_bytes: int) -> None:
        self._response = response
        self.status: int = response.status_code
        self.headers: dict[str, str] = lower_headers(response.headers.items())
        self._decoder = BodyDecoder(self.headers, max_bytes)
        self._ended = False

    def read(self, timeout: float) -> bytes:
        """The next decoded bytes (b"" only at the end), within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self._ended:
            raw = _read_some(self._response, deadline)
            if not raw:
                self._ended = True
                return self._decoder.finish()
            data = self._decoder.feed(raw)
            if data:
                return data
        return b""

    def close(self) -> None:
        """Let go of the reply (and its connection, unless urllib3 already gave it back at
        the body's end). Reading the end of a chunked body at close, to keep the connection,
        was tried in issue 18 and taken out: against llama.cpp's server the next request
        then got no answer within its timeout (tests/real_model)."""
        self._response.close()


def _read_all(response: Any, deadline: float, decoder: BodyDecoder) -> bytes:
    """The whole decoded body. A body with a declared length ends when that many bytes
    have come (urllib3 has then given the connection back): no read just to see the end."""
    chunks: list[bytes] = []
    while True:
        raw = _read_some(response, deadline)
        if not raw:
            chunks.append(decoder.finish())
            return b"".join(chunks)
        chunks.append(decoder.feed(raw))
        if getattr(response.raw, "length_remaining", None) == 0:
            chunks.append(decoder.finish())
            return b"".join(chunks)


def _read_some(response: Any, deadline: float) -> bytes:
    """One raw (still encoded) read of at most 64 KiB, waiting no later than ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProviderTimeout("the body did not arrive in time")
    _set_socket_timeout(response, left)
    try:
        return bytes(response.raw.read1(_READ_SIZE, decode_content=False))
    except TimeoutError:
        raise ProviderTimeout("the body did not arrive in time") from None
    except Exception as err:  # urllib3 wraps socket errors in its own classes
        if "timed out" in str(err).lower():
            raise ProviderTimeout("the body did not arrive in time") from None
        raise ProviderConnectionError(f"connection lost while reading: {_describe(err)}") from None


def _set_socket_timeout(response: Any, seconds: float) -> None:
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, _MIN_WAIT))


def _describe(err: BaseException) -> str:
    """A short, key-free description of a requests/urllib3 error."""
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "Connection reset", "Remote end closed", "ended prematurely",
                   "certificate verify failed", "No route to host"):
        if marker.lower() in text.lower():
            return marker.lower()
    return type(err).__name__

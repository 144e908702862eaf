"""The sync transport: a pooled ``requests.Session``.

requests' read timeout is per socket read, so a server trickling one byte a second would
pass any of them. Bodies are therefore read with ``stream=True`` in a loop that sets the
socket's timeout to what is left of the attempt before every read: the attempt never runs
past its deadline by more than one scheduler tick.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import ProviderConnectionError, ProviderTimeout, ResponseTooLarge
from ..http import HttpCall, HttpReply, lower_headers

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
        from requests.adapters import HTTPAdapter

        self._requests = requests
        self._connect_timeout = connect_timeout
        self._max_bytes = max_response_bytes
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_maxsize, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session

    def send(self, call: HttpCall, timeout: float) -> HttpReply:
        deadline = time.monotonic() + timeout
        return self._whole(self._request(call, timeout), deadline)

    def open_stream(self, call: HttpCall, timeout: float) -> RequestsByteStream | HttpReply:
        deadline = time.monotonic() + timeout
        response = self._request(call, timeout)
        if not 200 <= response.status_code < 300:
            return self._whole(response, deadline)
        return RequestsByteStream(response, self._max_bytes)

    def _whole(self, response: Any, deadline: float) -> HttpReply:
        """Read a reply's whole body by ``deadline`` (bounded in size) and close it."""
        try:
            body = _read_all(response, deadline, self._max_bytes)
        finally:
            response.close()
        return HttpReply(response.status_code, lower_headers(response.headers.items()), body)

    def close(self) -> None:
        self._session.close()

    def _request(self, call: HttpCall, timeout: float) -> Any:
        exc = self._requests.exceptions
        try:
            return self._session.request(
                call.method,
                call.url,
                headers=call.headers,
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

    def __init__(self, response: Any, max_bytes: int) -> None:
        self._response = response
        self.status: int = response.status_code
        self.headers: dict[str, str] = lower_headers(response.headers.items())
        self._left = max_bytes

    def read(self, timeout: float) -> bytes:
        data = _read_some(self._response, time.monotonic() + timeout)
        self._left -= len(data)
        if self._left < 0:
            raise ResponseTooLarge("stream passed the response size limit")
        return data

    def close(self) -> None:
        self._response.close()


def _read_all(response: Any, deadline: float, max_bytes: int) -> bytes:
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise ResponseTooLarge(f"body of {length} bytes passes the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    while True:
        data = _read_some(response, deadline)
        if not data:
            return b"".join(chunks)
        size += len(data)
        if size > max_bytes:
            raise ResponseTooLarge(f"body passes the {max_bytes}-byte limit")
        chunks.append(data)


def _read_some(response: Any, deadline: float) -> bytes:
    """One read of at most 64 KiB, waiting no later than ``deadline`` (monotonic)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProviderTimeout("the body did not arrive in time")
    _set_socket_timeout(response, left)
    try:
        return bytes(response.raw.read1(_READ_SIZE, decode_content=True))
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

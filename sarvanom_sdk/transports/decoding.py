"""Content decoding with the *decoded* size bounded (sans-IO, shared by both transports).

Neither HTTP library is trusted to inflate a reply: aiohttp's ``read()`` inflates a whole
gzip body in memory whatever its size, and urllib3's bound depends on its version. Both
transports therefore read the raw (de-chunked, still encoded) bytes and feed them to one
:class:`BodyDecoder`, which

- inflates ``gzip`` and ``deflate`` (zlib-wrapped or raw) a bounded slice at a time, so a
  reply never holds more than the limit plus one slice in memory, however it is compressed;
- raises :class:`~sarvanom_sdk.errors.ResponseTooLarge` as soon as the decoded body (or the
  raw body, or a declared ``Content-Length``) passes ``max_bytes``;
- refuses any other coding (``br``, ``zstd``, stacked codings) with
  :class:`~sarvanom_sdk.errors.BadResponseError`: :data:`ACCEPT_ENCODING` never asks for
  them, so a server that sends one anyway is misbehaving.

Both are provider failures, so the chain falls back to the next provider.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from ..errors import BadResponseError, ResponseTooLarge

#: The codings :class:`BodyDecoder` can inflate with a bound; sent on every request.
ACCEPT_ENCODING = "gzip, deflate"

#: Largest piece inflated in one step (and so the memory a step adds past the body).
_SLICE = 65536
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class BodyDecoder:
    """Decode one reply's body incrementally: ``feed(raw)`` for each read, ``finish()``
    at the end of the raw body. Each returns the decoded bytes it produced (maybe ``b""``).

    ``headers`` are the reply's headers with lower-case names. The constructor already
    raises ``ResponseTooLarge`` for a declared ``Content-Length`` past ``max_bytes``, and
    ``BadResponseError`` for a coding it cannot decode."""

    __slots__ = ("_coding", "_decoded", "_inflater", "_max", "_members", "_prefix", "_raw")

    def __init__(self, headers: Mapping[str, str], max_bytes: int) -> None:
        self._max = max_bytes
        self._raw = 0
        self._decoded = 0
        length = headers.get("content-length")
        if length and (length := length.strip()).isdigit() and int(length) > max_bytes:
            raise ResponseTooLarge(f"body of {length} bytes passes the {max_bytes}-byte limit")
        encoding = headers.get("content-encoding")
        self._coding = _coding(encoding) if encoding else ""
        self._members = 0  # gzip members finished
        self._inflater: zlib._Decompress | None = None
        # deflate: the first two bytes, until they tell zlib-wrapped from raw deflate.
        self._prefix: bytes | None = None
        if not self._coding:
            return
        if self._coding == "gzip":
            self._inflater = zlib.decompressobj(_GZIP_WBITS)
        elif self._coding == "deflate":
            self._prefix = b""

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes that ``data`` (the next raw bytes) completes."""
        if not data:
            return b""
        self._raw += len(data)
        if self._raw > self._max:
            raise ResponseTooLarge(f"body passes the {self._max}-byte limit")
        if self._prefix is not None:
            data = self._start_deflate(data)
        if self._inflater is not None:
            return self._inflate(data)
        return self._count(data) if self._coding == "" else b""

    def finish(self) -> bytes:
        """The end of the raw body: whatever the inflater still holds."""
        if self._prefix:  # one byte of deflate
            raise _undecodable(self._coding)
        if self._inflater is None:
            return b""
        try:
            rest = self._inflater.flush()
        except zlib.error:
            raise _undecodable(self._coding) from None
        return self._count(rest)

    def _start_deflate(self, data: bytes) -> bytes:
        """``deflate`` means zlib-wrapped, but some servers send raw deflate: a zlib
        header (RFC 1950: method 8, window <= 32 KiB, a multiple of 31) says which."""
        assert self._prefix is not None
        data = self._prefix + data
        if len(data) < 2:
            self._prefix = data
            return b""
        cmf, flg = data[0], data[1]
        wrapped = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        self._prefix = None
        return data

    def _inflate(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data and self._inflater is not None:
            try:
                piece = self._inflater.decompress(data, _SLICE)
            except zlib.error:
                if self._members:  # trailing garbage after a whole gzip member: ignored,
                    self._stop()  # as urllib3 and browsers do
                    break
                raise _undecodable(self._coding) from None
            out.append(self._count(piece))
            if not self._inflater.eof:
                data = self._inflater.unconsumed_tail
            elif self._coding == "gzip":  # another member may follow (RFC 1952)
                data = self._inflater.unused_data
                self._members += 1
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
            else:  # deflate: nothing may follow the stream; ignored, as urllib3 does
                self._stop()
        return b"".join(out)

    def _stop(self) -> None:
        """Ignore the rest of the raw body (still counting it against the limit)."""
        self._inflater = None
        self._coding = "done"

    def _count(self, piece: bytes) -> bytes:
        self._decoded += len(piece)
        if self._decoded > self._max:
            raise ResponseTooLarge(f"decoded body passes the {self._max}-byte limit")
        return piece


def _coding(header: str) -> str:
    """The one coding named by a Content-Encoding value ("" for none or identity)."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return ""
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return "gzip" if codings[0] == "x-gzip" else codings[0]
    shown = ", ".join(codings)[:40]
    raise BadResponseError(f"unsupported Content-Encoding {shown!r} (asked for {ACCEPT_ENCODING})")


def _undecodable(coding: str) -> BadResponseError:
    return BadResponseError(f"body is not valid {coding} data")


__all__ = ["ACCEPT_ENCODING", "BodyDecoder"]

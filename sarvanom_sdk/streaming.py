"""I/O-free incremental decoders for streamed replies: Server-Sent Events and NDJSON.

Both accept raw bytes in any chunking (a line split across reads, CRLF split between two
reads, a multi-byte UTF-8 character split across reads, lines of any length) and return
the complete items each feed makes available. Neither has a line-length limit of its own;
the transport bounds the total body size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import BadResponseError, redact


class LineSplitter:
    """Splits a byte stream into lines on LF, CRLF or CR, whatever the chunking.

    Only the bytes of each new chunk are searched for a line end, so a long line fed in
    many small pieces costs linear time. A CR at the very end of a chunk ends its line at
    once; an LF that starts the next chunk is then taken as the rest of that CRLF.
    """

    __slots__ = ("_buffer", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending_cr = False

    def feed(self, data: bytes) -> list[bytes]:
        """The lines completed by ``data``, without their line ends."""
        if self._pending_cr and data:
            self._pending_cr = False
            if data[:1] == b"\n":
                data = data[1:]
        has_cr = b"\r" in data
        if not has_cr and b"\n" not in data:
            self._buffer += data
            return []
        text = bytes(self._buffer) + data if self._buffer else bytes(data)
        if has_cr:
            self._pending_cr = text.endswith(b"\r")
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = text.split(b"\n")
        self._buffer = bytearray(lines.pop())
        return lines

    def flush(self) -> bytes:
        """The unterminated remainder (the stream ended without a final newline)."""
        rest = bytes(self._buffer)
        self._buffer = bytearray()
        self._pending_cr = False
        return rest


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str
    id: str | None = None


class SSEDecoder:
    """Server-Sent Events (the WHATWG rules): ``event:``/``data:``/``id:`` fields, ``:``
    comments ignored, an empty line dispatches, multi-line data joined with ``\\n``.

    An event with no ``data:`` line is not dispatched (the spec's rule), and a UTF-8 byte
    order mark before the first line is dropped. Each line is decoded only once it is
    complete, so a multi-byte character split across reads arrives whole.
    """

    __slots__ = ("_lines", "_event", "_data", "_id", "_first")

    def __init__(self) -> None:
        self._lines = LineSplitter()
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._first = True

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events completed (dispatched by an empty line) by ``data``."""
        events: list[SSEEvent] = []
        for raw in self._lines.feed(data):
            event = self._line(raw)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """End of stream: dispatch what an unterminated final event holds (lenient: the
        spec would drop it)."""
        rest = self._lines.flush()
        if rest:
            self._line(rest)
        final = self._line(b"")
        return [] if final is None else [final]

    def _line(self, raw: bytes) -> SSEEvent | None:
        if self._first:
            self._first = False
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw:
            if not self._data:
                self._event = None
                return None
            event = SSEEvent(self._event, "\n".join(self._data), self._id)
            self._event, self._data = None, []
            return event
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None


class NDJSONDecoder:
    """Newline-delimited JSON: one JSON value per line; blank lines ignored.

    A line that is not JSON raises :class:`BadResponseError` (HTML from a tunnel, a cut
    line); its excerpt in the message is passed through :func:`~sarvanom_sdk.errors.redact`
    with ``secrets``.
    """

    __slots__ = ("_lines", "_provider", "_secrets")

    def __init__(self, provider: str = "", secrets: Sequence[str] = ()) -> None:
        self._lines = LineSplitter()
        self._provider = provider
        self._secrets = secrets

    def feed(self, data: bytes) -> list[Any]:
        """The values of the lines completed by ``data``."""
        return [self._parse(line) for line in self._lines.feed(data) if line.strip()]

    def flush(self) -> list[Any]:
        """End of stream: the value of an unterminated last line, if any."""
        rest = self._lines.flush()
        return [self._parse(rest)] if rest.strip() else []

    def _parse(self, line: bytes) -> Any:
        try:
            if line[:1] == b"{":  # an object, so UTF-8 (json.loads would detect it per line)
                return json.loads(line.decode("utf-8", "surrogatepass"))
            return json.loads(line)
        except ValueError:
            text = redact(line[:80].decode("utf-8", errors="replace"), self._secrets)
            raise BadResponseError(
                f"malformed NDJSON line: {text!r}", provider=self._provider
            ) from None

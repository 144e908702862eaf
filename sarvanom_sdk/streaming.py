"""I/O-free incremental decoders for streamed replies: Server-Sent Events and NDJSON.

Both accept raw bytes in any chunking (a line split across reads, CRLF split between two
reads, a multi-byte UTF-8 character split across reads, lines of any length) and return
the complete items each feed makes available. Neither has a line-length limit of its own;
the transport bounds the total body size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import BadResponseError


class LineSplitter:
    """Splits a byte stream into lines on LF, CRLF or CR, whatever the chunking."""

    __slots__ = ("_buffer", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending_cr = False

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if data[:1] == b"\n":
                data = data[1:]
        buf = self._buffer
        buf += data
        if b"\r" not in buf:
            if b"\n" not in buf:
                return []
            *lines, rest = bytes(buf).split(b"\n")
            self._buffer = bytearray(rest)
            return lines
        lines = []
        start = 0
        i = 0
        n = len(buf)
        while i < n:
            ch = buf[i]
            if ch == 0x0A or ch == 0x0D:
                lines.append(bytes(buf[start:i]))
                if ch == 0x0D:
                    if i + 1 < n:
                        if buf[i + 1] == 0x0A:
                            i += 1
                    else:
                        self._pending_cr = True
                start = i + 1
            i += 1
        self._buffer = bytearray(buf[start:])
        return lines

    def flush(self) -> bytes:
        """The unterminated remainder (the stream ended without a final newline)."""
        rest = bytes(self._buffer)
        self._buffer = bytearray()
        return rest


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str
    id: str | None = None


class SSEDecoder:
    """Server-Sent Events (the WHATWG rules): ``event:``/``data:``/``id:`` fields, ``:``
    comments ignored, an empty line dispatches, multi-line data joined with ``\\n``."""

    __slots__ = ("_lines", "_event", "_data", "_id")

    def __init__(self) -> None:
        self._lines = LineSplitter()
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, data: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for raw in self._lines.feed(data):
            event = self._line(raw)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """Dispatch what an unterminated final event holds (lenient end of stream)."""
        events = self.feed(b"\n")
        rest = self._lines.flush()
        if rest:
            self._line(rest)
        final = self._line(b"")
        if final is not None:
            events.append(final)
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            if not self._data and self._event is None:
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

    A line that is not JSON raises :class:`BadResponseError` (HTML from a tunnel, a cut line).
    """

    __slots__ = ("_lines", "_provider")

    def __init__(self, provider: str = "") -> None:
        self._lines = LineSplitter()
        self._provider = provider

    def feed(self, data: bytes) -> list[Any]:
        return [self._parse(line) for line in self._lines.feed(data) if line.strip()]

    def flush(self) -> list[Any]:
        rest = self._lines.flush()
        return [self._parse(rest)] if rest.strip() else []

    def _parse(self, line: bytes) -> Any:
        try:
            return json.loads(line)
        except ValueError:
            text = line[:80].decode("utf-8", errors="replace")
            raise BadResponseError(
                f"malformed NDJSON line: {text!r}", provider=self._provider
            ) from None

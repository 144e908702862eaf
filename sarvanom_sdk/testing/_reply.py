"""The bytes of one HTTP answer, as a value, and the framings the protocols use.

A :class:`Reply` keeps a streamed body as separate events so that faults can cut, corrupt
or pace it event by event; ``_delivery.py`` writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """Status, content type, body chunks and, for a stream, its terminator.

    ``chunks[content_start:content_end]`` are the events that carry answer text; a
    non-streamed reply is one chunk with an empty terminator.
    """

    status: int
    content_type: str
    chunks: tuple[bytes, ...]
    terminator: bytes = b""
    streamed: bool = False
    headers: Headers = ()
    content_start: int = 0
    content_end: int = 0

    @property
    def body(self) -> bytes:
        """Every byte of the body, terminator included."""
        return b"".join(self.chunks) + self.terminator


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8, the way the providers send it."""
    return _ENCODER.encode(value).encode()


def json_reply(status: int, value: Any, headers: Headers = ()) -> Reply:
    body = dumps(value)
    return Reply(status, JSON_TYPE, (body,), headers=headers, content_end=1)


def text_reply(status: int, text: str, content_type: str = TEXT_TYPE) -> Reply:
    return Reply(status, content_type, (text.encode(),), content_end=1)


def sse(value: Any, event: str | None = None) -> bytes:
    """One server-sent event: an optional ``event:`` line and a JSON ``data:`` line."""
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    return head + b"data: " + dumps(value) + b"\n\n"


def ndjson(value: Any) -> bytes:
    """One newline-delimited JSON line."""
    return dumps(value) + b"\n"


def stream_reply(
    content_type: str,
    preamble: list[bytes],
    content: list[bytes],
    closing: list[bytes],
    terminator: bytes,
    headers: Headers = (),
) -> Reply:
    """A 200 stream: events before the text, the text events, events after, terminator."""
    start = len(preamble)
    return Reply(
        200,
        content_type,
        (*preamble, *content, *closing),
        terminator=terminator,
        streamed=True,
        headers=headers,
        content_start=start,
        content_end=start + len(content),
    )

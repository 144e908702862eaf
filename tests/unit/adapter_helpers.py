"""Shared helpers for the adapter tests: replies from bytes, stream chunkings, and the
checks every adapter must pass (error statuses, bad bodies, key placement).

Everything here is bytes in, values out: no server, no sockets, no mocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import strategies as st

from sarvanom_sdk.errors import (
    AuthenticationError,
    BadResponseError,
    ClientRequestError,
    ProviderConnectionError,
    ProviderError,
    RateLimited,
    ServerError,
)
from sarvanom_sdk.http import HttpCall, HttpReply
from sarvanom_sdk.providers.base import ProviderAdapter, StreamDecoder, StreamEvent
from sarvanom_sdk.types import LLMRequest

# -- requests and replies ------------------------------------------------------------------


def request(**fields: Any) -> LLMRequest:
    """An LLMRequest with a fixed trace id (defaults: prompt "Hello", 64 tokens, t=0.5)."""
    if "messages" not in fields:
        fields.setdefault("prompt", "Hello")
    fields.setdefault("max_tokens", 64)
    fields.setdefault("temperature", 0.5)
    fields.setdefault("trace_id", "t-1")
    return LLMRequest(**fields)


CHAT = (
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
)


def reply(status: int, body: Any = b"", headers: Mapping[str, str] | None = None) -> HttpReply:
    """A reply; ``body`` as bytes, str, or a JSON value (encoded, content-type json)."""
    head = dict(headers or {})
    if isinstance(body, str):
        raw = body.encode()
    elif isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
    else:
        raw = json.dumps(body).encode()
        head.setdefault("content-type", "application/json")
    return HttpReply(status, head, raw)


def parse_error(adapter: ProviderAdapter, r: HttpReply) -> ProviderError:
    """The ProviderError ``adapter.parse(r)`` raises (fails the test if it returns)."""
    with pytest.raises(ProviderError) as info:
        adapter.parse(r)
    return info.value


def call_body(call: HttpCall) -> Any:
    """The JSON body as it goes on the wire (through ``body_bytes``)."""
    raw = call.body_bytes()
    return None if raw is None else json.loads(raw)


# -- error shapes every adapter must map ----------------------------------------------------

#: (status, error class) for every status class a provider may answer.
STATUS_CASES = [
    (400, ClientRequestError),
    (401, AuthenticationError),
    (403, AuthenticationError),
    (404, ClientRequestError),
    (422, ClientRequestError),
    (429, RateLimited),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
    (529, ServerError),
]

#: Headers that say how long to wait, and the seconds they mean.
RETRY_CASES = [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
]

NGROK_INTERSTITIAL = (
    b"<!DOCTYPE html><html><head><title>ngrok</title></head><body>"
    b"<p>You are about to visit a site served by ngrok.</p>"
    b'<button id="visit">Visit Site</button></body></html>'
)

#: 2xx bodies that are not an answer in any protocol, by name.
BAD_2XX_BODIES: dict[str, HttpReply] = {
    "html-from-tunnel": HttpReply(200, {"content-type": "text/html"}, NGROK_INTERSTITIAL),
    "html-without-content-type": HttpReply(200, {}, b"  \n" + NGROK_INTERSTITIAL),
    "empty": HttpReply(200, {"content-type": "application/json"}, b""),
    "whitespace": HttpReply(200, {}, b" \r\n "),
    "malformed-json": HttpReply(200, {}, b'{"choices": [{"message": '),
    "json-null": reply(200, None),
    "json-string": HttpReply(200, {}, b'"just text"'),
    "json-number": reply(200, 42),
    "json-empty-object": reply(200, {}),
    "json-empty-list": reply(200, []),
}


def assert_status_maps(
    adapter: ProviderAdapter, status: int, cls: type[ProviderError], body: Any, detail: str = ""
) -> ProviderError:
    """``body`` with ``status`` raises exactly ``cls`` with that status and provider, and
    its message quotes ``detail``."""
    error = parse_error(adapter, reply(status, body))
    assert type(error) is cls, (status, type(error))
    assert error.status == status
    assert error.provider == adapter.name.value
    assert str(error).startswith(f"HTTP {status}")
    assert detail in str(error)
    return error


def assert_bad_2xx(adapter: ProviderAdapter, name: str) -> BadResponseError:
    """The named 2xx body raises BadResponseError with the adapter's name."""
    error = parse_error(adapter, BAD_2XX_BODIES[name])
    assert isinstance(error, BadResponseError), type(error)
    assert error.provider == adapter.name.value
    return error


# -- streams ---------------------------------------------------------------------------------


def sse(*events: tuple[str | None, Any]) -> bytes:
    """An SSE body: each ``(event name or None, data)``; data is JSON-encoded unless str."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {text}\n\n")
    return "".join(out).encode()


def ndjson(*objects: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


Piece = TypeVar("Piece", bytes, str)


def split(data: Piece, cuts: Iterable[int]) -> list[Piece]:
    """``data`` cut at the given offsets (any order, duplicates and strays allowed)."""
    points = sorted({0, len(data), *(c for c in cuts if 0 <= c <= len(data))})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def cut_points(data: bytes) -> st.SearchStrategy[list[int]]:
    """Hypothesis: random offsets to cut ``data`` at."""
    return st.lists(st.integers(0, len(data)), max_size=40)


def decode(make: Callable[[], StreamDecoder], chunks: Sequence[bytes]) -> list[StreamEvent]:
    """Feed ``chunks`` to a fresh decoder, then close it; every event in order."""
    decoder = make()
    events: list[StreamEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


@dataclass(frozen=True)
class Streamed:
    """What a stream amounted to: joined text and reasoning, and its done event."""

    text: str
    reasoning: str
    done: StreamEvent


def summarize(events: Sequence[StreamEvent]) -> Streamed:
    """Joined deltas; asserts exactly one done event and that it comes last."""
    assert events and events[-1].done, events
    assert sum(e.done for e in events) == 1, events
    deltas = events[:-1]
    assert all(e.text or e.reasoning for e in deltas), "empty delta event"
    return Streamed(
        "".join(e.text for e in deltas), "".join(e.reasoning for e in deltas), events[-1]
    )


def streamed(make: Callable[[], StreamDecoder], chunks: Sequence[bytes]) -> Streamed:
    """:func:`summarize` of :func:`decode`."""
    return summarize(decode(make, chunks))


def assert_any_split_same(make: Callable[[], StreamDecoder], data: bytes, cuts: list[int]) -> None:
    """Decoding ``data`` cut at ``cuts`` gives what decoding it whole gives."""
    assert streamed(make, split(data, cuts)) == streamed(make, [data])


def stream_chunkings(data: bytes) -> dict[str, list[bytes]]:
    """The fixed chunkings: whole, byte by byte, and halves."""
    return {"whole": [data], "bytewise": bytewise(data), "halves": split(data, [len(data) // 2])}


def stream_error(make: Callable[[], StreamDecoder], data: bytes) -> ProviderError:
    """The ProviderError that decoding ``data`` (fed whole, then closed) raises."""
    with pytest.raises(ProviderError) as info:
        decode(make, [data])
    return info.value


def cut_everywhere(make: Callable[[], StreamDecoder], data: bytes, terminator: bytes) -> None:
    """Prefixes of ``data`` (about 40, evenly spaced, many ending part-way through a frame)
    that stop before ``terminator`` each raise ProviderConnectionError on close."""
    end = data.index(terminator)
    for size in range(0, end + 1, max(1, end // 40)):
        with pytest.raises(ProviderConnectionError):
            decode(make, [data[:size]])


# -- key placement ---------------------------------------------------------------------------


def assert_key_only_in(call: HttpCall, key: str, header: str, prefix: str = "") -> None:
    """``key`` is the value (after ``prefix``) of ``header`` and nowhere else in ``call``."""
    assert call.headers.get(header) == f"{prefix}{key}", dict(call.headers)
    others = {k: v for k, v in call.headers.items() if k != header}
    assert key not in json.dumps(others)
    assert key not in call.url
    assert key not in (call.body_bytes() or b"").decode()
    assert key not in repr(call)
    assert key in call.secrets


def assert_key_placement(adapter: ProviderAdapter, key: str, header: str, prefix: str = "") -> None:
    """Every call ``adapter`` builds (plain, streamed, health) carries ``key`` in ``header``
    only."""
    calls = [adapter.build(request()), adapter.build(request(), stream=True)]
    health = adapter.health_call()
    for call in calls if health is None else [*calls, health]:
        assert_key_only_in(call, key, header, prefix)


def assert_golden_call(
    call: HttpCall, method: str, url: str, headers: Mapping[str, str], body: Any
) -> None:
    """``call`` is exactly this request, its body compared as it goes on the wire."""
    assert (call.method, call.url) == (method, url)
    assert dict(call.headers) == dict(headers)
    assert call_body(call) == body


def assert_no_key(call: HttpCall, key: str) -> None:
    """``key`` appears nowhere in ``call`` (another adapter's key)."""
    assert key not in json.dumps(dict(call.headers))
    assert key not in call.url
    assert key not in (call.body_bytes() or b"").decode()
    assert key not in call.secrets


def echo_bodies(key: str) -> dict[str, HttpReply]:
    """Replies that echo ``key`` back in every shape an error message is made from."""
    return {
        "401-openai-shape": reply(401, {"error": {"message": f"Incorrect API key: {key}"}}),
        "401-string": reply(401, {"error": f"bad token {key}"}),
        "401-detail": reply(401, {"detail": f"token {key} refused"}),
        "500-text": reply(500, f"upstream said {key}"),
        "200-error-object": reply(200, {"error": {"message": f"key {key} suspended"}}),
        "200-malformed": reply(200, f'{{"oops": "{key}'),
        "200-no-answer": reply(200, {f"{key}": 1}),
    }


def assert_echoed_key_hidden(adapter: ProviderAdapter, key: str) -> None:
    """No error produced from a body that echoes ``key`` shows the key."""
    for name, r in echo_bodies(key).items():
        error = parse_error(adapter, r)
        assert key not in str(error), name

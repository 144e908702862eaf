"""How a fault changes an answer: its bytes (:func:`shape`, pure) and its timing on the
socket (:func:`write`, the only code here that touches aiohttp)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from ._protocol import Protocol
from ._reply import HTML_TYPE, JSON_TYPE, SSE_TYPE, TEXT_TYPE, Reply, json_reply, text_reply
from .faults import GENERATE_ONLY, LLAMA_CPP_PREFILL_MESSAGE, Fault

#: What a malformed event says, per framing: the start of a chunk whose JSON never closes.
_BAD_SSE = b'data: {"choices": [{"delta": {"content": "unterminated\n\n'
_BAD_NDJSON = b'{"message": {"content": "unterminated\n'
#: What a stalled stream sends instead of content, per framing.
_KEEPALIVE_SSE = b": keep-alive\n\n"
_KEEPALIVE_NDJSON = b"\n"

Wait = Callable[[float | None], Awaitable[bool]]
"""Sleep that many seconds (``None``: until the emulator stops); ``False`` when the
emulator began stopping first, and the connection should be dropped."""

TUNNEL_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>ngrok - You are about to visit a tunnel</title></head>
<body>
<h1>You are about to visit:</h1>
<p>This website is served for free through ngrok.com. You should only visit this website
if you trust whoever sent the link to you.</p>
<button type="submit">Visit Site</button>
<p>To remove this page, set and send an <code>ngrok-skip-browser-warning</code> request
header with any value. (ERR_NGROK_6024)</p>
</body>
</html>
"""


def shape(reply: Reply, fault: Fault | None, protocol: Protocol) -> Reply:
    """The reply ``fault`` turns ``reply`` into; faults about timing leave it as it is."""
    if fault is None:
        return reply
    kind = fault.kind
    if kind == "http":
        return _http(fault, protocol)
    if kind == "html":
        return text_reply(200, TUNNEL_PAGE, HTML_TYPE)
    if kind == "empty":
        return Reply(200, JSON_TYPE, (b"",))
    if kind == "malformed_json":
        return _malformed(reply)
    if kind == "no_terminator":
        if not reply.streamed:
            return reply
        return replace(reply, chunks=reply.chunks[: reply.content_end], terminator=b"")
    if kind in _ANSWER_FAULTS and reply.status >= 400:
        return reply  # the request failed first (a missing key...), as a real server's would
    if kind == "complete_without_terminator":
        return replace(reply, terminator=b"") if reply.streamed else reply
    if kind == "malformed_event":
        return _insert_malformed(reply, fault) if reply.streamed else reply
    if kind == "content_filter" and fault.stage == "prompt":
        return protocol.content_filter_error() or reply  # else refused in the answer
    if kind == "context_length":
        return protocol.context_length_error(fault.limit, fault.tokens) or reply
    if kind == "prefill_rejection":
        return protocol.prefill_error(fault.message or LLAMA_CPP_PREFILL_MESSAGE) or reply
    if kind == "stream_error":
        if not reply.streamed:
            return protocol.error(500)
        kept = reply.chunks[: cut_index(reply)]
        return replace(reply, chunks=(*kept, protocol.stream_error()), terminator=b"")
    return reply


_ANSWER_FAULTS = GENERATE_ONLY


def _is_sse(reply: Reply) -> bool:
    return reply.content_type == SSE_TYPE


def _insert_malformed(reply: Reply, fault: Fault) -> Reply:
    """``fault.count`` events that are not JSON, after ``fault.after`` content events."""
    at = min(reply.content_start + fault.after, reply.content_end)
    bad = (_BAD_SSE if _is_sse(reply) else _BAD_NDJSON,) * fault.count
    chunks = (*reply.chunks[:at], *bad, *reply.chunks[at:])
    shift = fault.count if at < reply.content_end else 0
    return replace(reply, chunks=chunks, content_end=reply.content_end + shift)


def cut_index(reply: Reply) -> int:
    """Where a stream is cut: after about half of its content events (at least one)."""
    content = reply.content_end - reply.content_start
    return min(reply.content_start + max(1, content // 2), len(reply.chunks))


async def write(
    request: web.Request, reply: Reply, fault: Fault | None, wait: Wait, latency: float = 0.0
) -> web.StreamResponse:
    """Send ``reply`` the way ``fault`` says (shape it first with :func:`shape`), after
    ``latency`` seconds (added to a delay fault; refused and hanging requests skip it)."""
    kind = None if fault is None else fault.kind
    if kind == "refuse":
        return _drop(request, flush=False)
    if kind == "hang":
        await wait(None)
        return _drop(request, flush=False)
    pause = latency + (fault.seconds if fault is not None and kind == "delay" else 0.0)
    if pause and not await wait(pause):
        return _drop(request, flush=False)
    if kind == "cut_stream":
        return await _cut(request, reply)
    if fault is not None and kind == "trickle":
        return await _trickle(request, reply, fault, wait)
    if fault is not None and kind == "keepalive_stall" and reply.streamed and reply.status < 400:
        return await _stall(request, reply, fault, wait)
    if not reply.streamed:
        return web.Response(status=reply.status, body=reply.body, headers=_headers(reply))
    response = await _start(request, reply)
    await response.write(reply.body)
    await response.write_eof()
    return response


def _http(fault: Fault, protocol: Protocol) -> Reply:
    body = fault.body
    if body is None:
        return protocol.error(fault.status, retry_after=fault.retry_after)
    headers = protocol.retry_headers(fault.retry_after)
    if isinstance(body, (str, bytes)):
        raw = body.encode() if isinstance(body, str) else body
        return Reply(fault.status, TEXT_TYPE, (raw,), headers=headers)
    return json_reply(fault.status, body, headers)


def _malformed(reply: Reply) -> Reply:
    """Drop the closing bracket of the body's JSON (a stream's first content event)."""
    if not reply.streamed:
        return replace(reply, chunks=(_unclosed(reply.body),))
    index = reply.content_start if reply.content_end > reply.content_start else 0
    chunks = list(reply.chunks)
    chunks[index] = _unclosed(chunks[index])
    return replace(reply, chunks=tuple(chunks))


def _unclosed(chunk: bytes) -> bytes:
    stripped = chunk.rstrip()
    return stripped[:-1] + chunk[len(stripped) :]


def _headers(reply: Reply) -> dict[str, str]:
    headers = {"Content-Type": reply.content_type}
    if reply.streamed:
        headers["Cache-Control"] = "no-cache"
    headers.update(reply.headers)
    return headers


async def _start(
    request: web.Request, reply: Reply, length: int | None = None
) -> web.StreamResponse:
    """Send the status line and headers; ``length`` sets Content-Length (else chunked)."""
    response = web.StreamResponse(status=reply.status, headers=_headers(reply))
    if length is not None:
        response.content_length = length
    await response.prepare(request)
    return response


def _drop(request: web.Request, *, flush: bool) -> web.StreamResponse:
    """Close the connection: after what was written (``flush``) or at once. aiohttp's
    attempt to send the returned placeholder fails quietly on the closed transport."""
    transport = request.transport
    if transport is not None:
        if flush:
            transport.close()
        else:
            transport.abort()
    return web.Response()


async def _cut(request: web.Request, reply: Reply) -> web.StreamResponse:
    if reply.streamed:
        response = await _start(request, reply)
        await response.write(b"".join(reply.chunks[: cut_index(reply)]))
    else:
        body = reply.body
        response = await _start(request, reply, len(body))
        await response.write(body[: len(body) // 2])
    _drop(request, flush=True)
    return response


async def _trickle(
    request: web.Request, reply: Reply, fault: Fault, wait: Wait
) -> web.StreamResponse:
    if fault.per_event and reply.streamed:
        pieces = [c for c in (*reply.chunks, reply.terminator) if c]
        response = await _start(request, reply)
    else:
        body = reply.body
        pieces = [body[i : i + fault.size] for i in range(0, len(body), fault.size)]
        response = await _start(request, reply, None if reply.streamed else len(body))
    for piece in pieces:
        if not await wait(fault.seconds):
            _drop(request, flush=True)
            return response
        await response.write(piece)
    await response.write_eof()
    return response


async def _stall(
    request: web.Request, reply: Reply, fault: Fault, wait: Wait
) -> web.StreamResponse:
    """``fault.after`` content events, keep-alives every ``fault.interval`` seconds for
    ``fault.seconds``, then the rest; dropped if the emulator stops meanwhile."""
    at = min(reply.content_start + fault.after, reply.content_end)
    keepalive = _KEEPALIVE_SSE if _is_sse(reply) else _KEEPALIVE_NDJSON
    response = await _start(request, reply)
    await response.write(b"".join(reply.chunks[:at]))
    pauses = math.ceil(fault.seconds / fault.interval - 1e-9)  # a keep-alive between two
    for index in range(pauses):
        pause = min(fault.interval, fault.seconds - index * fault.interval)
        if not await wait(pause):
            _drop(request, flush=True)
            return response
        if index < pauses - 1:
            await response.write(keepalive)
    await response.write(b"".join(reply.chunks[at:]) + reply.terminator)
    await response.write_eof()
    return response

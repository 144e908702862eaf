"""Issue 18 goal 2: streamed chunks are encoded once per stream where they do not change,
and a write that cannot wait runs without a timer — with the bytes on the wire exactly
what the earlier encoder wrote (``json.dumps`` of each whole payload), so the official
openai and anthropic clients see the same shapes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sarvanom_sdk.chat import ToolCallDelta
from sarvanom_sdk.gateway import chat_wire, writes
from sarvanom_sdk.gateway.anthropic_wire import sse, text_delta_event
from sarvanom_sdk.gateway.openai_compat import CallerGone, _Events
from sarvanom_sdk.types import LLMResponse, ProviderName, StreamChunk, Usage

TEXTS = ["w0 ", "", "é ünïcode ✓ 😀", 'quote " backslash \\ slash /', "ctl \n\t\r\x00\x1f",
         "\u2028\u2029", "a" * 5000]
CHUNKS = [
    *(StreamChunk(text=t) for t in TEXTS),
    StreamChunk(reasoning="thinking..."),
    StreamChunk(text="both", reasoning="why"),
    StreamChunk(tool_calls=(ToolCallDelta(index=0, id="call_1", name="get", arguments='{"a"'),)),
    StreamChunk(text="x", tool_calls=(ToolCallDelta(index=1, arguments=": 1}"),)),
    StreamChunk(text="pinned", provider=ProviderName.OLLAMA_LOCAL),
]


class Recorder:
    """A stand-in for the CallerWriter: keeps what is written."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    async def __call__(self, data: bytes) -> None:
        self.data.append(data)

    async def flush(self) -> None:
        self.data.append(b"<flush>")


def legacy_chunk(head: dict[str, Any], delta: dict[str, Any], finish: str | None,
                 include_usage: bool) -> bytes:
    """What the gateway wrote for a chunk before issue 18: json.dumps of the payload."""
    payload: dict[str, Any] = {
        **head,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    if include_usage:
        payload["usage"] = None
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("first", [True, False])
def test_issue18_delta_json_is_json_dumps_of_the_delta(chunk: StreamChunk, first: bool) -> None:
    assert chat_wire.delta_json(chunk, first) == json.dumps(chat_wire.chunk_delta(chunk, first))


@pytest.mark.parametrize("include_usage", [False, True])
def test_issue18_pre_encoded_chunks_are_byte_for_byte_the_earlier_events(
    include_usage: bool,
) -> None:
    """Every chunk, a failover's new model, the finish and the usage chunk: the bytes are
    those json.dumps of the whole payload gave."""
    out = Recorder()
    head = {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1767225600,
            "model": "sarvanom/ollama_local/deepseek-r1:8b"}
    events = _Events(
        out, head["id"], head["created"], head["model"], include_usage  # type: ignore[arg-type]
    )
    expected = []

    async def run() -> None:
        for index, chunk in enumerate(CHUNKS):
            if index == 5:  # a failover: the chunks after it name their model
                events.answered_by("sarvanom/huggingface/meta-llama/Llama-3.1-8B-Instruct")
                head["model"] = "sarvanom/huggingface/meta-llama/Llama-3.1-8B-Instruct"
            first = index in (0, 5)
            await events.write(events.encoded(chat_wire.delta_json(chunk, first)))
            expected.append(legacy_chunk(head, chat_wire.chunk_delta(chunk, first), None,
                                         include_usage))
        response = LLMResponse(content="x", provider=ProviderName.HUGGINGFACE, success=True,
                               finish_reason="length",
                               usage=Usage(prompt_tokens=3, completion_tokens=4))
        await events.finish(response)

    asyncio.run(run())
    expected.append(legacy_chunk(head, {}, "length", include_usage))
    if include_usage:
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        expected.append(b"data: " + json.dumps({**head, "choices": [], "usage": usage}).encode()
                        + b"\n\n")
    expected.append(b"data: [DONE]\n\n")
    expected.append(b"<flush>")  # the stream's last write goes out before it ends
    assert out.data == expected


@pytest.mark.parametrize("index", [0, 1, 17])
@pytest.mark.parametrize("text", TEXTS)
def test_issue18_anthropic_text_event_is_byte_for_byte_the_earlier_event(
    index: int, text: str
) -> None:
    earlier = sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "text_delta", "text": text}})
    assert text_delta_event(index, text) == earlier


class FakeTransport:
    def __init__(self, buffered: int, limits: tuple[int, int] = (16384, 65536)) -> None:
        self.buffered = buffered
        self.limits = limits

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.limits


class StuckResponse:
    """A response whose writes never finish (a caller that stopped reading)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.written.append(data)
        await asyncio.Event().wait()


class QuickResponse:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.written.append(data)


def test_issue18_a_write_that_cannot_wait_sets_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_timer(seconds: float) -> Any:
        raise AssertionError("a write into an empty buffer needs no deadline")

    monkeypatch.setattr(writes, "deadline", no_timer)
    out = QuickResponse()
    write = writes.CallerWriter(out, FakeTransport(0), timeout=0.05)  # type: ignore[arg-type]
    asyncio.run(write(b"data: x\n\n"))
    asyncio.run(write(b""))
    assert out.written == [b"data: x\n\n"]


@pytest.mark.parametrize(
    ("buffered", "size", "why"),
    [
        (20000, 10, "the buffer is above its low-water mark: the transport may be paused"),
        (0, 70000, "this write pushes the buffer past its high-water mark"),
        (16000, 50000, "this write with its framing may pass the high-water mark"),
    ],
)
def test_f7_issue18_a_write_that_may_wait_still_has_its_deadline(
    buffered: int, size: int, why: str
) -> None:
    """F7 kept: a caller that stopped reading is dropped after write_timeout whenever the
    write may wait on it."""
    out = StuckResponse()
    transport = FakeTransport(buffered)
    write = writes.CallerWriter(out, transport, timeout=0.05)  # type: ignore[arg-type]
    assert write.can_wait(size), why
    with pytest.raises(CallerGone):
        asyncio.run(asyncio.wait_for(write(b"x" * size), 30))
    assert out.written


def test_f7_issue18_without_a_transport_every_write_has_its_deadline() -> None:
    out = StuckResponse()
    write = writes.CallerWriter(out, None, timeout=0.05)  # type: ignore[arg-type]
    assert write.can_wait(1)
    with pytest.raises(CallerGone):
        asyncio.run(asyncio.wait_for(write(b"x"), 30))


# -- batching (issue 18): a burst goes out as one write, the first piece at once ------------
class Toggle:
    """A response that takes writes at once until ``stuck`` is set."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.stuck = False

    async def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.stuck:
            await asyncio.Event().wait()


def test_issue18_a_burst_goes_out_as_the_first_write_then_one_batch() -> None:
    out = Toggle()
    write = writes.CallerWriter(out, FakeTransport(0), timeout=5)  # type: ignore[arg-type]

    async def run() -> list[list[bytes]]:
        seen = []
        await write(b"a")  # the first of the run: at once (the first token is not held)
        await write(b"b")
        await write(b"c")
        seen.append(list(out.written))
        await asyncio.sleep(0)  # the task waits: the batch goes out
        seen.append(list(out.written))
        await write(b"d")  # a new run: at once again
        await write(b"e")
        await write.flush()  # the stream's end: what is left goes out
        seen.append(list(out.written))
        return seen

    assert asyncio.run(run()) == [[b"a"], [b"a", b"bc"], [b"a", b"bc", b"d", b"e"]]


def test_f7_issue18_a_batch_the_caller_cannot_take_is_written_under_the_deadline() -> None:
    """When the caller is behind, the batch is not left to the callback: the task writes
    it, and a caller that stopped reading is dropped after write_timeout (F7)."""
    out = Toggle()
    transport = FakeTransport(0)
    write = writes.CallerWriter(out, transport, timeout=0.05)  # type: ignore[arg-type]

    async def run() -> None:
        await write(b"first")
        transport.buffered = 40000  # the caller stopped reading; the buffer fills up
        out.stuck = True
        await write(b"second")

    with pytest.raises(CallerGone):
        asyncio.run(asyncio.wait_for(run(), 30))
    assert out.written == [b"first", b"second"]


def test_issue18_a_callers_disconnect_during_a_batch_surfaces_on_the_next_write() -> None:
    class Gone(QuickResponse):
        async def write(self, data: bytes) -> None:
            if self.written:
                raise ConnectionResetError("Cannot write to closing transport")
            self.written.append(data)

    write = writes.CallerWriter(Gone(), FakeTransport(0), timeout=5)  # type: ignore[arg-type]

    async def run() -> None:
        await write(b"a")
        await write(b"b")
        await asyncio.sleep(0)  # the batch fails in the callback: the caller left
        await write(b"c")

    with pytest.raises(ConnectionResetError):
        asyncio.run(run())


async def test_issue18_a_burst_over_a_real_connection_is_every_byte_in_few_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through aiohttp for real: 200 events written back to back reach the caller whole and
    in order, as the first write and one batch (not 200 writes), headers held back."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    events = [f"data: {json.dumps({'n': i, 'text': 'é' * (i % 7)})}\n\n".encode()
              for i in range(200)]
    writes_seen: list[int] = []
    real = web.StreamResponse.write

    async def counted(self: web.StreamResponse, data: bytes) -> None:
        writes_seen.append(len(data))
        await real(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", counted)

    async def handler(request: web.Request) -> web.StreamResponse:
        out = writes.EventStream(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        write = writes.CallerWriter(out, request.transport, timeout=10)
        for event in events:
            await write(event)
        await asyncio.sleep(0)  # the task waits (as for the provider's next bytes)
        await write(b"data: [DONE]\n\n")
        await write.flush()
        return out

    app = web.Application()
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        reply = await client.get("/")
        assert reply.headers["Content-Type"] == "text/event-stream"
        assert await reply.read() == b"".join(events) + b"data: [DONE]\n\n"
    assert len(writes_seen) == 3, writes_seen  # the first event, the other 199, [DONE]


"""Writing a streamed answer to a caller that may stop reading (F7), cheaply (issue 18).

:class:`CallerWriter` is the one way the gateway's streams write:

* **Bounded.** A write that does not go through within ``write_timeout`` seconds raises
  :class:`CallerGone` (a ``ConnectionError``; the stream is then dropped and its slots
  freed). Only a write that can wait pays for the timer: aiohttp's ``StreamResponse.write``
  waits only to drain, and drains only when the connection's transport paused it (its
  buffer went past the high-water mark, and stays paused until it is back at the
  low-water mark). A write that finds the buffer at or below its low-water mark and
  leaves it below its high-water mark cannot wait, so it needs no timer (the usual case:
  the socket took everything). Any other write runs under the deadline.
* **Batched.** Providers send bursts: a stream's chunks often arrive together in one read,
  and the SDK hands them over one after another without the task ever waiting. The first
  write of such a run goes out at once (the first token is never held back); the writes
  after it, until the task next waits, are joined and go out as one write when it does
  (a callback scheduled with ``call_soon`` runs then) — one system call for the burst
  instead of one per chunk. A batch the transport could not take without waiting (the
  caller is behind) is written by the task itself, under the deadline, before it goes on.
  :meth:`CallerWriter.flush` writes what is left; the stream calls it before it ends.

:class:`EventStream` is ``web.StreamResponse`` with its headers held back until the first
write, so they go out with the first event in one packet.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .timing import deadline

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Bytes aiohttp may add to a write (a chunk's size line and CRLFs; headers on the first).
_FRAMING = 4096


class CallerGone(ConnectionError):
    """The caller stopped reading: a write did not finish within ``write_timeout``."""


class EventStream(web.StreamResponse):
    """A streamed response whose headers go out with its first write, not on their own
    at ``prepare()`` (one packet less per stream; aiohttp's ``Response`` does the same)."""

    _send_headers_immediately = False

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(headers=headers)


class CallerWriter:
    """Writes ``bytes`` to ``out`` (a prepared response on ``transport``), bounded and
    batched; see the module docstring. Empty writes are skipped."""

    __slots__ = ("_out", "_transport", "_timeout", "_low", "_high", "_batch", "_flush",
                 "_failed")

    def __init__(self, out: web.StreamResponse, transport: Any, timeout: float) -> None:
        self._out = out
        self._transport = transport
        self._timeout = timeout
        self._low: int
        self._high: int
        try:
            self._low, self._high = transport.get_write_buffer_limits()
        except (AttributeError, NotImplementedError):  # no transport: always the timer
            self._low = self._high = -1
        self._batch = bytearray()
        #: the flush of the batch when the task next waits; None: no write in this run yet
        self._flush: asyncio.Handle | None = None
        #: what the last batch flushed from the callback raised (the caller left)
        self._failed: BaseException | None = None

    def can_wait(self, size: int) -> bool:
        """Whether writing ``size`` bytes may wait for the caller to read."""
        transport = self._transport
        if transport is None or self._high < 0:
            return True
        buffered: int = transport.get_write_buffer_size()
        return buffered > self._low or buffered + size + _FRAMING > self._high

    async def __call__(self, data: bytes) -> None:
        """Write ``data`` now, or batch it with the other writes of this run of the task
        (written when the task next waits, or now when the caller is behind)."""
        self._raise_failure()
        if not data:
            return
        if self._flush is None:  # the first write since the task last waited: out now
            if self._batch:
                data = bytes(self._batch) + data
                self._batch.clear()
            await self._write(data)
            self._flush = asyncio.get_running_loop().call_soon(self._flush_soon)
            return
        self._batch += data
        if self.can_wait(len(self._batch)):  # the caller is behind: wait for it here
            await self.flush()

    async def flush(self) -> None:
        """Write what is batched (under the deadline when it may wait)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._raise_failure()
        if self._batch:
            data = bytes(self._batch)
            self._batch.clear()
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        if not self.can_wait(len(data)):
            await self._out.write(data)
            return
        try:
            async with deadline(self._timeout):
                await self._out.write(data)
        except asyncio.TimeoutError:
            raise CallerGone(f"no write went through in {self._timeout:g}s") from None

    def _flush_soon(self) -> None:
        """The task waits: write the batch, when that cannot wait (else the task's next
        write or :meth:`flush` writes it, under the deadline)."""
        self._flush = None
        if not self._batch or self._failed is not None or self.can_wait(len(self._batch)):
            return
        data = bytes(self._batch)
        self._batch.clear()
        # StreamResponse.write waits only to drain a paused transport, which can_wait()
        # just ruled out: it runs to its end at once, so it is run here without a task.
        write = self._out.write(data)
        try:
            write.send(None)
        except StopIteration:
            return
        except Exception as error:  # the caller left (ConnectionResetError) or the stream ended
            self._failed = error
            return
        write.close()
        self._failed = RuntimeError("a batched write unexpectedly had to wait")

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed

"""Writing a streamed answer to a caller that may stop reading (F7), cheaply (issue 18).

:class:`CallerWriter` is the one way the gateway's streams write: a write that does not go
through within ``write_timeout`` seconds raises :class:`CallerGone` (a ``ConnectionError``;
the stream is then dropped and its slots freed). Only a write that can wait pays for the
timer: aiohttp's ``StreamResponse.write`` waits only to drain, and drains only when the
connection's transport paused it (its buffer went past the high-water mark, and stays
paused until it is back at the low-water mark). A write that finds the buffer at or below
its low-water mark and leaves it below its high-water mark cannot wait, so it is written
with no timer (the usual case: the socket took everything). Any other write — the buffer
filling up because the caller stopped reading — runs under the deadline, as every write
did before.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .timing import deadline

if TYPE_CHECKING:
    from aiohttp import web

#: Bytes aiohttp may add to a write (a chunk's size line and CRLFs; headers on the first).
_FRAMING = 4096


class CallerGone(ConnectionError):
    """The caller stopped reading: a write did not finish within ``write_timeout``."""


class CallerWriter:
    """Writes ``bytes`` to ``out`` (a prepared response on ``transport``); see the module
    docstring. Empty writes are skipped."""

    __slots__ = ("_out", "_transport", "_timeout", "_low", "_high")

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

    def can_wait(self, size: int) -> bool:
        """Whether writing ``size`` bytes may wait for the caller to read."""
        transport = self._transport
        if transport is None or self._high < 0:
            return True
        buffered: int = transport.get_write_buffer_size()
        return buffered > self._low or buffered + size + _FRAMING > self._high

    async def __call__(self, data: bytes) -> None:
        if not data:
            return
        if not self.can_wait(len(data)):
            await self._out.write(data)
            return
        try:
            async with deadline(self._timeout):
                await self._out.write(data)
        except asyncio.TimeoutError:
            raise CallerGone(f"no write went through in {self._timeout:g}s") from None

"""One request at a time per GPU, a short queue behind, and "full" past that.

A free GPU box serves one generation at a time well; a long queue only makes every caller
wait past its deadline. Past ``gpus + queue`` requests the box answers 503 with
``Retry-After`` at once, and the SDK spills over to its next provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


class QueueFull(Exception):
    """Every GPU is busy and the queue is full."""


class GpuSlots:
    """At most ``gpus`` requests run at once and at most ``queue`` wait (asyncio; one
    event loop)."""

    def __init__(self, gpus: int = 1, queue: int = 4) -> None:
        if gpus < 1:
            raise ValueError(f"gpus must be at least 1, got {gpus}")
        if queue < 0:
            raise ValueError(f"queue must be 0 or more, got {queue}")
        self.gpus = gpus
        self.queue = queue
        self.running = 0
        self.waiting = 0
        self._free: asyncio.Semaphore | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a GPU for the block; :class:`QueueFull` at once when there is no room."""
        if self.running + self.waiting >= self.gpus + self.queue:
            raise QueueFull
        if self._free is None:
            self._free = asyncio.Semaphore(self.gpus)
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._free.release()

    def report(self) -> dict[str, Any]:
        """The queue as /health shows it."""
        return {
            "running": self.running,
            "waiting": self.waiting,
            "gpus": self.gpus,
            "max_waiting": self.queue,
        }

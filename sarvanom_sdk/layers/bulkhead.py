"""A bulkhead: at most ``limit`` calls in flight to one endpoint, and a short queue.

Free capacity is small (one Ollama on a CPU answers one request at a time), so a request
that would wait longer than the queue bound spills over to the next provider instead of
queuing behind a busy CPU. One object serves both clients: waiters are threads (an
``Event``) or coroutines (a ``Future`` on their loop); a slot freed by :meth:`leave` is
handed straight to the oldest waiter, so no waiter can be overtaken.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class Bulkhead:
    __slots__ = ("limit", "in_flight", "_lock", "_waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()
        self._waiters: deque[Any] = deque()

    def try_enter(self) -> bool:
        """Take a slot if one is free now (never waits)."""
        with self._lock:
            if self.in_flight < self.limit and not self._waiters:
                self.in_flight += 1
                return True
            return False

    def enter_sync(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a slot (threads)."""
        if self.try_enter():
            return True
        waiter = threading.Event()
        with self._lock:
            self._waiters.append(waiter)
        if waiter.wait(timeout):
            return True
        return self._give_up(waiter)

    async def enter_async(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a slot (coroutines)."""
        if self.try_enter():
            return True
        import asyncio

        waiter = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except asyncio.TimeoutError:  # not the builtin TimeoutError on Python 3.10
            return self._give_up(waiter)
        except BaseException:
            if not self._give_up(waiter):
                raise
            self.leave()  # cancelled just as the slot arrived: pass it on
            raise

    def leave(self) -> None:
        """Free a slot: hand it to the oldest waiter, or give it back."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if isinstance(waiter, threading.Event):
                    waiter.set()
                    return
                if not waiter.done():
                    loop = waiter.get_loop()
                    if _running_loop() is loop:
                        loop.call_soon(_grant, waiter)
                    else:
                        loop.call_soon_threadsafe(_grant, waiter)
                    return
            self.in_flight -= 1

    def _give_up(self, waiter: Any) -> bool:
        """Stop waiting; True if the slot had been granted meanwhile (then it is ours)."""
        with self._lock:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                return True  # already handed a slot
            return False


def _running_loop() -> Any:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _grant(future: Any) -> None:
    if not future.done():
        future.set_result(True)

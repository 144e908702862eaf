"""Run an asyncio service on a private event loop in a daemon thread, for sync callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

AsyncStep = Callable[[], Coroutine[Any, Any, Any]]


class LoopThread:
    """A daemon thread running its own event loop; ``start``/``stop`` run a service's async
    start and stop coroutines on it and wait for them."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    def start(self, step: AsyncStep) -> None:
        """Start the thread and run ``step`` on it; its exception is raised here (and the
        thread is shut down)."""
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(step(), self._loop).result()
        except BaseException:
            self._halt(timeout=5.0)
            raise

    def stop(self, step: AsyncStep, timeout: float) -> None:
        """Run ``step`` on the loop (waiting at most ``timeout`` s), then end the thread."""
        try:
            asyncio.run_coroutine_threadsafe(step(), self._loop).result(timeout)
        finally:
            self._halt(timeout)

    def _halt(self, timeout: float) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

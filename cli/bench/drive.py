"""Running a benchmarked call N times at a given concurrency, and showing progress.

The drivers hand every outcome to ``record`` on one thread (the caller's, or the event
loop's), so recording needs no lock and stops the moment the run is interrupted:
``KeyboardInterrupt`` propagates out of both drivers with everything recorded so far kept
by the caller.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click

from .stats import Outcome

Record = Callable[[Outcome], None]


def drive_sync(
    call: Callable[[], Outcome], count: int, concurrency: int, record: Record
) -> None:
    """Run ``call`` ``count`` times, on ``concurrency`` threads when above 1."""
    if concurrency <= 1:
        for _ in range(count):
            record(call())
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sarvanom-bench")
    try:
        futures = [pool.submit(call) for _ in range(count)]
        for future in as_completed(futures):
            record(future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def drive_async(
    call: Callable[[], Awaitable[Outcome]], count: int, concurrency: int, record: Record
) -> None:
    """Run ``call`` ``count`` times with at most ``concurrency`` in flight."""
    import asyncio

    todo = iter(range(count))

    async def worker() -> None:
        for _ in todo:  # shared by the workers: each takes the next request number
            record(await call())

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))


class Progress:
    """A click progress bar on stderr that appears only once a run has lasted ``delay``
    seconds, and redraws at most every ``every`` seconds (so drawing stays out of the
    measured time)."""

    def __init__(self, total: int, label: str, *, delay: float = 1.0, every: float = 0.1):
        self.total = total
        self.done = 0
        self._label = label
        self._delay = delay
        self._every = every
        self._start = time.monotonic()
        self._drawn_at = self._start
        self._shown = 0
        self._bar: Any = None

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self._drawn_at < self._every:
            return
        self._drawn_at = now
        if self._bar is None:
            if now - self._start < self._delay:
                return
            self._bar = click.progressbar(length=self.total, label=self._label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(self.done - self._shown)
        self._shown = self.done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self.done - self._shown)
            self._bar.__exit__(None, None, None)
            self._bar = None

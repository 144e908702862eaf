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
from typing import Any, TextIO

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
    """Progress of a run on stderr, appearing only once the run has lasted ``delay``
    seconds and redrawn at most every ``every`` seconds (drawing stays out of the measured
    time). It names the provider (and side) being measured and counts errors so far (D14):

    * on a terminal, a click progress bar labelled ``label``, its item text
      ``ollama_local, 3 errors``;
    * otherwise (a log file, a CI job), one line every ``log_every`` seconds, e.g.
      ``sarvanom-bench: ollama_local raw 1200/5000 measured, 3 errors so far``, and a last
      line when the run ends.

    ``tty`` None means "is ``stream`` a terminal"; ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        delay: float = 1.0,
        every: float = 0.1,
        log_every: float = 10.0,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self.errors = 0
        self.current = ""
        self._label = label
        self._delay = delay
        self._every = every
        self._log_every = log_every
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._clock = clock
        self._start = clock()
        self._drawn_at = self._start
        self._logged_at: float | None = None
        self._shown = 0
        self._bar: Any = None

    def start(self, provider: str, side: str) -> None:
        """The provider and side ("sdk" or "raw") whose outcomes come next."""
        self.current = provider if side == "sdk" else f"{provider} {side}"

    def advance(self, ok: bool = True) -> None:
        """One more outcome (``ok`` False: an error)."""
        self.done += 1
        if not ok:
            self.errors += 1
        now = self._clock()
        if now - self._drawn_at < self._every:
            return
        self._drawn_at = now
        if now - self._start < self._delay:
            return
        if self._tty:
            self._draw()
        elif self._logged_at is None or now - self._logged_at >= self._log_every:
            self._logged_at = now
            self._log()

    def status(self) -> str:
        """The provider being measured and the errors so far."""
        errors = f"{self.errors} error{'' if self.errors == 1 else 's'}"
        return f"{self.current}, {errors}" if self.current else errors

    def _draw(self) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=self.total, label=self._label, file=self._stream,
                item_show_func=lambda status: status,
            )
            self._bar.__enter__()
        self._bar.update(self.done - self._shown, self.status())
        self._shown = self.done

    def _log(self, final: bool = False) -> None:
        errors = f"{self.errors} error{'' if self.errors == 1 else 's'}"
        if final:
            line = f"done: {self.done}/{self.total} measured, {errors}"
        else:
            line = f"{self.current} {self.done}/{self.total} measured, {errors} so far"
        click.echo(f"{self._label}: {line.lstrip()}", file=self._stream)

    def close(self) -> None:
        """Finish the bar, or write the last log line if any was written."""
        if self._bar is not None:
            self._bar.update(self.done - self._shown, self.status())
            self._bar.__exit__(None, None, None)
            self._bar = None
        elif self._logged_at is not None:
            self._log(final=True)
            self._logged_at = None

"""The outage rule, decided once (sans-IO): when the SDK talks to Redis, and when not.

Both I/O shells of :class:`~.redis_backend.RedisLink` (the sync client's blocking call and
the async client's awaited one) ask this object before a command and tell it how the
command ended; it never does I/O itself.

* While Redis answers, every command goes (:meth:`Outage.begin` returns ``GO``).
* The first failure or timeout opens an outage (:meth:`failed` returns True once: log it);
  from then on commands are refused at once (``begin`` returns ``SKIP``), without I/O.
* Every ``retry_seconds`` one caller gets ``PROBE``: it tries for real; its success ends
  the outage (:meth:`succeeded` returns how long it lasted: log it), its failure starts
  another wait.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable

GO = 1
PROBE = 2
SKIP = 0


class Outage:
    def __init__(self, retry_seconds: float, monotonic: Callable[[], float] = time.monotonic):
        self.retry_seconds = retry_seconds
        self.count = 0
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._probe = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        _ALL.add(self)

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def begin(self) -> int:
        """``GO``, ``PROBE`` (then :meth:`succeeded` or :meth:`failed` must follow with
        ``probing=True``) or ``SKIP``. Never blocks."""
        if self._down_since is None:
            return GO
        if self._monotonic() < self._retry_at or not self._probe.acquire(blocking=False):
            return SKIP
        return PROBE

    def succeeded(self, ticket: int) -> float | None:
        """The command answered. Returns the outage's length when this ended one. Only a
        probe ends an outage: while one lasts no command is let through but probes, so a
        ``GO`` command answering now was sent before it began and says nothing of now
        (ending the outage on it would log a second outage at the next failure)."""
        if ticket == PROBE:
            self._probe.release()
        if self._down_since is None or ticket != PROBE:
            return None
        with self._lock:
            since, self._down_since = self._down_since, None
        return None if since is None else self._monotonic() - since

    def failed(self, ticket: int) -> bool:
        """The command failed or timed out. True when this opened a new outage."""
        now = self._monotonic()
        if ticket == PROBE:
            self._retry_at = now + self.retry_seconds
            self._probe.release()
            return False
        with self._lock:
            if self._down_since is not None:
                return False
            self._down_since = now
            self._retry_at = now + self.retry_seconds
            self.count += 1
        return True


_ALL: weakref.WeakSet[Outage] = weakref.WeakSet()


def _after_fork() -> None:
    """A forked child gets fresh locks (the parent's may have been held at the fork)."""
    for outage in list(_ALL):
        outage._lock = threading.Lock()
        outage._probe = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)

"""Clocks. Everything that computes a TTL, a breaker timeout or a deadline takes a
:class:`Clock`, so tests drive time with :class:`FakeClock` instead of sleeping."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, TTLs, latency)."""

    def wall(self) -> datetime:
        """The current UTC time (breaker open-until, health timestamps)."""


class SystemClock:
    """The real clocks."""

    __slots__ = ()
    monotonic = staticmethod(time.monotonic)

    @staticmethod
    def wall() -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock that moves only when told to: ``clock.advance(300)``."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = 1000.0
        self._wall = start or datetime(2026, 1, 1, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._wall += timedelta(seconds=seconds)

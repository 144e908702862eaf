"""The health registry: what every provider's calls have shown, for health output,
routing and metrics.

Per provider it keeps success and error totals, the time of the last call (as the
clock's monotonic seconds, turned into a UTC time only when a snapshot is taken: no
datetime per call, issue 18), the last error
(already redacted), a smoothed latency (EWMA) and a short window of recent latencies
(for percentiles). Status is derived together with the provider's circuit breaker:
``circuit_open`` while the breaker is open, ``unhealthy`` after a failure, ``healthy``
after a success, ``unknown`` before any call.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from .clock import Clock
from .layers.breaker import CircuitView
from .types import HealthStatus, ProviderHealth, ProviderName

_EWMA_WEIGHT = 0.3
_WINDOW = 128


class _Stats:
    __slots__ = ("successes", "errors", "last_check", "last_error", "latency_ms", "recent",
                 "last_ok")

    def __init__(self) -> None:
        self.successes = 0
        self.errors = 0
        self.last_check: float | None = None  # the clock's monotonic seconds
        self.last_error: str | None = None
        self.latency_ms = 0.0
        self.recent: deque[float] = deque(maxlen=_WINDOW)
        self.last_ok: bool | None = None


class HealthRegistry:
    def __init__(self, providers: Iterable[ProviderName], clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stats = {p: _Stats() for p in providers}

    def record_success(self, provider: ProviderName, latency_ms: float) -> None:
        stats = self._stats.get(provider)
        if stats is None:
            return
        now = self._clock.monotonic()
        with self._lock:
            stats.successes += 1
            stats.last_check = now
            stats.last_ok = True
            stats.recent.append(latency_ms)
            stats.latency_ms = (
                latency_ms
                if stats.successes == 1
                else stats.latency_ms + _EWMA_WEIGHT * (latency_ms - stats.latency_ms)
            )

    def record_failure(self, provider: ProviderName, reason: str) -> None:
        stats = self._stats.get(provider)
        if stats is None:
            return
        now = self._clock.monotonic()
        with self._lock:
            stats.errors += 1
            stats.last_check = now
            stats.last_error = reason
            stats.last_ok = False

    def record_probe(
        self, provider: ProviderName, ok: bool, latency_ms: float, error: str | None
    ) -> None:
        """A health-endpoint probe: updates status and last check, not the call counts."""
        stats = self._stats.get(provider)
        if stats is None:
            return
        now = self._clock.monotonic()
        with self._lock:
            stats.last_check = now
            stats.last_ok = ok
            if ok:
                stats.latency_ms = latency_ms if not stats.successes else stats.latency_ms
            else:
                stats.last_error = error

    def latency_percentile(self, provider: ProviderName, fraction: float) -> float | None:
        """The ``fraction`` quantile (0..1) of recent successful latencies, in ms."""
        stats = self._stats.get(provider)
        if stats is None:
            return None
        with self._lock:
            window = sorted(stats.recent)
        if not window:
            return None
        index = min(len(window) - 1, int(fraction * len(window)))
        return window[index]

    def sample_count(self, provider: ProviderName) -> int:
        stats = self._stats.get(provider)
        return 0 if stats is None else len(stats.recent)

    def smoothed_latency(self, provider: ProviderName) -> float | None:
        stats = self._stats.get(provider)
        return None if stats is None or not stats.successes else stats.latency_ms

    def snapshot(self, circuits: Mapping[ProviderName, CircuitView]) -> dict[str, ProviderHealth]:
        out: dict[str, ProviderHealth] = {}
        wall, now = self._clock.wall(), self._clock.monotonic()
        with self._lock:
            for provider, stats in self._stats.items():
                view = circuits.get(provider)
                out[provider.value] = ProviderHealth(
                    provider=provider,
                    status=_status(stats, view),
                    last_check=_wall_time(stats.last_check, wall, now),
                    latency_ms=stats.latency_ms,
                    error_count=stats.errors,
                    success_count=stats.successes,
                    circuit_open_until=view.open_until if view and view.state == "open" else None,
                    last_error=stats.last_error,
                    circuit_state=view.state if view else "closed",
                    consecutive_failures=view.consecutive_failures if view else 0,
                )
        return out


def _wall_time(monotonic: float | None, wall: datetime, now: float) -> datetime | None:
    """The UTC time of the monotonic instant ``monotonic``, given that ``now`` is
    ``wall``."""
    return None if monotonic is None else wall - timedelta(seconds=now - monotonic)


def _status(stats: _Stats, view: CircuitView | None) -> HealthStatus:
    if view is not None and view.state == "open":
        return HealthStatus.CIRCUIT_OPEN
    if stats.last_ok is None:
        return HealthStatus.UNKNOWN
    return HealthStatus.HEALTHY if stats.last_ok else HealthStatus.UNHEALTHY

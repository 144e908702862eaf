"""Per-provider circuit breakers on pybreaker's state and storage.

pybreaker keeps the state (closed/open/half-open), the consecutive-failure counter and
``opened_at`` in a storage object (in memory, or Redis to share it between processes). Its
call wrappers are not used: they are wrong for coroutines, count cancellation as a failure,
and let every concurrent caller through when half-open (see PITFALLS.md). Admission is
decided here instead, with an injectable clock:

* closed: every call is admitted;
* open: calls are skipped without a network call until ``opened_at + reset_seconds``;
* then exactly one trial call is admitted (a non-blocking lock, safe under threads and
  asyncio); the others are skipped while it runs. Success closes, failure reopens.

A failure that does not trip breakers (our own 4xx) proves the provider is up and counts
as a success. A cancelled call releases its admission and counts as nothing. A 429's
Retry-After holds the provider out at least that long, whatever the breaker says.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..clock import Clock
from ..errors import ProviderError

ADMITTED = 1
TRIAL = 2


@dataclass(frozen=True, slots=True)
class CircuitView:
    state: str  # "closed" | "open" | "half-open"
    consecutive_failures: int
    open_until: datetime | None


class ProviderCircuit:
    def __init__(
        self,
        name: str,
        *,
        fail_max: int,
        reset_seconds: float,
        clock: Clock,
        storage: Any = None,
    ) -> None:
        import pybreaker  # imported here: it is slow to import when redis is installed

        self._pb = pybreaker
        self._storage = storage or pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_seconds,
            state_storage=self._storage,
            name=name,
        )
        self._reset = timedelta(seconds=reset_seconds)
        self._clock = clock
        self._trial = threading.Lock()
        self._hold_until: datetime | None = None

    # -- admission ----------------------------------------------------------------------
    def admit(self) -> int | str:
        """``ADMITTED``, ``TRIAL`` (the one half-open call) or the reason for skipping."""
        now = self._clock.wall()
        hold = self._hold_until
        if hold is not None and now < hold:
            return f"rate limited until {_hms(hold)}"
        state = self._storage.state
        if state == self._pb.STATE_CLOSED:
            return ADMITTED
        if state == self._pb.STATE_OPEN:
            until = self._open_until()
            if until is not None and now < until:
                return f"circuit open until {_hms(until)}"
        if not self._trial.acquire(blocking=False):
            return "circuit half-open, trial call in progress"
        if self._storage.state != self._pb.STATE_HALF_OPEN:
            self._breaker.half_open()
        return TRIAL

    def release(self, ticket: int) -> None:
        """Give an admission back without an outcome (the call was cancelled)."""
        if ticket == TRIAL:
            self._trial.release()

    # -- outcomes -----------------------------------------------------------------------
    def record_success(self, ticket: int) -> None:
        if self._storage.counter:
            self._storage.reset_counter()
        if ticket == TRIAL or self._storage.state != self._pb.STATE_CLOSED:
            self._breaker.close()
        self.release(ticket)

    def hold_for(self, seconds: float) -> None:
        """Keep the provider out for ``seconds`` (its Retry-After or exhausted quota)."""
        hold = self._clock.wall() + timedelta(seconds=seconds)
        if self._hold_until is None or hold > self._hold_until:
            self._hold_until = hold

    def record_failure(self, ticket: int, error: ProviderError) -> None:
        if error.retry_after and error.status == 429:
            self.hold_for(error.retry_after)
        if not error.trips_breaker:
            self.record_success(ticket)
            return
        self._storage.increment_counter()
        if ticket == TRIAL or self._storage.counter >= self._breaker.fail_max:
            self._breaker.open()
            self._storage.opened_at = self._clock.wall()
        self.release(ticket)

    # -- inspection ---------------------------------------------------------------------
    def view(self) -> CircuitView:
        state = self._storage.state
        until = self._open_until() if state == self._pb.STATE_OPEN else None
        if until is not None and self._clock.wall() >= until:
            state = self._pb.STATE_HALF_OPEN  # the next call will be the trial
        return CircuitView(state, self._storage.counter, until)

    def _open_until(self) -> datetime | None:
        opened_at = self._storage.opened_at
        return None if opened_at is None else opened_at + self._reset


def _hms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

"""Per-provider circuit breakers on pybreaker's state and storage.

pybreaker keeps the state (closed/open/half-open), the consecutive-failure counter and
``opened_at`` in a storage object (in memory, or Redis to share it between processes). Its
call wrappers are not used: they are wrong for coroutines, count cancellation as a failure,
and let every concurrent caller through when half-open (see PITFALLS.md). Admission is
decided here instead, with an injectable clock:

* closed: every call is admitted;
* open: calls are skipped without a network call until ``opened_at + reset_seconds``;
* then exactly one trial call is admitted (a :class:`TrialGate`: by default a non-blocking
  lock, safe under threads and asyncio; with shared state, a lock across processes); the
  others are skipped while it runs. Success closes, failure reopens. The state is read
  again once the gate is taken, so a caller that arrives just after another one's trial
  ended is admitted (or skipped) by the new state instead of starting a second trial.

The storage and the trial gate are pluggable (:mod:`sarvanom_sdk.shared_state` passes
Redis-backed ones). pybreaker's ``CircuitBreaker`` is built on the first state change,
so building a circuit reads nothing from its storage. A storage that offers
``state_and_counter()`` is taken to be remote (each read a round trip): admission reads
state and failure counter together, and a call admitted while the breaker was closed with
no failures (ticket ``CLEAN``) records its success without reading again — so a breaker
another process opened during that call stays open.

A failure that does not trip breakers (our own 4xx) proves the provider is up and counts
as a success. A cancelled call releases its admission and counts as nothing. A 429's
Retry-After (or an exhausted quota) holds the provider out at least that long, whatever
the breaker says; with a shared storage (one that has ``hold``/``hold_until``) the hold
is shared too, so one process's 429 keeps every process off the provider until the reset.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..clock import Clock
from ..errors import ProviderError

ADMITTED = 1
TRIAL = 2
#: The longest a provider's own word (Retry-After, a quota reset) keeps it out: a day.
MAX_HOLD_SECONDS = 86_400.0
CLEAN = 3  # admitted while closed with no failures, read from a remote storage


@dataclass(frozen=True, slots=True)
class CircuitView:
    state: str  # "closed" | "open" | "half-open"
    consecutive_failures: int
    open_until: datetime | None


class TrialGate(Protocol):
    """Admits at most one half-open trial call at a time. ``acquire`` must not block on a
    lock (it is called on the event loop); the caller that got True calls ``release``."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class LocalTrialGate:
    """One trial call per process: a ``threading.Lock`` taken without blocking."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()


class ProviderCircuit:
    def __init__(
        self,
        name: str,
        *,
        fail_max: int,
        reset_seconds: float,
        clock: Clock,
        storage: Any = None,
        trial_gate: TrialGate | None = None,
    ) -> None:
        """``storage``: a pybreaker storage (default: in memory); ``trial_gate``: who may
        make the half-open trial call (default: :class:`LocalTrialGate`)."""
        import pybreaker  # imported here: it is slow to import when redis is installed

        self._pb = pybreaker
        self._name = name
        self._fail_max = fail_max
        self._reset_seconds = reset_seconds
        # duck-typed: a shared storage adds hold/hold_until/state_and_counter (hasattr below)
        self._storage: Any = storage or pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._machine: Any = None
        self._reset = timedelta(seconds=reset_seconds)
        self._clock = clock
        self._trial: TrialGate = trial_gate or LocalTrialGate()
        self._hold_until: datetime | None = None
        # A remote storage reads state and failure counter together (one round trip).
        self._remote = hasattr(self._storage, "state_and_counter")
        # A storage with ``hold(until)``/``hold_until`` shares Retry-After and quota holds.
        self._shared_hold = hasattr(self._storage, "hold")
        self._state_and_counter: Any = getattr(
            self._storage, "state_and_counter", self._read_state_and_counter
        )

    @property
    def _breaker(self) -> Any:
        """pybreaker's state machine over the storage, built on first use (its
        constructor reads the state: with a shared storage, a network read)."""
        if self._machine is None:
            self._machine = self._pb.CircuitBreaker(
                fail_max=self._fail_max,
                reset_timeout=self._reset_seconds,
                state_storage=self._storage,
                name=self._name,
            )
        return self._machine

    # -- admission ----------------------------------------------------------------------
    def admit(self) -> int | str:
        """``ADMITTED`` (or ``CLEAN``), ``TRIAL`` (the one half-open call) or the reason
        for skipping."""
        hold = self._hold_until
        if self._shared_hold:  # a hold any process took (its mirror: no I/O)
            other = self._storage.hold_until
            hold = other if hold is None or (other is not None and other > hold) else hold
        if hold is not None and self._clock.wall() < hold:
            return f"rate limited until {_hms(hold)}"
        if self._remote:
            state, failures = self._state_and_counter()
        else:
            state, failures = self._storage.state, -1
        if state == self._pb.STATE_CLOSED:  # the common case: no clock needed
            return CLEAN if failures == 0 else ADMITTED
        now = self._clock.wall()
        settled = self._settled(state, now)
        if settled is not None:
            return CLEAN if settled == ADMITTED and failures == 0 else settled
        if not self._trial.acquire():
            return "circuit half-open, trial call in progress"
        ticket: int | str = ""
        try:  # from here the trial gate is released on every path but TRIAL (F9)
            state = self._storage.state  # again: another caller's trial may just have ended
            settled = self._settled(state, now)
            if settled is not None:
                ticket = settled
                return settled
            if state != self._pb.STATE_HALF_OPEN:
                self._breaker.half_open()
            ticket = TRIAL
            return TRIAL
        finally:
            if ticket != TRIAL:
                self._trial.release()

    def _settled(self, state: str, now: datetime) -> int | str | None:
        """``ADMITTED`` when closed, the reason to skip while open, None when a trial call
        is due."""
        if state == self._pb.STATE_CLOSED:
            return ADMITTED
        if state == self._pb.STATE_OPEN:
            until = self._open_until()
            if until is not None and now < until:
                return f"circuit open until {_hms(until)}"
        return None

    def release(self, ticket: int) -> None:
        """Give an admission back without an outcome (the call was cancelled)."""
        if ticket == TRIAL:
            self._trial.release()

    # -- outcomes -----------------------------------------------------------------------
    def record_success(self, ticket: int) -> None:
        if ticket == TRIAL:
            self._breaker.close()  # closing also resets the failure counter
        elif ticket != CLEAN:
            state, failures = self._state_and_counter()
            if failures:
                self._storage.reset_counter()
            if state != self._pb.STATE_CLOSED:
                self._breaker.close()
        self.release(ticket)

    def hold_for(self, seconds: float) -> None:
        """Keep the provider out for ``seconds`` (its Retry-After or exhausted quota)."""
        seconds = min(seconds, MAX_HOLD_SECONDS) if seconds == seconds else MAX_HOLD_SECONDS
        hold = self._clock.wall() + timedelta(seconds=seconds)
        if self._hold_until is None or hold > self._hold_until:
            self._hold_until = hold
            if self._shared_hold:
                self._storage.hold(hold)  # every process keeps off until then

    def record_failure(self, ticket: int, error: ProviderError) -> None:
        if error.retry_after and error.status == 429:
            self.hold_for(error.retry_after)
        if not error.trips_breaker:
            self.record_success(ticket)
            return
        self._storage.increment_counter()
        if ticket == TRIAL or self._storage.counter >= self._fail_max:
            self._breaker.open()
            self._storage.opened_at = self._clock.wall()
        self.release(ticket)

    def allow_trial(self) -> None:
        """A health probe found the provider up while open: end the open period now, so
        the next call is the single half-open trial (issue 13 item 8)."""
        if self._storage.state == self._pb.STATE_OPEN:
            self._storage.opened_at = self._clock.wall() - self._reset

    # -- inspection ---------------------------------------------------------------------
    def view(self) -> CircuitView:
        state, failures = self._state_and_counter()
        until = self._open_until() if state == self._pb.STATE_OPEN else None
        if until is not None and self._clock.wall() >= until:
            state = self._pb.STATE_HALF_OPEN  # the next call will be the trial
        return CircuitView(state, failures, until)

    def _read_state_and_counter(self) -> tuple[str, int]:
        return self._storage.state, self._storage.counter

    def _open_until(self) -> datetime | None:
        opened_at = self._storage.opened_at
        return None if opened_at is None else opened_at + self._reset


def _hms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

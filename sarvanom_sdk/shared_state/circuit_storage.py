"""Circuit breakers shared by every process, with no Redis round trip on admission.

:class:`SharedCircuitStorage` is a pybreaker storage whose reads are a local mirror of the
breaker's shared state; Redis is written only when something changes, and never in the
caller's thread:

* one Redis hash per breaker, ``<namespace>:{breaker:<provider>:<url hash>}`` (the braces
  are a Cluster hash tag: the hash and its trial lock share a slot), with the fields
  ``s`` (state: closed/open), ``f`` (consecutive failures, all processes), ``o`` (opened
  at, epoch ms) and ``h`` (held out until, epoch ms: Retry-After and quota holds);
* a failure, a counter reset or a hold is a Lua script run by the link's writer thread
  (:data:`~.redis_backend.WRITER`); an opening or a closing too on an event loop, while a
  sync caller runs it itself (one bounded round trip, on a state change only); the scripts that
  change the state also ``PUBLISH`` the new fields, and :mod:`.notify`'s listener thread
  applies them to every other process's mirror (and reads every breaker again after each
  (re)subscription and every few seconds, in case a message was lost);
* the failure counter is shared: each failure's script returns the total, which the
  mirror takes, so failures in several processes add up (with the lag of one write);
* half-open is local: which process makes the trial call is decided by
  :class:`SharedTrialGate` (``SET NX PX`` on ``<...>:trial``).

Everything read from Redis (a hash, a message) is validated (review F9): a value that is
not one of ours reads as the closed breaker's. While Redis is unavailable the mirror goes
on alone, exactly like a local breaker.

:class:`SharedTrialGate` admits one half-open trial call across every process: this
process's threads meet on a non-blocking ``threading.Lock`` first, then the winner sets the
trial key with ``SET NX PX``; only the process that set it probes the provider. The key
expires after ``ttl`` seconds (longer than a whole call may last) in case its holder
dies, and is deleted, only by its holder, when the trial ends. On an event loop the
``SET`` is not awaited: it is made by the writer thread, and the trial goes to the next
caller once it is won (the callers in between are skipped as "trial in progress"). While
Redis is out, the local lock alone decides.
"""

from __future__ import annotations

import os
import threading
import weakref
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pybreaker  # this module is imported only when Redis is configured

from .redis_backend import WRITER, RedisLink, Unavailable, on_event_loop

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_EMIT = """
local function emit(s, f, o, h)
  redis.call('PUBLISH', ARGV[1], KEYS[1] .. '|' .. s .. '|' .. f .. '|' .. o .. '|' .. h)
  return {s, f, o, h}
end
local function fields()
  local v = redis.call('HMGET', KEYS[1], 's', 'f', 'o', 'h')
  return v[1] or 'closed', tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
end
"""
# ARGV: channel -> the fields after one more failure (no message: not a state change)
_FAIL = _EMIT + """
local s, f, o, h = fields()
f = f + 1
redis.call('HSET', KEYS[1], 'f', f)
return {s, f, o, h}
"""
# ARGV: channel, opened at (ms)
_OPEN = _EMIT + """
local s, f, o, h = fields()
redis.call('HSET', KEYS[1], 's', 'open', 'o', ARGV[2])
return emit('open', f, ARGV[2], h)
"""
# ARGV: channel
_CLOSE = _EMIT + """
local s, f, o, h = fields()
redis.call('HSET', KEYS[1], 's', 'closed', 'f', 0)
if s ~= 'closed' then return emit('closed', 0, o, h) end
return {'closed', 0, o, h}
"""
# ARGV: channel
_RESET = _EMIT + """
local s, f, o, h = fields()
if f ~= 0 then redis.call('HSET', KEYS[1], 'f', 0) end
return {s, 0, o, h}
"""
# ARGV: channel, held until (ms): kept only if later than the current hold
_HOLD = _EMIT + """
local s, f, o, h = fields()
if tonumber(ARGV[2]) > h then
  redis.call('HSET', KEYS[1], 'h', ARGV[2])
  return emit(s, f, o, ARGV[2])
end
return {s, f, o, h}
"""

_STATES = (pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN)
#: Failure counters beyond this are not ours: read as 0.
MAX_COUNTER = 1 << 31
#: Epoch milliseconds beyond this (year 2286) are not ours.
MAX_EPOCH_MS = 10**13


def valid_state(value: Any) -> str:
    """A breaker state read from Redis, or "closed" for anything else (review F9)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value if isinstance(value, str) and value in _STATES else pybreaker.STATE_CLOSED


def valid_counter(value: Any) -> int:
    """A counter read from Redis (bytes, str or int), or 0 when it is not a small
    non-negative integer (review F9)."""
    if isinstance(value, (bytes, str)):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        value = int(text) if text.isdigit() and len(text) <= 10 else 0
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if 0 <= value < MAX_COUNTER else 0


def valid_epoch_ms(value: Any) -> float | None:
    """Epoch milliseconds read from Redis, or None (absent, 0, or not ours: F9)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        number = float(value) if isinstance(value, (str, int, float)) else 0.0
    except ValueError:
        return None
    return number if 0 < number < MAX_EPOCH_MS else None


def _moment(ms: float | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(slots=True)
class _Mirror:
    """This process's view of one breaker's shared state."""

    state: str = pybreaker.STATE_CLOSED
    counter: int = 0
    success_counter: int = 0
    opened_at: datetime | None = None
    hold_until: datetime | None = None


class SharedCircuitStorage(pybreaker.CircuitBreakerStorage):
    """A pybreaker storage over a local mirror of a shared breaker (see the module
    docstring). Reads never touch Redis; changes are written by the writer thread."""

    def __init__(self, link: RedisLink, key: str, subscriber: Any) -> None:
        super().__init__("redis")
        self._link = link
        self.key = key
        self._subscriber = subscriber
        self._mirror = _Mirror()
        self._writes = 0  # scripts submitted and not yet run: a resync waits for them
        self._state_writes = 0  # of which state changes (open, close)
        self._lock = threading.Lock()
        subscriber.register(key, self._on_message, self.resync)

    # -- from Redis ---------------------------------------------------------------------
    def resync(self) -> None:
        """Read the shared fields (listener thread; skipped while own writes are queued,
        which carry newer values)."""
        if self._writes:
            return
        raw = self._link.call(lambda r: r.hmget(self.key, ["s", "f", "o", "h"]))
        self._apply(*raw)

    def _on_message(self, payload: bytes) -> None:
        parts = payload.split(b"|")
        if len(parts) == 5:
            self._apply(parts[1], parts[2], parts[3], parts[4])

    def _apply(
        self, state: Any, counter: Any, opened: Any, hold: Any, counter_only: bool = False
    ) -> None:
        """Take shared fields (validated) into the mirror. A trial running here
        (half-open) is not undone by an "open" older than it; while this process's own
        state change is on its way to Redis, only the counter and hold are taken (the
        change's own message follows)."""
        counter_only = counter_only or self._state_writes > 0
        state = valid_state(state)
        opened_at = _moment(valid_epoch_ms(opened))
        hold_until = _moment(valid_epoch_ms(hold))
        with self._lock:
            mirror = self._mirror
            if hold_until is not None and (
                mirror.hold_until is None or hold_until > mirror.hold_until
            ):
                mirror.hold_until = hold_until
            mirror.counter = valid_counter(counter)
            if counter_only:
                return
            if state == pybreaker.STATE_HALF_OPEN:
                state = pybreaker.STATE_OPEN  # not shared: read as the open it came from
            stale = (
                mirror.state == pybreaker.STATE_HALF_OPEN
                and state == pybreaker.STATE_OPEN
                and (opened_at is None or mirror.opened_at is None or opened_at <= mirror.opened_at)
            )
            if not stale:
                mirror.state = state
                mirror.opened_at = opened_at if state == pybreaker.STATE_OPEN else mirror.opened_at

    # -- to Redis -----------------------------------------------------------------------
    def _send(self, script: str, *args: Any, state_change: bool = False) -> None:
        """Run ``script`` on the breaker's hash in the writer thread; the counter it
        returns is taken into the mirror (the state comes back as a message)."""
        with self._lock:
            self._writes += 1
            self._state_writes += state_change

        def job() -> None:
            try:
                result = self._link.run_script(
                    script, [self.key], [self._subscriber.channel, *args]
                )
            except Unavailable:  # KeyFault too: the mirror goes on alone
                return
            finally:
                with self._lock:
                    self._writes -= 1
                    self._state_writes -= state_change
            if isinstance(result, list) and len(result) == 4:
                self._apply(result[0], result[1], result[2], result[3], counter_only=True)

        if state_change and not on_event_loop():
            job()  # a sync caller waits (bounded) for a state change: seen sooner
        else:
            WRITER.submit(job)

    # -- the CircuitBreakerStorage interface --------------------------------------------
    @property
    def state(self) -> str:
        self._subscriber.ensure()  # a forked child starts its own listener
        return self._mirror.state

    @state.setter
    def state(self, state: str) -> None:
        previous, self._mirror.state = self._mirror.state, state
        if state == pybreaker.STATE_CLOSED and previous != state:
            self._mirror.counter = 0
            self._send(_CLOSE, state_change=True)

    @property
    def counter(self) -> int:
        return self._mirror.counter

    @property
    def success_counter(self) -> int:
        return self._mirror.success_counter

    @property
    def opened_at(self) -> datetime | None:
        return self._mirror.opened_at

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        self._mirror.opened_at = now
        if self._mirror.state == pybreaker.STATE_OPEN:
            self._send(_OPEN, _ms(now), state_change=True)

    @property
    def hold_until(self) -> datetime | None:
        """Held out until (a Retry-After or an exhausted quota), by any process."""
        return self._mirror.hold_until

    def hold(self, until: datetime) -> None:
        """Hold the provider out until ``until`` in every process (kept if later)."""
        with self._lock:
            if self._mirror.hold_until is not None and self._mirror.hold_until >= until:
                return
            self._mirror.hold_until = until
        self._send(_HOLD, _ms(until))

    def increment_counter(self) -> None:
        self._mirror.counter += 1
        self._send(_FAIL)

    def reset_counter(self) -> None:
        if self._mirror.counter:
            self._mirror.counter = 0
            self._send(_RESET)

    def increment_success_counter(self) -> None:
        self._mirror.success_counter += 1

    def reset_success_counter(self) -> None:
        self._mirror.success_counter = 0


class SharedTrialGate:
    """One half-open trial call across all processes (see the module docstring).

    ``acquire()`` never blocks on a lock. From a thread (the sync client) it makes one
    bounded Redis round trip after this process's own lock was free; on an event loop
    it makes none: the claim is sent by the writer thread and taken by a later caller."""

    #: A claim won in Redis but not taken by a caller within this is given back.
    CLAIM_SECONDS = 5.0

    def __init__(self, link: RedisLink, key: str, ttl_seconds: float) -> None:
        self._link = link
        self._key = key
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._local = threading.Lock()
        self._token: bytes | None = None
        self._claim: tuple[bytes, float] | None = None  # won by the writer, not yet taken
        self._claiming = False
        _GATES.add(self)

    def acquire(self) -> bool:
        """True when this caller holds the trial (then it must call :meth:`release`)."""
        if not self._local.acquire(blocking=False):
            return False
        if on_event_loop():
            return self._acquire_without_waiting()
        token = os.urandom(16).hex().encode()
        try:
            won = self._link.call(lambda r: r.set(self._key, token, nx=True, px=self._ttl_ms))
        except Unavailable:
            self._token = None  # Redis out: this process decides alone
            return True
        if not won:
            self._local.release()
            return False
        self._token = token
        return True

    def _acquire_without_waiting(self) -> bool:
        """On an event loop: take a claim the writer thread won, or ask it for one."""
        import time

        claim, self._claim = self._claim, None
        if claim is not None and time.monotonic() < claim[1]:
            self._token = claim[0] or None
            return True
        if claim is not None:  # won too long ago: give it back
            self._unlock(claim[0])
        if not self._link.reachable:
            self._token = None  # Redis out: this process decides alone
            return True
        if not self._claiming:
            self._claiming = True
            WRITER.submit(self._claim_in_background)
        self._local.release()
        return False

    def _claim_in_background(self) -> None:
        import time

        token = os.urandom(16).hex().encode()
        try:
            won = self._link.call(lambda r: r.set(self._key, token, nx=True, px=self._ttl_ms))
        except Unavailable:
            won, token = True, b""  # decided alone
        finally:
            self._claiming = False
        if won:
            self._claim = (token, time.monotonic() + self.CLAIM_SECONDS)

    def release(self) -> None:
        """End the trial: delete the shared lock if this process still holds it."""
        token, self._token = self._token, None
        if token is not None:
            self._unlock(token)
        self._local.release()

    def _unlock(self, token: bytes) -> None:
        if not token:
            return
        if on_event_loop():
            WRITER.submit(lambda: self._unlock(token))
            return
        with suppress(Unavailable):
            self._link.run_script(_UNLOCK, [self._key], [token])


_GATES: weakref.WeakSet[SharedTrialGate] = weakref.WeakSet()


def _after_fork() -> None:
    """In a forked child no trial of the parent runs and no claim is in flight."""
    for gate in list(_GATES):
        gate._local = threading.Lock()
        gate._token = gate._claim = None
        gate._claiming = False


os.register_at_fork(after_in_child=_after_fork)

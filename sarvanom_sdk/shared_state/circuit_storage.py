"""Circuit breakers shared by every process: pybreaker's own ``CircuitRedisStorage``, kept
off the critical path when Redis is out, plus a trial lock across processes.

:class:`SharedCircuitStorage` is a pybreaker storage that delegates to a
``pybreaker.CircuitRedisStorage`` (state, failure counter, ``opened_at``; one key each
under ``<namespace>:breaker:<provider>:<url hash>:pybreaker:``) through a guarded client
(:class:`GuardedRedis`), and keeps a local mirror of the last values it read or wrote.
When Redis is unavailable it answers from the mirror: the breaker goes on working locally
from the last shared state, without waiting on Redis and without pybreaker's per-call
error logging. pybreaker's storage does the work: every read is a GET (so a process sees
a breaker opened elsewhere on its next request), ``opened_at`` is stored in whole seconds
(a breaker may leave "open" up to 1 s early), and its constructor's SETNXs happen on first
use, not when a client is built. One addition, because round trips dominate the cost
(benchmarks/redis_state.py): :meth:`SharedCircuitStorage.state_and_counter` reads
pybreaker's state and failure-counter keys with one MGET. ``ProviderCircuit`` uses it at
admission, and a call admitted while the breaker was closed with no failures records its
success without another read: one round trip per call on the healthy path, where
pybreaker's properties alone cost three.

:class:`SharedTrialGate` admits one half-open trial call across every process: this
process's threads meet on a non-blocking ``threading.Lock`` first, then the winner sets
``<...>:trial`` with ``SET NX PX``; only the process that set it probes the provider. The
key expires after ``ttl`` seconds (longer than a whole call may last) in case its holder
dies, and is deleted, only by its holder, when the trial ends. While Redis is out, the
local lock alone decides.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pybreaker  # this module is imported only when Redis is configured

from .redis_backend import RedisLink, Unavailable

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class GuardedRedis:
    """The part of the redis-py API that ``CircuitRedisStorage`` uses, with every command
    run through :meth:`RedisLink.call` (so failures raise :class:`Unavailable`)."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link

    def get(self, name: str) -> Any:
        return self._link.call(lambda r: r.get(name))

    def set(self, name: str, value: Any) -> Any:
        return self._link.call(lambda r: r.set(name, value))

    def setnx(self, name: str, value: Any) -> Any:
        return self._link.call(lambda r: r.setnx(name, value))

    def incr(self, name: str) -> Any:
        return self._link.call(lambda r: r.incr(name))

    def transaction(self, func: Callable[[Any], None], *watches: str) -> Any:
        return self._link.call(lambda r: r.transaction(func, *watches))


@dataclass(slots=True)
class _Mirror:
    """The last breaker values this process read from or wrote to Redis."""

    state: str = pybreaker.STATE_CLOSED
    counter: int = 0
    success_counter: int = 0
    opened_at: datetime | None = None


class SharedCircuitStorage(pybreaker.CircuitBreakerStorage):
    """A pybreaker storage over ``CircuitRedisStorage`` with a local fallback (see the
    module docstring). Each property read is one Redis round trip while Redis is up, none
    during an outage."""

    def __init__(self, link: RedisLink, namespace: str) -> None:
        super().__init__("redis")
        self._link = link
        self._namespace = namespace
        self._mirror = _Mirror()
        self._remote: pybreaker.CircuitRedisStorage | None = None
        base = f"{namespace}:{pybreaker.CircuitRedisStorage.BASE_NAMESPACE}"
        self._state_keys = [f"{base}:state", f"{base}:fail_counter"]  # pybreaker's own keys

    def _shared(self) -> pybreaker.CircuitRedisStorage:
        """pybreaker's Redis storage, built on first use (its constructor writes)."""
        if self._remote is None:
            guarded: Any = GuardedRedis(self._link)  # duck-typed for redis.Redis
            self._remote = pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, guarded, namespace=self._namespace
            )
        return self._remote

    def state_and_counter(self) -> tuple[str, int]:
        """State and failure counter in one round trip (MGET of pybreaker's two keys)."""
        try:
            state, counter = self._link.call(lambda r: r.mget(self._state_keys))
        except Unavailable:
            return self._mirror.state, self._mirror.counter
        if state is None:  # not set yet, or Redis restarted: pybreaker initialises it
            return self.state, self.counter
        self._mirror.state, self._mirror.counter = valid_state(state), valid_counter(counter)
        return self._mirror.state, self._mirror.counter

    def _read(self, name: str) -> Any:
        """One value through pybreaker's storage; a value that is not well formed (another
        program's key, a manual edit: review F9) reads as the closed breaker's."""
        try:
            value = getattr(self._shared(), name)
        except Unavailable:
            return getattr(self._mirror, name)
        except (ValueError, TypeError, OverflowError, OSError, AttributeError):
            value = getattr(_Mirror(), name)  # pybreaker could not convert it
        value = _VALIDATE[name](value)
        setattr(self._mirror, name, value)
        return value

    def _write(self, local: Callable[[_Mirror], None], shared: Callable[[Any], None]) -> None:
        local(self._mirror)
        # A malformed value already there makes pybreaker's conversions raise (F9).
        with suppress(Unavailable, ValueError, TypeError, OverflowError, OSError):
            shared(self._shared())

    # -- the CircuitBreakerStorage interface --------------------------------------------
    @property
    def state(self) -> str:
        return str(self._read("state"))

    @state.setter
    def state(self, state: str) -> None:
        self._write(lambda m: setattr(m, "state", state), lambda s: setattr(s, "state", state))

    @property
    def counter(self) -> int:
        return int(self._read("counter"))

    @property
    def success_counter(self) -> int:
        return int(self._read("success_counter"))

    @property
    def opened_at(self) -> datetime | None:
        value: datetime | None = self._read("opened_at")
        return value

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        self._write(lambda m: setattr(m, "opened_at", now), lambda s: setattr(s, "opened_at", now))

    def increment_counter(self) -> None:
        self._write(_add("counter", 1), lambda s: s.increment_counter())

    def reset_counter(self) -> None:
        self._write(_zero("counter"), lambda s: s.reset_counter())

    def increment_success_counter(self) -> None:
        self._write(_add("success_counter", 1), lambda s: s.increment_success_counter())

    def reset_success_counter(self) -> None:
        self._write(_zero("success_counter"), lambda s: s.reset_success_counter())


_STATES = (pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN)
#: Failure counters beyond this are not ours: read as 0.
MAX_COUNTER = 1 << 31


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


def valid_opened_at(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


_VALIDATE: dict[str, Callable[[Any], Any]] = {
    "state": valid_state,
    "counter": valid_counter,
    "success_counter": valid_counter,
    "opened_at": valid_opened_at,
}


def _add(name: str, step: int) -> Callable[[_Mirror], None]:
    return lambda m: setattr(m, name, getattr(m, name) + step)


def _zero(name: str) -> Callable[[_Mirror], None]:
    return lambda m: setattr(m, name, 0)


class SharedTrialGate:
    """One half-open trial call across all processes (see the module docstring).

    ``acquire()`` never blocks on a lock; it makes one Redis round trip (bounded by the
    link's timeout) only after this process's own lock was free."""

    def __init__(self, link: RedisLink, key: str, ttl_seconds: float) -> None:
        self._link = link
        self._key = key
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._local = threading.Lock()
        self._token: bytes | None = None

    def acquire(self) -> bool:
        """True when this caller holds the trial (then it must call :meth:`release`)."""
        if not self._local.acquire(blocking=False):
            return False
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

    def release(self) -> None:
        """End the trial: delete the shared lock if this process still holds it."""
        token, self._token = self._token, None
        if token is not None:
            with suppress(Unavailable):
                self._link.run_script(_UNLOCK, [self._key], [token])
        self._local.release()

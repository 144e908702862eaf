"""The budget ledger shared by every process: leases from Redis, reservations in memory.

Two integer counters in nano-USD (1e-9 USD, so sums are exact), hash-tagged so one Lua
script touches one Cluster slot: ``<namespace>:{budget}:committed`` (leased out to
processes, plus spend beyond leases) and ``<namespace>:{budget}:spent`` (real costs).

A paid call's worst case is reserved from this process's **lease**: a slice of the budget
taken from Redis by one Lua script (grant ``min(wanted, budget - committed)``, atomically:
concurrent processes never lease more than the budget together). So a paid call makes no
Redis round trip while its process's lease covers it:

* the lease size is :data:`LEASE_FRACTION` of the budget (2 %; at least the call's own
  estimate); when the unreserved lease falls below half of that, the writer thread takes
  the next one in the background, so the caller rarely waits; a sync caller that finds
  its lease short takes one itself (one bounded round trip);
* a call settles locally: its estimate minus its real cost returns to the lease; the real
  cost (and any cost above the estimate) is sent by the writer thread;
* a lease nobody reserved from for :data:`IDLE_RETURN_SECONDS` is given back to Redis
  (so a quiet process does not keep budget from busy ones).

**The promise**: the total spent never passes the budget by more than one lease per
process (2 % of the budget each), plus, as before, what single calls cost beyond their
worst-case estimate. It comes from two places where a process reserves without a lease:
on an event loop (the async client never waits on Redis) a call that finds its lease
short is reserved against the last totals seen, up to one lease, while the writer thread
fetches the next lease; and during a Redis outage a process reserves against the last
shared totals it saw plus what it did since (that spend is sent when Redis returns). A
worker that dies keeps its lease counted as committed (the budget errs on the safe side);
deleting both keys resets the shared budget.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from ..layers.cost import Hold
from .redis_backend import WRITER, RedisLink, Unavailable, on_event_loop

NANO = 1_000_000_000
#: A lease is this share of the budget (and at least the estimate that asked for it).
LEASE_FRACTION = 0.02
#: An untouched lease goes back to Redis after this long.
IDLE_RETURN_SECONDS = 1.0

# ARGV: wanted, budget, pending committed delta, pending spent delta, least -> {granted,
# committed, spent}; grants nothing when less than ``least`` is left.
_LEASE = """
local committed = redis.call('INCRBY', KEYS[1], ARGV[3])
local spent = redis.call('INCRBY', KEYS[2], ARGV[4])
local left = tonumber(ARGV[2]) - committed
local grant = math.min(tonumber(ARGV[1]), left)
if grant < tonumber(ARGV[5]) or grant <= 0 then return {0, committed, spent} end
return {grant, redis.call('INCRBY', KEYS[1], grant), spent}
"""
# ARGV: committed delta, spent delta -> {0, committed, spent}
_ADJUST = """
return {0, redis.call('INCRBY', KEYS[1], ARGV[1]), redis.call('INCRBY', KEYS[2], ARGV[2])}
"""


def to_nano(usd: float) -> int:
    """USD as whole nano-USD, rounded up (a reservation never comes out smaller)."""
    return math.ceil(usd * NANO - 1e-6)


class SharedBudgetLedger:
    """A :class:`~sarvanom_sdk.layers.cost.Ledger` on Redis leases with a local fallback
    (see the module docstring). Nothing raises because of Redis."""

    def __init__(self, link: RedisLink, budget_usd: float, lease_usd: float | None = None) -> None:
        self.budget_usd: float | None = budget_usd
        self._budget = to_nano(budget_usd)
        self.lease_nano = max(1, to_nano(lease_usd if lease_usd else budget_usd * LEASE_FRACTION))
        self._link = link
        self._keys = (link.tagged("budget", "committed"), link.tagged("budget", "spent"))
        self._lock = threading.Lock()
        self._seen = (0, 0)  # (committed, spent) as last read from Redis
        self._pending = [0, 0]  # deltas made here, not yet in Redis
        self._lease = 0  # leased from Redis, not reserved by a call
        self._overdraft = 0  # reserved here without a lease (charged via _pending)
        self._refilling = False
        self._used_at = time.monotonic()
        self._ticking = False
        self._flushing = False
        _LEDGERS.add(self)

    # -- reading ------------------------------------------------------------------------
    @property
    def spent_usd(self) -> float:
        """Spent by every process (as last read from Redis, plus this process's unsent
        spend)."""
        return self._totals()[1] / NANO

    def remaining(self) -> float | None:
        """The budget minus what is committed (leased or spent), plus this process's own
        unreserved lease."""
        committed = self._totals()[0]
        with self._lock:
            return (self._budget - committed + self._lease) / NANO

    def _totals(self) -> tuple[int, int]:
        if not on_event_loop():
            try:
                committed, spent = self._link.call(lambda r: r.mget(self._keys))
            except Unavailable:
                pass
            else:
                with self._lock:
                    self._seen = (_nano(committed), _nano(spent))
        with self._lock:
            return self._seen[0] + self._pending[0], self._seen[1] + self._pending[1]

    # -- booking ------------------------------------------------------------------------
    def reserve(self, amount: float) -> Hold | None:
        nano = to_nano(amount)
        self._tick_later()
        with self._lock:
            self._used_at = time.monotonic()
            if self._lease >= nano:
                self._lease -= nano
                self._maybe_refill()
                self._flush_soon()
                return Hold(amount)
            short = nano - self._lease
        if on_event_loop():  # never wait on Redis here
            if not self._link.reachable:
                return self._reserve_without_lease(amount, nano, cap=None)
            self._refill_soon()
            return self._reserve_without_lease(amount, nano, cap=self.lease_nano)
        try:
            granted = self._take_lease(short)
        except Unavailable:  # an outage, or a KeyFault (a budget key of another type: F17)
            return self._reserve_without_lease(amount, nano, cap=None)
        with self._lock:
            self._lease += granted
            if self._lease >= nano:
                self._lease -= nano
                return Hold(amount)
        return None

    def settle(self, hold: Hold, amount: float) -> None:
        estimate, cost = to_nano(hold.amount_usd), to_nano(amount)
        with self._lock:
            self._pending[1] += cost
            back = estimate - cost
            if back >= 0:
                self._give(back)
            else:
                self._pending[0] += -back  # beyond the estimate: charged to Redis
            self._flush_when_large()

    def release(self, hold: Hold) -> None:
        with self._lock:
            self._give(to_nano(hold.amount_usd))

    def book(self, amount: float) -> None:
        with self._lock:
            self._pending[0] += to_nano(amount)
            self._pending[1] += to_nano(amount)
            self._flush_when_large()

    def _give(self, nano: int) -> None:
        """Return an unspent reservation: it pays back an overdraft first (under lock)."""
        repay = min(nano, self._overdraft)
        self._overdraft -= repay
        self._pending[0] -= repay
        self._lease += nano - repay

    # -- leases -------------------------------------------------------------------------
    def _take_lease(self, least: int) -> int:
        """Lease at least ``least`` (more: a whole lease) from Redis, sending the pending
        deltas with it; 0 when the budget has less than ``least`` left."""
        delta = self._take_pending()
        wanted = max(self.lease_nano, least)
        try:
            granted, *seen = self._link.run_script(
                _LEASE, self._keys, [wanted, self._budget, *delta, least]
            )
        except Unavailable:
            self._give_back(delta)
            raise
        self._saw(seen)
        return _nano(granted)

    def _maybe_refill(self) -> None:
        """(Under lock.) Below half a lease: take the next one in the background."""
        if self._lease < self.lease_nano // 2 and not self._refilling:
            self._refilling = True
            WRITER.submit(self._refill)

    def _refill_soon(self) -> None:
        with self._lock:
            if not self._refilling:
                self._refilling = True
                WRITER.submit(self._refill)

    def _refill(self) -> None:
        try:
            granted = self._take_lease(1)
        except Unavailable:
            granted = 0
        with self._lock:
            self._refilling = False
            self._give(granted)

    def _reserve_without_lease(self, amount: float, nano: int, cap: int | None) -> Hold | None:
        """Reserve against the last totals seen (charged to Redis later); at most ``cap``
        outstanding (one lease) when Redis is up but not waited for."""
        with self._lock:
            if cap is not None and self._overdraft + nano > cap:
                return None
            if self._seen[0] + self._pending[0] + nano > self._budget:
                return None
            self._overdraft += nano
            self._pending[0] += nano
        return Hold(amount)

    def _tick_later(self) -> None:
        """Register the idle-return tick once (on the link's listener, or the writer)."""
        if self._ticking:
            return
        self._ticking = True
        subscriber = self._link.subscriber
        if subscriber is None:
            from .notify import Subscriber

            subscriber = self._link.subscriber = Subscriber(self._link, self._link.key("breakers"))
        if subscriber is not None:
            subscriber.add_tick(self.return_idle_lease)

    def return_idle_lease(self, force: bool = False) -> None:
        """The tick: give an unreserved lease back to Redis after
        :data:`IDLE_RETURN_SECONDS` without reservations (or now with ``force``), and
        send the pending spend."""
        with self._lock:
            idle = time.monotonic() - self._used_at >= IDLE_RETURN_SECONDS
            if self._lease and (idle or force) and not self._refilling:
                back, self._lease = self._lease, 0
                self._pending[0] -= back
            if not any(self._pending):
                return
        self._flush()

    # -- the pending deltas -------------------------------------------------------------
    def _flush(self) -> None:
        """Send the pending deltas (writer thread; kept for the next try when Redis is
        unavailable)."""
        self._flushing = False
        delta = self._take_pending()
        if not any(delta):
            return
        try:
            _, *seen = self._link.run_script(_ADJUST, self._keys, delta)
        except Unavailable:
            self._give_back(delta)
            return
        self._saw(seen)

    def _flush_when_large(self) -> None:
        """(Under lock.) Spend is sent in batches: by the listener's tick (every 0.25 s),
        with the next lease, at :func:`~sarvanom_sdk.shared_state.flush` and at exit, or
        now when a lease's worth has piled up."""
        if (
            max(self._pending[0], self._pending[1]) >= self.lease_nano
            or self._link.subscriber is None
        ):
            self._flush_soon(spend_too=True)

    def _flush_soon(self, spend_too: bool = False) -> None:
        """(Under lock.) Committed deltas (an outage's or an overdraft's reservations, cost
        beyond estimates) go with the next writer job; spend alone waits for the tick."""
        if (self._pending[0] or (spend_too and self._pending[1])) and not self._flushing:
            self._flushing = True
            WRITER.submit(self._flush)

    def _take_pending(self) -> list[int]:
        """The deltas not yet in Redis, handed to one script call (so no delta is sent
        twice by concurrent callers)."""
        with self._lock:
            delta, self._pending = self._pending, [0, 0]
            self._overdraft = 0  # what it reserved is charged by this delta
        return delta

    def _give_back(self, delta: Sequence[int]) -> None:
        with self._lock:
            self._pending[0] += delta[0]
            self._pending[1] += delta[1]

    def _saw(self, seen: Sequence[Any]) -> None:
        with self._lock:
            self._seen = (_nano(seen[0]), _nano(seen[1]))


_LEDGERS: weakref.WeakSet[SharedBudgetLedger] = weakref.WeakSet()


def send_pending() -> None:
    """Send every ledger's pending spend now (for :func:`~sarvanom_sdk.shared_state.flush`)."""
    for ledger in list(_LEDGERS):
        ledger._flush()


def _after_fork() -> None:
    """In a forked child: no writer job of the parent will ever run here, so no refill or
    flush is in flight, and the parent's lock may have been held at the fork."""
    for ledger in list(_LEDGERS):
        ledger._lock = threading.Lock()
        ledger._refilling = ledger._flushing = False


os.register_at_fork(after_in_child=_after_fork)


@atexit.register
def _return_leases() -> None:
    """At a clean exit, give every unreserved lease back (one script each, bounded)."""
    for ledger in list(_LEDGERS):
        ledger.return_idle_lease(force=True)


def _nano(value: Any) -> int:
    """A nano-USD total read from Redis; 0 for anything that is not an integer (F9).
    (A key holding garbage makes the scripts fail, so reservations go local: KeyFault.)"""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        text = value.lstrip("-")
        value = int(value) if text.isdigit() and len(text) <= 30 else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

"""The budget ledger shared by every process: reserve and settle atomically in Redis.

Two integer counters in nano-USD (1e-9 USD, so sums are exact):
``<namespace>:budget:committed`` (spent plus reserved) and ``<namespace>:budget:spent``.
:meth:`SharedBudgetLedger.reserve` is one Lua script: add the worst-case estimate to
``committed`` unless that would pass the budget. ``settle``/``release`` are one script
each: move ``committed`` by (real cost - estimate), add the real cost to ``spent``. Each
is one round trip; concurrent workers cannot both take the last of the budget. So the
total spent never passes the budget by more than one request's real cost above its
estimate. ``reserve`` runs in the caller; settling is deferred to the link's writer thread
(off the request path): until it runs, the whole estimate stays reserved, which only
errs on the safe side.

While Redis is unavailable the ledger goes on locally: it reserves against the last shared
total it saw plus what this process did since, and keeps those amounts as pending deltas
that the next successful script call adds to Redis (so spend during an outage is booked
when Redis returns; other workers do not see it before then). A worker that dies between
reserve and settle leaves its reservation counted as spent (the budget errs on the safe
side); deleting both keys resets the shared budget.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from ..layers.cost import Hold
from .redis_backend import WRITER, RedisLink, Unavailable

NANO = 1_000_000_000

# ARGV: amount, budget, pending committed delta, pending spent delta -> {ok, committed, spent}
_RESERVE = """
local committed = redis.call('INCRBY', KEYS[1], ARGV[3])
local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[4] ~= '0' then spent = redis.call('INCRBY', KEYS[2], ARGV[4]) end
local amount = tonumber(ARGV[1])
if committed + amount > tonumber(ARGV[2]) then return {0, committed, spent} end
return {1, redis.call('INCRBY', KEYS[1], amount), spent}
"""
# ARGV: committed delta, spent delta -> {1, committed, spent}
_ADJUST = """
return {1, redis.call('INCRBY', KEYS[1], ARGV[1]), redis.call('INCRBY', KEYS[2], ARGV[2])}
"""


def to_nano(usd: float) -> int:
    """USD as whole nano-USD, rounded up (a reservation never comes out smaller)."""
    return math.ceil(usd * NANO - 1e-6)


class SharedBudgetLedger:
    """A :class:`~sarvanom_sdk.layers.cost.Ledger` in Redis with a local fallback (see the
    module docstring). ``reserve``, ``spent_usd`` and ``remaining`` make one Redis round
    trip in the caller; ``settle``, ``release`` and ``book`` none (deferred). Nothing
    raises because of Redis."""

    def __init__(self, link: RedisLink, budget_usd: float) -> None:
        self.budget_usd: float | None = budget_usd
        self._budget = to_nano(budget_usd)
        self._link = link
        self._keys = (link.key("budget", "committed"), link.key("budget", "spent"))
        self._lock = threading.Lock()
        self._seen = (0, 0)  # (committed, spent) as last read from Redis
        self._pending = [0, 0]  # deltas made here, not yet in Redis

    # -- reading ------------------------------------------------------------------------
    @property
    def spent_usd(self) -> float:
        """Spent by every process (from Redis; during an outage, the last total seen plus
        this process's unsent spend)."""
        return self._totals()[1] / NANO

    def remaining(self) -> float | None:
        """The budget minus everything spent and reserved, as :attr:`spent_usd`."""
        return (self._budget - self._totals()[0]) / NANO

    def _totals(self) -> tuple[int, int]:
        try:
            committed, spent = self._link.call(lambda r: r.mget(self._keys))
        except Unavailable:
            with self._lock:
                return self._seen[0] + self._pending[0], self._seen[1] + self._pending[1]
        seen = (_nano(committed), _nano(spent))
        with self._lock:
            self._seen = seen
            return seen[0] + self._pending[0], seen[1] + self._pending[1]

    # -- booking ------------------------------------------------------------------------
    def reserve(self, amount: float) -> Hold | None:
        nano = to_nano(amount)
        delta = self._take_pending()
        try:
            ok, *seen = self._link.run_script(_RESERVE, self._keys, [nano, self._budget, *delta])
        except Unavailable:  # KeyFault too: a budget key of another type (F17)
            return self._reserve_locally(amount, nano, delta)
        self._saw(seen)
        return Hold(amount) if ok else None

    def settle(self, hold: Hold, amount: float) -> None:
        self._adjust(to_nano(amount) - to_nano(hold.amount_usd), to_nano(amount))

    def release(self, hold: Hold) -> None:
        self._adjust(-to_nano(hold.amount_usd), 0)

    def book(self, amount: float) -> None:
        self._adjust(to_nano(amount), to_nano(amount))

    def _adjust(self, committed: int, spent: int) -> None:
        with self._lock:
            self._pending[0] += committed
            self._pending[1] += spent
        WRITER.submit(self._flush)

    def _flush(self) -> None:
        """Send the pending deltas (on the writer thread; they wait for the next try when
        Redis is unavailable)."""
        delta = self._take_pending()
        if not any(delta):
            return
        try:
            _, *seen = self._link.run_script(_ADJUST, self._keys, delta)
        except Unavailable:
            self._give_back(delta)
            return
        self._saw(seen)

    # -- the pending deltas -------------------------------------------------------------
    def _take_pending(self) -> list[int]:
        """The deltas not yet in Redis, handed to one script call (so no delta is sent
        twice by concurrent callers)."""
        with self._lock:
            delta, self._pending = self._pending, [0, 0]
        return delta

    def _give_back(self, delta: Sequence[int]) -> None:
        with self._lock:
            self._pending[0] += delta[0]
            self._pending[1] += delta[1]

    def _reserve_locally(self, amount: float, nano: int, delta: Sequence[int]) -> Hold | None:
        with self._lock:
            self._pending[0] += delta[0]
            self._pending[1] += delta[1]
            if self._seen[0] + self._pending[0] + nano > self._budget:
                return None
            self._pending[0] += nano
        return Hold(amount)

    def _saw(self, seen: Sequence[Any]) -> None:
        with self._lock:
            self._seen = (_nano(seen[0]), _nano(seen[1]))


def _nano(value: Any) -> int:
    """A nano-USD total read from Redis; 0 for anything that is not an integer (F9).
    (A key holding garbage makes the scripts fail, so reservations go local: KeyFault.)"""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        text = value.lstrip("-")
        value = int(value) if text.isdigit() and len(text) <= 30 else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

"""Per-token limits shared by every gateway process: requests per minute, tokens per
minute and a USD budget, checked in one Lua call (issue 16 item 5).

This module gives the gateway (which wires it in) one object, :class:`RateLimiter`:

.. code-block:: python

    limiter = open_rate_limiter(settings)          # Redis when SARVANOM_REDIS_URL is set
    limits = TokenLimits(requests_per_minute=60, tokens_per_minute=40_000, budget_usd=5.0)
    verdict = await limiter.check_async("team-a", limits, tokens=estimated_tokens)
    if not verdict.allowed:
        # 429, Retry-After: ceil(verdict.retry_after), error naming verdict.limit
        ...
    ...                                             # after the call:
    limiter.record("team-a", tokens=real_tokens - estimated_tokens, usd=cost)
    limiter.usage("team-a")                         # for /metrics and a /v1/usage view

**The algorithm** is a sliding window counter (the one Cloudflare describes): for each
name, a count per fixed window of ``window_seconds`` (60) for requests and for tokens; a
request is allowed when ``previous * (1 - elapsed) + current + cost <= limit``, where
``elapsed`` is how far the current window has run (0..1). All limits are checked and, only
if every one passes, all counters move, in one atomic step. The estimate assumes the
previous window's requests were spread evenly, so over any ``window_seconds`` the number
admitted stays within one window's worth (``limit``) of the limit, usually much closer;
over a long run the average rate is the limit. The budget is a plain total: a name is
refused once what was recorded reaches its ``budget_usd``.

**Where the counters live**: with Redis, in one hash per name,
``<namespace>:{limit:<name>}`` (one Cluster slot), updated by one Lua script per check
(:data:`_CHECK`); the decision is the same arithmetic as :func:`decide`, written in Lua
because it must run inside Redis. Without Redis, or while it is unavailable (the link's
outage rule: at most one command bound, then local until a retry succeeds), the same
limits hold **per process** (:class:`LocalCounters`), so N gateway processes admit up to
N times the limit during an outage: documented, and logged once by the link.

A check on an event loop is awaited (``redis.asyncio``); a sync check blocks at most one
command bound. :meth:`RateLimiter.record` is deferred (writer thread). Names are hashed
into the key (never stored in clear), so a token's name cannot collide with other keys.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError

NANO = 1_000_000_000

# KEYS[1]: the name's hash. ARGV: window index, elapsed fraction, window seconds,
# rpm (or -1), tpm (or -1), budget nano (or -1), tokens
# -> {allowed (1/0), which limit refused ('' if none), retry after (ms)}
_CHECK = """
local w, f, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rpm, tpm, budget, tokens =
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local v = redis.call('HMGET', KEYS[1], 'r' .. w - 1, 'r' .. w, 't' .. w - 1, 't' .. w, 'spent')
local rp, rc, tp, tc =
  tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
local spent = tonumber(v[5]) or 0
local left = math.ceil((1 - f) * span * 1000)
if budget >= 0 and spent >= budget then return {0, 'budget_usd', -1} end
if rpm >= 0 and rp * (1 - f) + rc + 1 > rpm then return {0, 'requests_per_minute', left} end
if tpm >= 0 and tp * (1 - f) + tc + tokens > tpm then return {0, 'tokens_per_minute', left} end
redis.call('HINCRBY', KEYS[1], 'r' .. w, 1)
if tokens ~= 0 then redis.call('HINCRBY', KEYS[1], 't' .. w, tokens) end
redis.call('HDEL', KEYS[1], 'r' .. w - 2, 't' .. w - 2)
redis.call('PEXPIRE', KEYS[1], math.max(span * 3000, 86400000))
return {1, '', 0}
"""
# ARGV: window index, tokens, nano-USD
_RECORD = """
if ARGV[2] ~= '0' then redis.call('HINCRBY', KEYS[1], 't' .. ARGV[1], ARGV[2]) end
if ARGV[3] ~= '0' then redis.call('HINCRBY', KEYS[1], 'spent', ARGV[3]) end
return redis.call('HGET', KEYS[1], 'spent')
"""
_USAGE_FIELDS = ("r", "t")


@dataclass(frozen=True, slots=True)
class TokenLimits:
    """A gateway token's limits; None means no limit of that kind."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    budget_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigurationError(name, "must be a whole number >= 0 (or unset)")
        budget = self.budget_usd
        if budget is not None and not (isinstance(budget, (int, float)) and 0 <= budget < 1e9):
            raise ConfigurationError("budget_usd", "must be a number >= 0 (or unset)")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed``; else ``limit`` names what refused and ``retry_after`` says when to
    try again (seconds; None for a spent budget, which does not come back)."""

    allowed: bool
    limit: str | None = None
    retry_after: float | None = None


ALLOWED = Verdict(True)


@dataclass(slots=True)
class Usage:
    """What a name used: requests and tokens in the current window, USD in total."""

    requests_this_window: int = 0
    tokens_this_window: int = 0
    spent_usd: float = 0.0


def decide(
    limits: TokenLimits,
    counts: tuple[float, float, float, float, int],
    elapsed: float,
    window_seconds: float,
    tokens: int,
) -> Verdict:
    """The decision (sans-IO): ``counts`` = (previous requests, current requests,
    previous tokens, current tokens, spent nano-USD), ``elapsed`` 0..1 of the current
    window. The Lua script :data:`_CHECK` is this function, run inside Redis."""
    rp, rc, tp, tc, spent = counts
    left = (1 - elapsed) * window_seconds
    if limits.budget_usd is not None and spent >= _nano(limits.budget_usd):
        return Verdict(False, "budget_usd", None)
    rpm = limits.requests_per_minute
    if rpm is not None and rp * (1 - elapsed) + rc + 1 > rpm:
        return Verdict(False, "requests_per_minute", left)
    tpm = limits.tokens_per_minute
    if tpm is not None and tp * (1 - elapsed) + tc + tokens > tpm:
        return Verdict(False, "tokens_per_minute", left)
    return ALLOWED


def _nano(usd: float) -> int:
    return math.ceil(usd * NANO - 1e-6)


@dataclass
class _Counts:
    requests: dict[int, int] = field(default_factory=dict)
    tokens: dict[int, int] = field(default_factory=dict)
    spent: int = 0


class LocalCounters:
    """The same limits in this process only (no Redis, or during an outage)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, _Counts] = {}

    def check(self, name: str, limits: TokenLimits, window: int, elapsed: float,
              span: float, tokens: int) -> Verdict:
        with self._lock:
            c = self._names.setdefault(name, _Counts())
            counts = (
                c.requests.get(window - 1, 0), c.requests.get(window, 0),
                c.tokens.get(window - 1, 0), c.tokens.get(window, 0), c.spent,
            )
            verdict = decide(limits, counts, elapsed, span, tokens)
            if verdict.allowed:
                c.requests[window] = c.requests.get(window, 0) + 1
                c.tokens[window] = c.tokens.get(window, 0) + tokens
                for old in [w for w in c.requests if w < window - 1]:
                    c.requests.pop(old, None)
                    c.tokens.pop(old, None)
            return verdict

    def record(self, name: str, window: int, tokens: int, nano: int) -> None:
        with self._lock:
            c = self._names.setdefault(name, _Counts())
            c.tokens[window] = c.tokens.get(window, 0) + tokens
            c.spent += nano

    def usage(self, name: str, window: int) -> Usage:
        with self._lock:
            c = self._names.get(name, _Counts())
            return Usage(c.requests.get(window, 0), c.tokens.get(window, 0), c.spent / NANO)


class RateLimiter:
    """Limits per name (a gateway token's name), shared through ``link`` when given.

    :param link: a :class:`~.redis_backend.RedisLink`, or None for per-process limits.
    :param window_seconds: the window (60: "per minute"; tests use shorter ones).
    :param wall: seconds since the epoch (every process must agree: wall clock).
    """

    def __init__(
        self,
        link: Any = None,
        *,
        window_seconds: float = 60.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not window_seconds > 0:
            raise ConfigurationError("window_seconds", "must be > 0")
        self._link = link
        self.window_seconds = window_seconds
        self._wall = wall
        self.local = LocalCounters()

    @property
    def shared(self) -> bool:
        return self._link is not None

    def _now(self) -> tuple[int, float]:
        now = self._wall() / self.window_seconds
        return int(now), now - int(now)

    def _key(self, name: str) -> str:
        digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        return str(self._link.tagged(f"limit:{digest}"))

    def _args(self, limits: TokenLimits, window: int, elapsed: float, tokens: int) -> list[Any]:
        def limit(value: Any) -> Any:
            return -1 if value is None else value

        budget = -1 if limits.budget_usd is None else _nano(limits.budget_usd)
        return [
            window, repr(elapsed), repr(self.window_seconds),
            limit(limits.requests_per_minute), limit(limits.tokens_per_minute), budget, tokens,
        ]

    def check(self, name: str, limits: TokenLimits, tokens: int = 0) -> Verdict:
        """Count one request of ``tokens`` (estimated) for ``name`` if every limit allows
        it (sync: at most one bounded Redis round trip)."""
        window, elapsed = self._now()
        if self._link is not None:
            from .redis_backend import Unavailable

            try:
                reply = self._link.run_script(
                    _CHECK, [self._key(name)], self._args(limits, window, elapsed, tokens)
                )
                return _verdict(reply)
            except Unavailable:
                pass
        return self.local.check(name, limits, window, elapsed, self.window_seconds, tokens)

    async def check_async(self, name: str, limits: TokenLimits, tokens: int = 0) -> Verdict:
        """:meth:`check`, awaited on the caller's event loop (``redis.asyncio``)."""
        window, elapsed = self._now()
        if self._link is not None:
            from .redis_backend import Unavailable

            try:
                reply = await self._link.arun_script(
                    _CHECK, [self._key(name)], self._args(limits, window, elapsed, tokens)
                )
                return _verdict(reply)
            except Unavailable:
                pass
        return self.local.check(name, limits, window, elapsed, self.window_seconds, tokens)

    def record(self, name: str, *, tokens: int = 0, usd: float = 0.0) -> None:
        """After the call: correct the token count (real - estimated) and add its cost.
        Never blocks (deferred to the writer thread with Redis)."""
        window, _ = self._now()
        nano = _nano(usd) if usd > 0 else 0
        if self._link is None:
            self.local.record(name, window, tokens, nano)
            return
        from .redis_backend import WRITER, Unavailable

        key = self._key(name)

        def job() -> None:
            try:
                self._link.run_script(_RECORD, [key], [window, tokens, nano])
            except Unavailable:
                self.local.record(name, window, tokens, nano)

        WRITER.submit(job)

    def usage(self, name: str) -> Usage:
        """Requests and tokens of the current window and the total spend of ``name``
        (one bounded round trip with Redis; this process's counts without)."""
        window, _ = self._now()
        if self._link is not None:
            from .redis_backend import Unavailable

            try:
                r, t, spent = self._link.call(
                    lambda c: c.hmget(self._key(name), [f"r{window}", f"t{window}", "spent"])
                )
                return Usage(_int(r), _int(t), _int(spent) / NANO)
            except Unavailable:
                pass
        return self.local.usage(name, window)


def _int(value: Any) -> int:
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _verdict(reply: Any) -> Verdict:
    """The script's reply as a Verdict (a malformed reply allows: the limiter is a
    helper, never a reason to refuse everyone)."""
    try:
        allowed, which, retry_ms = reply
        if int(allowed):
            return ALLOWED
        which = which.decode() if isinstance(which, bytes) else str(which)
        retry = None if int(retry_ms) < 0 else int(retry_ms) / 1000
        return Verdict(False, which, retry)
    except (TypeError, ValueError):
        return ALLOWED


def open_rate_limiter(settings: Any, window_seconds: float = 60.0) -> RateLimiter:
    """A limiter shared through Redis when ``settings.redis_url`` is set (its own link,
    same namespace), else per process."""
    if not getattr(settings, "redis_url", None):
        return RateLimiter(None, window_seconds=window_seconds)
    from .redis_backend import RedisLink, make_clients, redacted_url

    client, make_async = make_clients(settings.redis_url)
    link = RedisLink(
        client, settings.redis_namespace, label=redacted_url(settings.redis_url),
        async_client=make_async,
    )
    return RateLimiter(link, window_seconds=window_seconds)

"""What the gateway did lately, in bounded memory: the dashboard's data (issue 17 item 2).

:class:`ActivityRecorder` is fed two ways and keeps only counts, never text a user sent:

* :meth:`ActivityRecorder.observe_attempt` is a router observer (``client.router.observers``):
  one provider considered for one request — ok, failed or skipped, with its latency.
* :meth:`ActivityRecorder.observe_response` gets every answer the gateway returned: cache
  hits, stale answers, the stub's answers, cost, and the request's trail for the list of
  recent requests.

Memory is bounded whatever the traffic: time is cut into ``bucket_seconds`` buckets kept in a
ring of ``buckets`` (older ones are dropped); each bucket holds, per provider (and per
endpoint, when the SDK's Attempt names it), three counters and a fixed log-scale latency
histogram (:data:`BIN_COUNT` integers), so p50/p95 are read
from counts, not from stored samples; the recent requests are a deque of ``recent`` entries,
each with at most :data:`MAX_TRAIL` attempts; trails waiting for their answer are at most
:data:`MAX_PENDING`. Providers are the SDK's fixed set of names, endpoints the configured
base URLs.

No prompt text and no key is ever stored: an entry keeps the provider, outcome, reason,
latency and status of each attempt. Reasons are the SDK's (keys already redacted); here they
are redacted again with the configured secrets, any piece of the request's own text they
quote (a provider echoing the prompt in an error body) is replaced by ``[prompt]``, and they
are cut to :data:`MAX_REASON` characters.

Thread-safe (one lock); the observers are cheap (a dict lookup and a few increments).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..errors import excerpt, redact
from ..types import Attempt, AttemptOutcome, LLMRequest, LLMResponse

#: Latency histogram: bin 0 holds < 1 ms, bin i holds [1.2**(i-1), 1.2**i) ms; the last bin
#: everything from ~2 minutes up. A quantile read from it is within 10% of the true value.
BIN_RATIO = 1.2
BIN_COUNT = 66
MAX_REASON = 160
MAX_TRAIL = 32
MAX_PENDING = 512
#: Request text shorter than this is not searched for in reasons (too likely by chance).
MIN_SCRUB_CHARS = 6
#: A run of at least this many characters of a reason found in the request's text is
#: replaced (a provider quoting part of the prompt); the first SCRUB_SCAN_CHARS of each
#: text are searched, so a failure costs at most a few milliseconds.
MIN_QUOTE_CHARS = 12
SCRUB_SCAN_CHARS = 65536
_LOG_RATIO = math.log(BIN_RATIO)


def latency_bin(ms: float) -> int:
    """The histogram bin of a latency in milliseconds."""
    if not ms >= 1.0:  # also NaN
        return 0
    return min(BIN_COUNT - 1, 1 + int(math.log(ms) / _LOG_RATIO))


def bin_value(index: int) -> float:
    """A bin's representative latency (ms): the geometric middle of its bounds."""
    if index == 0:
        return 0.5
    return float(BIN_RATIO ** (index - 0.5))


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of a histogram, in ms; None when it is empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return round(bin_value(index), 3)
    return round(bin_value(len(counts) - 1), 3)  # pragma: no cover - rank <= total


@dataclass(slots=True)
class ProviderCounts:
    """One provider's (or endpoint's) attempts in one time bucket."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * BIN_COUNT)

    def count(self, outcome: AttemptOutcome, latency_ms: float) -> None:
        if outcome is AttemptOutcome.SKIPPED:
            self.skipped += 1
            return
        if outcome is AttemptOutcome.OK:
            self.ok += 1
        else:
            self.failed += 1
        self.latency[latency_bin(latency_ms)] += 1

    def add(self, other: ProviderCounts) -> None:
        self.ok += other.ok
        self.failed += other.failed
        self.skipped += other.skipped
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        tried = self.ok + self.failed
        return {
            "attempts": tried,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "success_rate": round(self.ok / tried, 4) if tried else None,
            "p50_ms": quantile(self.latency, 0.50),
            "p95_ms": quantile(self.latency, 0.95),
        }


@dataclass(slots=True)
class Bucket:
    """Everything observed during one ``bucket_seconds`` slice of time."""

    index: int
    requests: int = 0
    cache_hits: int = 0
    stale: int = 0
    stub: int = 0
    hedges: int = 0
    cost_usd: float = 0.0
    providers: dict[str, ProviderCounts] = field(default_factory=dict)
    endpoints: dict[str, ProviderCounts] = field(default_factory=dict)

    def counts(self, table: dict[str, ProviderCounts], name: str) -> ProviderCounts:
        counts = table.get(name)
        if counts is None:
            counts = table[name] = ProviderCounts()
        return counts


class ActivityRecorder:
    """The gateway's recent activity; see the module docstring.

    :param clock: the client's clock (monotonic time picks the bucket; wall time stamps
        the JSON), so tests can use a :class:`~sarvanom_sdk.clock.FakeClock`.
    :param bucket_seconds: width of a time bucket (> 0).
    :param buckets: how many buckets are kept (the window is their product).
    :param recent: how many recent requests are kept.
    :param secrets: values never to show (API keys, the gateway token).
    :param hedge_count: reads the router's total of hedged requests (counted per bucket
        from its growth).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        bucket_seconds: float = 10.0,
        buckets: int = 30,
        recent: int = 50,
        secrets: Iterable[str] = (),
        hedge_count: Any = None,
    ) -> None:
        if not bucket_seconds > 0:
            raise ValueError("bucket_seconds: must be a positive number of seconds")
        if buckets < 1 or recent < 1:
            raise ValueError("buckets and recent: must be at least 1")
        self.clock = clock
        self.bucket_seconds = float(bucket_seconds)
        self.max_buckets = buckets
        self._secrets = tuple(s for s in secrets if s)
        self._hedge_count = hedge_count
        self._hedges_seen = hedge_count() if hedge_count is not None else 0
        self._ring: deque[Bucket] = deque(maxlen=buckets)
        self._recent: deque[dict[str, Any]] = deque(maxlen=recent)
        self._pending: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._last_reason: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- feeding ------------------------------------------------------------------------------
    def observe_attempt(self, attempt: Attempt, request: LLMRequest) -> None:
        """A router observer: count the attempt and keep it (scrubbed) for the request's
        trail."""
        name = attempt.provider.value
        # only a failure's reason can hold a provider's words; the others are the SDK's own
        texts = _texts_of(request) if attempt.outcome is AttemptOutcome.FAILED else ()
        reason = self.scrub(attempt.reason, texts)
        entry = _trail_entry(attempt, reason)
        endpoint = entry["endpoint"]
        with self._lock:
            bucket = self._bucket()
            bucket.counts(bucket.providers, name).count(attempt.outcome, attempt.latency_ms)
            if endpoint is not None:
                bucket.counts(bucket.endpoints, endpoint).count(attempt.outcome, attempt.latency_ms)
            if attempt.outcome is AttemptOutcome.FAILED and reason:
                self._last_reason[name] = reason
            trail = self._pending.get(request.trace_id)
            if trail is None:
                trail = self._pending[request.trace_id] = []
                while len(self._pending) > MAX_PENDING:
                    self._pending.popitem(last=False)
            if len(trail) < MAX_TRAIL:
                trail.append(entry)

    def observe_response(self, response: LLMResponse) -> None:
        """An answer the gateway returned: count it and add it to the recent requests."""
        if response.stale:
            outcome = "stale"
        elif response.cached:
            outcome = "cached"
        elif not response.success:
            outcome = "stub"
        else:
            outcome = "ok"
        hedges = self._hedge_count() if self._hedge_count is not None else 0
        with self._lock:
            bucket = self._bucket()
            bucket.requests += 1
            bucket.cache_hits += outcome == "cached"
            bucket.stale += outcome == "stale"
            bucket.stub += outcome == "stub"
            bucket.cost_usd += max(response.cost_usd, 0.0)
            if hedges > self._hedges_seen:
                bucket.hedges += hedges - self._hedges_seen
                self._hedges_seen = hedges
            trail = self._pending.pop(response.trace_id, None)
            if trail is None:  # not seen by the observer (e.g. a cache hit): no request text
                trail = [
                    _trail_entry(a, self.scrub(a.reason, ())) for a in response.attempts[:MAX_TRAIL]
                ]
            self._recent.append(
                {
                    "time": round(self.clock.wall().timestamp(), 3),
                    "trace_id": response.trace_id,
                    "provider": response.provider.value,
                    "outcome": outcome,
                    "latency_ms": round(response.latency_ms, 3),
                    "cost_usd": response.cost_usd,
                    "trail": trail,
                }
            )

    def scrub(self, reason: str, texts: Iterable[str]) -> str:
        """``reason`` without secrets or quoted request text, on one bounded line."""
        if not reason:
            return ""
        for text in sorted(texts, key=len, reverse=True):
            if len(text) >= MIN_SCRUB_CHARS:
                reason = reason.replace(text, "[prompt]")
                reason = _unquote(reason, text[:SCRUB_SCAN_CHARS])
        return excerpt(redact(reason, self._secrets), MAX_REASON)

    # -- reading ------------------------------------------------------------------------------
    def snapshot(self, providers: Iterable[str] = ()) -> dict[str, Any]:
        """The recorded activity as JSON-ready data (see the dashboard module for the
        schema): window totals, a time series per provider and overall, recent requests.
        ``providers`` are always listed, even with nothing recorded yet."""
        with self._lock:
            current = self._index()
            wall = self.clock.wall().timestamp()
            now = self.clock.monotonic()
            first = current - self.max_buckets + 1
            by_index = {b.index: b for b in self._ring if b.index >= first}
            slots = [by_index.get(i) or Bucket(i) for i in range(first, current + 1)]
            names = list(dict.fromkeys([*providers, *(n for b in slots for n in b.providers)]))

            def start(index: int) -> float:
                return round(wall - (now - index * self.bucket_seconds), 3)

            per_provider: dict[str, Any] = {}
            for name in names:
                window = ProviderCounts()
                series = []
                for bucket in slots:
                    counts = bucket.providers.get(name) or ProviderCounts()
                    window.add(counts)
                    series.append({"t": start(bucket.index), **counts.to_dict()})
                per_provider[name] = {
                    "window": window.to_dict(),
                    "series": series,
                    "last_failure_reason": self._last_reason.get(name),
                }
            per_endpoint = {}
            for label in dict.fromkeys(n for b in slots for n in b.endpoints):
                window = ProviderCounts()
                for bucket in slots:
                    window.add(bucket.endpoints.get(label) or ProviderCounts())
                per_endpoint[label] = window.to_dict()
            totals = {
                "requests": sum(b.requests for b in slots),
                "cache_hits": sum(b.cache_hits for b in slots),
                "stale": sum(b.stale for b in slots),
                "stub": sum(b.stub for b in slots),
                "hedges": sum(b.hedges for b in slots),
                "cost_usd": round(sum(b.cost_usd for b in slots), 6),
            }
            series = [
                {
                    "t": start(b.index),
                    "requests": b.requests,
                    "cache_hits": b.cache_hits,
                    "stale": b.stale,
                    "stub": b.stub,
                    "hedges": b.hedges,
                    "cost_usd": round(b.cost_usd, 6),
                }
                for b in slots
            ]
            recent = [dict(r, trail=list(r["trail"])) for r in reversed(self._recent)]
        return {
            "window": {
                "bucket_seconds": self.bucket_seconds,
                "buckets": self.max_buckets,
                "seconds": self.bucket_seconds * self.max_buckets,
            },
            "totals": totals,
            "series": series,
            "providers": per_provider,
            "endpoints": per_endpoint,
            "recent": recent,
        }

    # -- helpers ------------------------------------------------------------------------------
    def _index(self) -> int:
        return math.floor(self.clock.monotonic() / self.bucket_seconds)

    def _bucket(self) -> Bucket:
        """The current bucket (caller holds the lock); the ring drops the oldest."""
        index = self._index()
        if not self._ring or self._ring[-1].index < index:
            self._ring.append(Bucket(index))
        return self._ring[-1]


def _texts_of(request: LLMRequest) -> list[str]:
    """Every piece of text the request carries (prompt, system, messages)."""
    texts = [request.prompt or "", request.system or ""]
    texts.extend(m.text for m in request.messages or ())
    return [t for t in texts if t]


def _unquote(reason: str, text: str) -> str:
    """``reason`` with every run of >= MIN_QUOTE_CHARS characters that also occurs in
    ``text`` replaced by ``[prompt]`` (longest runs, left to right)."""
    out: list[str] = []
    i = 0
    while i < len(reason):
        end = i + MIN_QUOTE_CHARS
        if end <= len(reason) and reason[i:end] in text:
            while end < len(reason) and reason[i : end + 1] in text:
                end += 1
            out.append("[prompt]")
            i = end
        else:
            out.append(reason[i])
            i += 1
    return "".join(out)


def _trail_entry(attempt: Attempt, reason: str) -> dict[str, Any]:
    """One attempt as the dashboard shows it. ``endpoint`` and ``error_type`` are read when
    the SDK's Attempt carries them (None otherwise)."""
    endpoint = getattr(attempt, "endpoint", None)
    error_type = getattr(attempt, "error_type", None)
    return {
        "provider": attempt.provider.value,
        "endpoint": endpoint if isinstance(endpoint, str) else None,
        "outcome": attempt.outcome.value,
        "reason": reason,
        "error_type": error_type if isinstance(error_type, str) else None,
        "latency_ms": round(attempt.latency_ms, 3),
        "status": attempt.status,
    }

"""Endpoints: one base URL of a provider, with its own adapter, breaker, bulkhead and load.

A provider may have several endpoints (``OLLAMA_BASE_URL=http://laptop:11434,
http://desktop:11434``); it is available while any of them is. Among the endpoints whose
breaker admits a call, :func:`choose` picks by "power of two choices" over a cost of
peak-EWMA latency times (outstanding requests + 1) — the approach of Finagle and Linkerd:
a slow or busy endpoint gets less traffic without any being starved, and a single
endpoint costs nothing extra.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .layers.breaker import ProviderCircuit
from .layers.bulkhead import Bulkhead
from .layers.cost import NO_HOLD, Hold
from .providers.base import ProviderAdapter
from .types import ProviderName

#: How fast the peak-EWMA forgets a slow spell (seconds).
DECAY_SECONDS = 10.0
#: The latency assumed for an endpoint never measured (or long quiet), so that its load
#: still counts: an idle unknown endpoint beats a busy one.
FLOOR_MS = 1.0


#: A failure's latency penalty never grows past this many times the attempt-timeout
#: penalty (D6: doubling without a bound reached infinity and never recovered).
MAX_PENALTY_FACTOR = 4.0


class Endpoint:
    """One base URL. ``probe_gate`` is held while a background health probe of this
    endpoint is in flight (at most one); ``next_probe_at`` (monotonic) rate-limits them."""

    __slots__ = (
        "provider",
        "adapter",
        "circuit",
        "bulkhead",
        "label",
        "_ewma_ms",
        "_stamp",
        "probe_gate",
        "next_probe_at",
        "last_probe_error",
    )

    def __init__(
        self,
        provider: ProviderName,
        adapter: ProviderAdapter,
        circuit: ProviderCircuit,
        bulkhead: Bulkhead,
        url: str,
    ) -> None:
        self.provider = provider
        self.adapter = adapter
        self.circuit = circuit
        self.bulkhead = bulkhead
        self.label = _label(url)
        self._ewma_ms = 0.0
        self._stamp = 0.0
        self.probe_gate = threading.Lock()
        self.next_probe_at = 0.0
        self.last_probe_error: str | None = None

    def observe(self, latency_ms: float, now: float) -> None:
        """Peak-EWMA: jump up to a slower observation at once, decay towards faster ones."""
        current = self.latency_ms(now)
        if latency_ms >= current:
            self._ewma_ms = latency_ms
        else:
            weight = math.exp(-(now - self._stamp) / DECAY_SECONDS)
            self._ewma_ms = self._ewma_ms * weight + latency_ms * (1.0 - weight)
        self._stamp = now

    def observe_failure(self, penalty_ms: float, now: float) -> None:
        """A failed call counts as a slow one (``penalty_ms``), never as a fast one: an
        endpoint that refuses at once must not look like the quickest. Bounded (D6) by
        ``MAX_PENALTY_FACTOR * penalty_ms``, so it stays finite and decays back."""
        grown = max(self.latency_ms(now) * 2.0, penalty_ms)
        self._ewma_ms = min(grown, penalty_ms * MAX_PENALTY_FACTOR)
        self._stamp = now

    def latency_ms(self, now: float) -> float:
        """The peak-EWMA as of ``now``: decayed at read time, so an endpoint that had one
        slow spell and then no traffic is tried again (Finagle's rule)."""
        if not self._ewma_ms:
            return 0.0
        return self._ewma_ms * math.exp(-(now - self._stamp) / DECAY_SECONDS)

    def cost(self, now: float) -> float:
        return max(self.latency_ms(now), FLOOR_MS) * (self.bulkhead.in_flight + 1)


def choose(endpoints: Sequence[Endpoint], rng: random.Random, now: float) -> list[Endpoint]:
    """The endpoints in the order to try them: the better of two random picks first."""
    if len(endpoints) == 1:
        return list(endpoints)
    first, second = rng.sample(list(endpoints), 2)
    best = first if first.cost(now) <= second.cost(now) else second
    return [best, *(e for e in endpoints if e is not best)]


def _label(url: str) -> str:
    """Scheme, host and port of a URL: no path, no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(slots=True)
class Admitted:
    """A provider call that passed the cost gate, an endpoint's breaker and its bulkhead:
    what it holds (breaker ticket, budget reservation, slot) is given back exactly once."""

    provider: ProviderName
    endpoint: Endpoint
    ticket: int
    begun: float = 0.0
    handle: Any = None
    hold: Hold = NO_HOLD  # the cost gate's reservation, settled or released once
    #: The attempt's time limit was cut short by the request's own ``timeout`` (F5): a
    #: timeout then is the caller's doing and is not counted against the breaker.
    caller_limited: bool = False

    def leave_when_done(self) -> None:
        """Free the bulkhead slot only when the call has really ended: a cancelled task
        ends at once, but a sync call already running in a thread cannot be interrupted
        and keeps its slot until it returns (so the limit holds)."""
        if self.handle is None:
            self.endpoint.bulkhead.leave()
        else:
            self.handle.add_done_callback(lambda _: self.endpoint.bulkhead.leave())

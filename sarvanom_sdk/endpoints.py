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
from collections.abc import Sequence
from urllib.parse import urlsplit

from .layers.breaker import ProviderCircuit
from .layers.bulkhead import Bulkhead
from .providers.base import ProviderAdapter
from .types import ProviderName

#: How fast the peak-EWMA forgets a slow spell (seconds).
DECAY_SECONDS = 10.0


class Endpoint:
    __slots__ = ("provider", "adapter", "circuit", "bulkhead", "label", "_ewma_ms", "_stamp")

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

    def observe(self, latency_ms: float, now: float) -> None:
        """Peak-EWMA: jump up to a slower observation at once, decay towards faster ones."""
        if latency_ms >= self._ewma_ms:
            self._ewma_ms = latency_ms
        else:
            weight = math.exp(-(now - self._stamp) / DECAY_SECONDS)
            self._ewma_ms = self._ewma_ms * weight + latency_ms * (1.0 - weight)
        self._stamp = now

    def cost(self) -> float:
        return self._ewma_ms * (self.bulkhead.in_flight + 1)

    @property
    def latency_ms(self) -> float:
        return self._ewma_ms


def choose(endpoints: Sequence[Endpoint], rng: random.Random) -> list[Endpoint]:
    """The endpoints in the order to try them: the better of two random picks first."""
    if len(endpoints) == 1:
        return list(endpoints)
    first, second = rng.sample(list(endpoints), 2)
    best = first if first.cost() <= second.cost() else second
    return [best, *(e for e in endpoints if e is not best)]


def _label(url: str) -> str:
    """Scheme, host and port of a URL: no path, no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"

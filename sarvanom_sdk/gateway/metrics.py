"""Prometheus metrics for the gateway, on a registry of its own (never the global one).

``prometheus-client`` is optional (the ``server`` extra): :func:`load_metrics` returns None
when it is missing, and ``/metrics`` then answers 501 with :data:`INSTALL_HINT`.

Series (``provider`` is a provider name, ``local_stub`` included):

=========================================== ======================================================
``sarvanom_provider_requests_total``        attempts made to a provider (answered or failed)
``sarvanom_provider_failures_total``        attempts that failed
``sarvanom_provider_skipped_total``         providers passed over (breaker open, paid disabled...)
``sarvanom_provider_latency_seconds``       histogram of attempt latency, by ``outcome`` (ok/failed)
``sarvanom_circuit_state``                  breaker state: 0 closed, 1 half-open, 2 open
``sarvanom_fallbacks_total``                answers no provider gave, by ``kind`` (stub, stale)
``sarvanom_cache_hits_total``               answers served fresh from the response cache
``sarvanom_cost_usd_total``                 money spent, by provider (paid providers only)
``sarvanom_gateway_requests_total``         HTTP requests, by ``endpoint`` (route) and ``status``
``sarvanom_gateway_request_duration_seconds`` histogram of HTTP request time, by ``endpoint``
``sarvanom_gateway_overhead_seconds``       histogram of the gateway's own time per answer,
                                            providers excluded, by ``endpoint``
``sarvanom_gateway_in_flight``              model calls in flight now
``sarvanom_gateway_waiting``                requests waiting for a slot now
``sarvanom_gateway_workers``                worker processes serving now
=========================================== ======================================================

Attempts come from the client's router observers; answers (fallbacks, cache hits, cost)
from the responses the gateway returns; breaker state is read when scraped.

**Several workers** (``sarvanom serve --workers N``, :mod:`.workers`): when
``PROMETHEUS_MULTIPROC_DIR`` is set (the supervisor sets it), the series live in
prometheus-client's per-process files and a scrape, whichever worker answers it, shows
every worker's: counters and histograms summed; ``in_flight``, ``waiting`` and
``workers`` summed over live workers (``livesum``); ``circuit_state`` the highest among
live workers (``livemax``: 2 when any worker's breaker is open; with Redis they agree).
Each worker refreshes its gauges every second (:func:`.workers.prepare_worker_app`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from ..types import Attempt, AttemptOutcome, LLMRequest, LLMResponse, ProviderHealth

INSTALL_HINT = "metrics need prometheus-client: pip install 'sarvanom-sdk[server]'"
CIRCUIT_STATES = {"closed": 0, "half-open": 1, "open": 2}
#: Seconds; LLM calls run from milliseconds (cache, stub) to tens of seconds.
LATENCY_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    15.0,
    30.0,
    60.0,
)

#: Seconds; the gateway's own share is sub-millisecond to milliseconds.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0)


class GatewayMetrics:
    """One gateway's metrics. ``observe_*`` are cheap and thread-safe; ``render`` returns
    the Prometheus text exposition."""

    def __init__(
        self, prometheus: ModuleType, providers: Iterable[str], multiprocess_dir: str | None = None
    ) -> None:
        p = prometheus
        self._prometheus = p
        self.registry = registry = p.CollectorRegistry()
        self.content_type: str = p.CONTENT_TYPE_LATEST
        #: the directory of prometheus-client's multiprocess mode, or None (one process)
        self.multiprocess_dir = multiprocess_dir

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return p.Counter(name, doc, labels, registry=registry)

        self._requests = counter(
            "sarvanom_provider_requests", "Attempts made to a provider.", ("provider",)
        )
        self._failures = counter(
            "sarvanom_provider_failures", "Provider attempts that failed.", ("provider",)
        )
        self._skipped = counter(
            "sarvanom_provider_skipped",
            "Providers passed over (breaker open, cost gate...).",
            ("provider",),
        )
        self._latency = p.Histogram(
            "sarvanom_provider_latency_seconds",
            "Provider attempt latency.",
            ("provider", "outcome"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._circuit = p.Gauge(
            "sarvanom_circuit_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ("provider",),
            registry=registry,
            multiprocess_mode="livemax",
        )
        self._fallbacks = counter(
            "sarvanom_fallbacks",
            "Answers no provider gave: the stub's or a stale cached one.",
            ("kind",),
        )
        self._cache_hits = counter("sarvanom_cache_hits", "Answers served from the cache.")
        self._hedges = counter(
            "sarvanom_hedges", "Requests hedged onto a second provider (see routing)."
        )
        self._hedges_seen = 0
        self._cost = counter(
            "sarvanom_cost_usd", "Money spent on paid providers (USD).", ("provider",)
        )
        self._http = counter(
            "sarvanom_gateway_requests", "HTTP requests to the gateway.", ("endpoint", "status")
        )
        self._http_seconds = p.Histogram(
            "sarvanom_gateway_request_duration_seconds",
            "HTTP request duration.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._overhead = p.Histogram(
            "sarvanom_gateway_overhead_seconds",
            "The gateway's own time per answer, provider attempts excluded.",
            ("endpoint",),
            buckets=OVERHEAD_BUCKETS,
            registry=registry,
        )
        self._in_flight = p.Gauge(
            "sarvanom_gateway_in_flight",
            "Model calls in flight.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._waiting = p.Gauge(
            "sarvanom_gateway_waiting",
            "Requests waiting for a slot.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._workers = p.Gauge(
            "sarvanom_gateway_workers",
            "Worker processes serving.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._workers.set(1)
        #: labelled children by (family, label values...): see :meth:`_child`
        self._children: dict[tuple[Any, ...], Any] = {}
        for name in providers:  # every provider's series exist from the start, at zero
            for family in (self._requests, self._failures, self._skipped, self._cost):
                family.labels(name)
        for kind in ("stub", "stale"):
            self._fallbacks.labels(kind)

    def _child(self, family: Any, *values: str) -> Any:
        """``family.labels(*values)``, remembered: prometheus-client looks a child up under
        its lock on every ``labels()`` call (issue 18). Label values here are bounded
        (providers, outcomes, route paths, statuses), so is this dict."""
        key = (family, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child

    def observe_attempt(self, attempt: Attempt, request: LLMRequest) -> None:
        """A router observer: one provider considered for one request."""
        name = attempt.provider.value
        if attempt.outcome is AttemptOutcome.SKIPPED:
            self._child(self._skipped, name).inc()
            return
        self._child(self._requests, name).inc()
        if attempt.outcome is AttemptOutcome.FAILED:
            self._child(self._failures, name).inc()
        self._child(self._latency, name, attempt.outcome.value).observe(attempt.latency_ms / 1000)

    def observe_response(self, response: LLMResponse) -> None:
        """An answer the gateway returned: fallbacks, cache hits, cost."""
        if response.stale:
            self._fallbacks.labels("stale").inc()
        elif response.cached:
            self._cache_hits.inc()
        elif not response.success:
            self._fallbacks.labels("stub").inc()
        if response.cost_usd > 0:
            self._cost.labels(response.provider.value).inc(response.cost_usd)

    def observe_http(self, endpoint: str, status: int, seconds: float) -> None:
        self._child(self._http, endpoint, str(status)).inc()
        self._child(self._http_seconds, endpoint).observe(seconds)

    def observe_overhead(self, endpoint: str, seconds: float) -> None:
        self._child(self._overhead, endpoint).observe(seconds)

    @property
    def multiprocess(self) -> bool:
        return self.multiprocess_dir is not None

    def refresh(
        self,
        health: Mapping[str, ProviderHealth],
        in_flight: int,
        waiting: int,
        hedges: int = 0,
    ) -> None:
        """Set the gauges (breaker states, in flight, waiting) and the router's hedge count
        from their values now."""
        if hedges > self._hedges_seen:
            self._hedges.inc(hedges - self._hedges_seen)
            self._hedges_seen = hedges
        for name, state in health.items():
            self._circuit.labels(name).set(CIRCUIT_STATES.get(state.circuit_state, 0))
        self._in_flight.set(in_flight)
        self._waiting.set(waiting)

    def render(
        self,
        health: Mapping[str, ProviderHealth],
        in_flight: int,
        waiting: int,
        hedges: int = 0,
    ) -> bytes:
        """The text exposition, with breaker states, gauges and the router's hedge count
        read now (with several workers: every worker's series, combined)."""
        self.refresh(health, in_flight, waiting, hedges)
        registry = self.registry
        if self.multiprocess_dir is not None:
            from prometheus_client import multiprocess

            registry = self._prometheus.CollectorRegistry()
            multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
                registry, path=self.multiprocess_dir
            )
        return self._prometheus.generate_latest(registry)  # type: ignore[no-any-return]


def load_metrics(providers: Iterable[str]) -> GatewayMetrics | None:
    """Metrics for one gateway, or None when prometheus-client is not installed."""
    try:
        import prometheus_client
    except ImportError:
        return None
    return GatewayMetrics(prometheus_client, providers, _multiprocess_dir(prometheus_client))


def _multiprocess_dir(prometheus: ModuleType) -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when prometheus-client writes its values there."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    value_class = getattr(getattr(prometheus, "values", None), "ValueClass", None)
    if not path or not getattr(value_class, "_multiprocess", False):
        return None
    return path

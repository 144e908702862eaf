"""Assembles one client's routing machinery from its settings, once, at construction:
chain, adapters, breakers, health registry, cost gate, retry policy, cache and the layer
stack order. Shared by both clients.

Where the breakers, the cache and the budget keep their state (this process, or Redis
shared by every worker) is decided by :func:`~sarvanom_sdk.shared_state.open_shared_state`
from ``SARVANOM_REDIS_URL``; building makes no network call either way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .chain import active_chain
from .clock import Clock, SystemClock
from .endpoints import Endpoint
from .errors import AllProvidersFailed, ProviderError, error_for_status, redact
from .health import HealthRegistry
from .http import HttpReply
from .layers.breaker import CircuitView, ProviderCircuit
from .layers.bulkhead import Bulkhead
from .layers.cache import CacheLayer, ResponseCache
from .layers.cost import CostGate
from .layers.retry import RetryPolicy
from .router import Router
from .settings import Settings
from .shared_state import LocalState, StateBackend, open_shared_state
from .stack import Layer
from .telemetry import Tracing
from .types import (
    EndpointHealth,
    HealthStatus,
    LLMRequest,
    LLMResponse,
    ProviderHealth,
    ProviderName,
)

STUB = ProviderName.LOCAL_STUB
PROBE_TIMEOUT = 3.0
#: A shared half-open trial lock (Redis) expires this long after a whole call's deadline,
#: in case the process holding it dies mid-trial.
TRIAL_LOCK_MARGIN_SECONDS = 5.0


@dataclass
class Core:
    settings: Settings
    router: Router
    layers: tuple[Layer, ...]
    endpoints: dict[ProviderName, list[Endpoint]] = field(default_factory=dict)
    shared: StateBackend = field(default_factory=LocalState)
    #: OpenTelemetry spans (:mod:`telemetry`), or None when tracing is off.
    tracing: Tracing | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        layers: Sequence[Layer] = (),
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        tracer_provider: Any = None,
    ) -> Core:
        from .providers import adapter_for
        from .telemetry import tracing_for

        clock = clock or SystemClock()
        shared = open_shared_state(settings)
        chain = active_chain(settings)
        real = [p for p in chain if p is not STUB]
        endpoints = {p: _endpoints_of(p, settings, clock, adapter_for, shared) for p in real}
        cache = ResponseCache(
            ttl=settings.cache_ttl_seconds,
            stale_seconds=settings.cache_stale_seconds,
            maxsize=settings.cache_maxsize,
            clock=clock,
            shared=shared.cache_level(settings.cache_ttl_seconds + settings.cache_stale_seconds),
        )
        router = Router(
            settings=settings,
            chain=chain,
            endpoints=endpoints,
            health=HealthRegistry(real, clock),
            gate=CostGate(settings.enable_paid_api, shared.ledger(settings.budget_usd)),
            retry=retry or RetryPolicy(settings.max_retries),
            cache=cache,
            clock=clock,
        )
        stack: tuple[Layer, ...] = (*layers, CacheLayer(cache, router.cache_key, STUB))
        tracing = tracing_for(
            {p: router.adapters[p].default_model for p in router.chain}, tracer_provider
        )
        if tracing is not None:
            stack = (tracing.layer(), *stack)
            router.observers.append(tracing.on_attempt)
        return cls(settings, router, stack, endpoints, shared, tracing)

    # -- requests -----------------------------------------------------------------------
    probe_timeout = PROBE_TIMEOUT

    def finish(self, request: LLMRequest, response: LLMResponse) -> LLMResponse:
        """Strict mode: raise instead of returning the stub's answer."""
        if (
            response.provider is STUB
            and not self.settings.fallback_to_stub
            and request.provider is not STUB
        ):
            raise AllProvidersFailed(response.attempts[:-1], request.trace_id)
        return response

    # -- health -------------------------------------------------------------------------
    def health(self) -> dict[str, ProviderHealth]:
        snapshot = self.router.health.snapshot(self.circuit_views())
        now = self.router.clock.monotonic()
        return {
            name: replace(
                health,
                endpoints=tuple(_endpoint_health(e, now) for e in self.endpoints[health.provider]),
            )
            for name, health in snapshot.items()
        }

    def circuit_views(self) -> dict[ProviderName, CircuitView]:
        """Each provider's breaker state: open only while every endpoint's breaker is."""
        return {p: _provider_view(e) for p, e in self.endpoints.items()}

    def available_providers(self) -> list[str]:
        """Providers a request may reach now (breaker not open), the stub last."""
        names = [p.value for p, v in self.circuit_views().items() if v.state != "open"]
        return [*names, STUB.value]

    def health_report(self, now: datetime) -> dict[str, Any]:
        """The seed's health JSON, plus ``shared_state``: where breakers, cache and budget
        live and whether Redis answers (see :meth:`StateBackend.describe`)."""
        available = self.available_providers()
        providers = self.health()
        answering = [
            name
            for name in available
            if name in providers and providers[name].status is not HealthStatus.UNHEALTHY
        ]
        return {
            # healthy: some real provider may answer now (its breaker is not open and its
            # last call, if any, succeeded); degraded: only the stub is left
            "status": "healthy" if answering else "degraded",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "gpu_providers": {
                "providers": {name: h.to_dict() for name, h in providers.items()},
                "available_providers": available,
            },
            "shared_state": self.shared.describe(),
        }

    def probe_targets(self) -> list[tuple[Endpoint, Any]]:
        """(endpoint, its health call) for every endpoint that has one; give each result
        to :meth:`record_probe` with its endpoint."""
        return [
            (endpoint, call)
            for endpoints in self.endpoints.values()
            for endpoint in endpoints
            if (call := endpoint.adapter.health_call()) is not None
        ]

    def record_probe(
        self,
        target: Endpoint | ProviderName,
        reply: HttpReply | None,
        error: ProviderError | None,
        latency_ms: float,
    ) -> None:
        """Record a probe of ``target`` (an endpoint from :meth:`probe_targets`, or a whole
        provider): the endpoint keeps its own result, and the provider's reason names the
        endpoint when it has several (D7)."""
        endpoint = target if isinstance(target, Endpoint) else None
        provider = endpoint.provider if endpoint is not None else target
        assert isinstance(provider, ProviderName)
        if reply is not None and not 200 <= reply.status < 300:
            body = redact(reply.text(), self.settings.secrets())
            error = error_for_status(reply.status, body, provider=provider.value)
        reason = None if error is None else error.reason
        if endpoint is not None:
            endpoint.last_probe_error = reason
            if reason is not None and len(self.endpoints[provider]) > 1:
                reason = f"{endpoint.label}: {reason}"
        self.router.health.record_probe(provider, error is None, latency_ms, reason)


def _endpoints_of(
    provider: ProviderName,
    settings: Settings,
    clock: Clock,
    adapter_for: Any,
    shared: StateBackend,
    kind: str = "",
) -> list[Endpoint]:
    """One endpoint per base URL of ``provider``, each with its own adapter, breaker (its
    state where ``shared`` keeps it) and bulkhead. ``kind`` names another kind of call
    (``"embed"``) whose breakers are its own."""
    trial_ttl = max(settings.attempt_timeout, settings.total_timeout) + TRIAL_LOCK_MARGIN_SECONDS
    urls = settings.endpoint_urls(provider) or ("",)
    url_field = {
        ProviderName.OLLAMA_LOCAL: "ollama_base_url",
        ProviderName.REMOTE_GPU: "gpu_remote_url",
    }.get(provider)
    out = []
    for index, url in enumerate(urls):
        own = settings.replace(**{url_field: url}) if url_field and len(urls) > 1 else settings
        key = f"{provider.value}/{kind}" if kind else provider.value
        name = key if len(urls) == 1 else f"{key}#{index}"
        circuit = ProviderCircuit(
            name,
            fail_max=settings.circuit_fail_max,
            reset_seconds=settings.circuit_reset_seconds,
            clock=clock,
            storage=shared.circuit_storage(key, url),
            trial_gate=shared.trial_gate(key, url, trial_ttl),
        )
        bulkhead = Bulkhead(settings.concurrency_limit(provider))
        out.append(Endpoint(provider, adapter_for(provider, own), circuit, bulkhead, url))
    return out


def _endpoint_health(endpoint: Endpoint, now: float) -> EndpointHealth:
    view = endpoint.circuit.view()
    return EndpointHealth(
        url=endpoint.label,
        circuit_state=view.state,
        consecutive_failures=view.consecutive_failures,
        circuit_open_until=view.open_until if view.state == "open" else None,
        in_flight=endpoint.bulkhead.in_flight,
        latency_ms=endpoint.latency_ms(now),
        last_error=endpoint.last_probe_error,
    )


def _provider_view(endpoints: list[Endpoint]) -> CircuitView:
    views = [e.circuit.view() for e in endpoints]
    usable = [v for v in views if v.state != "open"]
    if usable:
        return min(usable, key=lambda v: v.consecutive_failures)
    until = min((v.open_until for v in views if v.open_until), default=None)
    return CircuitView("open", min(v.consecutive_failures for v in views), until)

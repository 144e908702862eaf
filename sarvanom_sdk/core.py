"""Assembles one client's routing machinery from its settings, once, at construction:
chain, adapters, breakers, health registry, cost gate, retry policy, cache and the layer
stack order. Shared by both clients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .chain import active_chain
from .clock import Clock, SystemClock
from .errors import AllProvidersFailed, ProviderError, error_for_status
from .health import HealthRegistry
from .http import HttpReply
from .layers.breaker import ProviderCircuit
from .layers.cache import CacheLayer, ResponseCache
from .layers.cost import BudgetLedger, CostGate
from .layers.retry import RetryPolicy
from .providers.base import ProviderAdapter
from .router import Router
from .settings import Settings
from .stack import Layer
from .types import LLMRequest, LLMResponse, ProviderHealth, ProviderName

STUB = ProviderName.LOCAL_STUB
PROBE_TIMEOUT = 3.0


@dataclass
class Core:
    settings: Settings
    router: Router
    layers: tuple[Layer, ...]
    circuits: dict[ProviderName, ProviderCircuit] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        layers: Sequence[Layer] = (),
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> Core:
        from .providers import adapter_for

        clock = clock or SystemClock()
        chain = active_chain(settings)
        real = [p for p in chain if p is not STUB]
        adapters: dict[ProviderName, ProviderAdapter] = {
            p: adapter_for(p, settings) for p in real
        }
        circuits = {
            p: ProviderCircuit(
                p.value,
                fail_max=settings.circuit_fail_max,
                reset_seconds=settings.circuit_reset_seconds,
                clock=clock,
            )
            for p in real
        }
        cache = ResponseCache(
            ttl=settings.cache_ttl_seconds,
            stale_seconds=settings.cache_stale_seconds,
            maxsize=settings.cache_maxsize,
            clock=clock,
        )
        router = Router(
            settings=settings,
            chain=chain,
            adapters=adapters,
            circuits=circuits,
            health=HealthRegistry(real, clock),
            gate=CostGate(settings.enable_paid_api, BudgetLedger(settings.budget_usd)),
            retry=retry or RetryPolicy(settings.max_retries),
            cache=cache,
            clock=clock,
        )
        stack = (*layers, CacheLayer(cache, router.cache_key, STUB))
        return cls(settings, router, stack, circuits)

    # -- requests -----------------------------------------------------------------------
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
        views = {p: c.view() for p, c in self.circuits.items()}
        return self.router.health.snapshot(views)

    def available_providers(self) -> list[str]:
        """Providers a request may reach now (breaker not open), the stub last."""
        names = [p.value for p, c in self.circuits.items() if c.view().state != "open"]
        return [*names, STUB.value]

    def health_report(self, now: datetime) -> dict[str, Any]:
        """The seed's health JSON."""
        available = self.available_providers()
        return {
            "status": "healthy" if len(available) > 1 else "degraded",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "gpu_providers": {
                "providers": {name: h.to_dict() for name, h in self.health().items()},
                "available_providers": available,
            },
        }

    def probe_targets(self) -> list[tuple[ProviderName, Any]]:
        return [
            (p, call)
            for p, adapter in self.router.adapters.items()
            if (call := adapter.health_call()) is not None
        ]

    def record_probe(
        self, provider: ProviderName, reply: HttpReply | None, error: ProviderError | None,
        latency_ms: float,
    ) -> None:
        if reply is not None and not 200 <= reply.status < 300:
            error = error_for_status(reply.status, reply.text(), provider=provider.value)
        self.router.health.record_probe(provider, error is None, latency_ms,
                                        None if error is None else error.reason)
